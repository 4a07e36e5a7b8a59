"""Credentials: passwords, re-authentication, TOTP, email change, signing keys and service
tokens, API keys."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import mail, store
from missiva_identity.core import (
    Caller,
    IdentityCore,
    new_id,
    timestamp,
)
from missiva_identity.domain import (
    RECOVERY_CODES,
    SERVICE_SCOPES,
    new_api_key,
    new_recovery_code,
    new_token,
    page_size,
    password_problem,
    scopes_within,
    service_audience,
    totp_matching_step,
    valid_email,
    valid_name,
    valid_scopes,
)
from missiva_identity.rpc_base import (
    API_KEY_INVALID,
    EMAIL_CHANGE_TTL,
    EMAILS_PER_HOUR,
    RESET_TTL,
    TOKEN_INVALID,
    TOTP_ENROL_TTL,
    RpcBase,
    api_key_pb,
    audit_entry,
    client_fields,
    profile_pb,
    required,
    valid_id,
)
from missiva_platform.auth import (
    CallerKind,
    current_tenant,
)
from missiva_platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from missiva_platform.idempotency import run_once


class CredentialRpcs(RpcBase):
    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Any
    ) -> pb.RequestPasswordResetResponse:
        email = valid_email("email", request.email)
        client = self.core.client(request.client, context)
        async with self.core.pool.connection() as conn, conn.transaction():
            user = await store.user_by_email(conn, email)
            if (
                user is not None
                and user.status == "active"
                and await store.recent_email_tokens(
                    conn, user.id, "reset_password", timedelta(hours=1)
                )
                < EMAILS_PER_HOUR
            ):
                await store.void_email_tokens(conn, user.id, "reset_password")
                token = new_token("mpr")
                await store.create_email_token(
                    conn,
                    self.vault.token_hash(token),
                    "reset_password",
                    user_id=user.id,
                    account_id=user.account_id,
                    ttl=RESET_TTL,
                )
                await self.core.notify(
                    conn,
                    user,
                    "reset_password",
                    {
                        "reset_url": mail.link(
                            self.settings.public_base_url, "/reset-password", token
                        ),
                        "expires_in_minutes": "60",
                    },
                )
                await store.audit(
                    conn,
                    store.AuditEntry(
                        "password.reset_requested",
                        account_id=user.account_id,
                        target=user.id,
                        **client_fields(client),
                    ),
                )
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: Any
    ) -> pb.ResetPasswordResponse:
        token = required("token", request.token)
        problem = password_problem(request.new_password)
        if problem:
            raise InvalidArgument.field("new_password", problem)
        await self._refuse_breached("new_password", request.new_password)
        client = self.core.client(request.client, context)
        password_hash = await self.core.hashing.hash(request.new_password)
        async with self.core.pool.connection() as conn, conn.transaction():
            spent = await store.spend_email_token(
                conn, self.vault.token_hash(token), "reset_password"
            )
            user = await store.user_by_id(conn, spent["user_id"]) if spent else None
            if user is None:
                raise InvalidArgument.field("token", TOKEN_INVALID)
            await store.set_password(conn, user.id, password_hash)
            # The link reached the address, which proves it as well as a verification would.
            await store.mark_verified(conn, user.id)
            revoked = await store.revoke_user_sessions(conn, user.id, "password_reset")
            await store.audit(
                conn,
                store.AuditEntry(
                    "password.reset",
                    account_id=user.account_id,
                    actor_user_id=user.id,
                    target=user.id,
                    details={"sessions_revoked": str(revoked)},
                    **client_fields(client),
                ),
            )
            await self.core.notify(conn, user, "password_changed")
        return pb.ResetPasswordResponse()

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Any
    ) -> pb.ChangePasswordResponse:
        required("current_password", request.current_password)
        problem = password_problem(request.new_password)
        if problem:
            raise InvalidArgument.field("new_password", problem)
        await self._refuse_breached("new_password", request.new_password)
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                caller = await self.core.caller(conn, context)
                ok = await self._check_password(conn, caller, request.current_password)
            if not ok:
                raise InvalidArgument.field("current_password", "is incorrect")
            password_hash = await self.core.hashing.hash(request.new_password)
            async with conn.transaction():
                await store.set_password(conn, caller.user.id, password_hash)
                await store.mark_reauthenticated(conn, caller.session_id)
                revoked = await store.revoke_user_sessions(
                    conn, caller.user.id, "password_changed", keep=caller.session_id
                )
                await store.audit(
                    conn,
                    audit_entry(
                        "password.changed",
                        caller,
                        target=caller.user.id,
                        details={"sessions_revoked": str(revoked)},
                    ),
                )
                await self.core.notify(conn, caller.user, "password_changed")
        return pb.ChangePasswordResponse()

    async def Reauthenticate(
        self, request: pb.ReauthenticateRequest, context: Any
    ) -> pb.ReauthenticateResponse:
        kind = request.WhichOneof("proof")
        if kind is None:
            raise InvalidArgument.field("proof", "give a password or a totp_code")
        proof = required(kind, getattr(request, kind))
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                caller = await self.core.caller(conn, context)
                caller = Caller(
                    caller.user, caller.session, self.core.client(request.client, context)
                )
                if kind == "password":
                    ok = await self._check_password(conn, caller, proof)
                else:
                    ok = await self.core.second_factor_ok(conn, caller.user, "totp_code", proof)
            if not ok:
                raise InvalidArgument.field(kind, "is incorrect")
            async with conn.transaction():
                auth_time = await store.mark_reauthenticated(conn, caller.session_id)
                await store.audit(
                    conn, audit_entry("reauthentication.succeeded", caller, target=caller.user.id)
                )
        valid_until = auth_time + timedelta(seconds=self.settings.reauth_window_seconds)
        return pb.ReauthenticateResponse(valid_until=timestamp(valid_until))

    async def EnrollTotp(
        self, request: pb.EnrollTotpRequest, context: Any
    ) -> pb.EnrollTotpResponse:
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            self.core.require_recent_auth(caller, await store.db_now(conn))
            if caller.user.mfa_enabled:
                raise FailedPrecondition("TOTP is already enabled; disable it first")
            secret = pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends
            expires = await store.set_pending_totp(
                conn,
                caller.user.id,
                self.core.seal_totp_secret(caller.user.id, secret),
                TOTP_ENROL_TTL,
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=caller.user.email, issuer_name="Missiva")
        return pb.EnrollTotpResponse(
            secret=secret, provisioning_uri=uri, expires_at=timestamp(expires)
        )

    async def ConfirmTotp(
        self, request: pb.ConfirmTotpRequest, context: Any
    ) -> pb.ConfirmTotpResponse:
        code = required("totp_code", request.totp_code)
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            now = await store.db_now(conn)
            self.core.require_recent_auth(caller, now)
            user = caller.user
            if user.mfa_enabled:
                raise FailedPrecondition("TOTP is already enabled")
            if (
                user.totp_pending_secret is None
                or user.totp_pending_expires_at is None
                or user.totp_pending_expires_at < now
            ):
                raise FailedPrecondition("no TOTP enrolment in progress; call EnrollTotp first")
            secret = self.core.totp_secret(user.id, user.totp_pending_secret)
            step = totp_matching_step(secret, code, now.timestamp())
            if step is None:
                raise InvalidArgument.field("totp_code", "is not valid")
            await store.enable_totp(conn, user.id, step)
            codes = await self._new_recovery_codes(conn, user.id)
            await store.audit(conn, audit_entry("mfa.enabled", caller, target=user.id))
            await self.core.notify(conn, user, "mfa_enabled")
        return pb.ConfirmTotpResponse(recovery_codes=codes)

    async def DisableTotp(
        self, request: pb.DisableTotpRequest, context: Any
    ) -> pb.DisableTotpResponse:
        required("password", request.password)
        code = required("totp_code", request.totp_code)
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                caller = await self.core.caller(conn, context)
                if not caller.user.mfa_enabled:
                    raise FailedPrecondition("TOTP is not enabled")
                password_ok = await self._check_password(conn, caller, request.password)
                code_ok = password_ok and await self.core.second_factor_ok(
                    conn, caller.user, "totp_code", code
                )
            if not password_ok:
                raise InvalidArgument.field("password", "is incorrect")
            if not code_ok:
                raise InvalidArgument.field("totp_code", "is not valid")
            async with conn.transaction():
                await store.disable_totp(conn, caller.user.id)
                await store.mark_reauthenticated(conn, caller.session_id)
                await store.audit(conn, audit_entry("mfa.disabled", caller, target=caller.user.id))
                await self.core.notify(conn, caller.user, "mfa_disabled")
        return pb.DisableTotpResponse()

    async def RegenerateRecoveryCodes(
        self, request: pb.RegenerateRecoveryCodesRequest, context: Any
    ) -> pb.RegenerateRecoveryCodesResponse:
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            # Locked: a concurrent regeneration or DisableTotp waits, so the user ends with
            # exactly one set of codes, and none once TOTP is off.
            user = await store.user_by_id(conn, caller.user.id, lock=True)
            if user is None or not user.mfa_enabled:
                raise FailedPrecondition(
                    "TOTP is not enabled: recovery codes come with TOTP; enrol it first",
                    [("MFA_NOT_ENABLED", "mfa", "call EnrollTotp, then ConfirmTotp")],
                )
            self.core.require_recent_auth(caller, await store.db_now(conn))
            codes = await self._new_recovery_codes(conn, user.id)
            await store.audit(
                conn,
                audit_entry(
                    "mfa.recovery_codes_regenerated",
                    caller,
                    target=user.id,
                    details={"codes": str(len(codes))},
                ),
            )
            await self.core.notify(conn, user, "recovery_codes_regenerated")
        return pb.RegenerateRecoveryCodesResponse(recovery_codes=codes)

    async def _new_recovery_codes(self, conn: Any, user_id: str) -> list[str]:
        """Replace every recovery code of the user (used or not) with new ones, stored as
        keyed hashes; the codes in clear are returned to be shown once."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        await store.replace_recovery_codes(conn, user_id, [self.vault.token_hash(c) for c in codes])
        return codes

    async def RequestEmailChange(
        self, request: pb.RequestEmailChangeRequest, context: Any
    ) -> pb.RequestEmailChangeResponse:
        email = valid_email("new_email", request.new_email)
        address = request.new_email.strip()
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            self.core.require_recent_auth(caller, await store.db_now(conn))
            token = new_token("mec")
            expires = await store.create_email_token(
                conn,
                self.vault.token_hash(token),
                "change_email",
                user_id=caller.user.id,
                account_id=caller.user.account_id,
                ttl=EMAIL_CHANGE_TTL,
                new_email=address,
            )
            # A taken address gets no link (and no hint here): the change could not finish.
            if not await store.email_taken(conn, email):
                await mail.send_email(
                    conn,
                    template="confirm_email_change",
                    to=address,
                    name=caller.user.display_name,
                    locale=caller.user.locale,
                    person_key=self.vault.person_key(email),
                    tenant_id=caller.user.account_id,
                    variables={
                        "confirm_url": mail.link(
                            self.settings.public_base_url, "/confirm-email-change", token
                        ),
                        "expires_in_hours": "24",
                    },
                )
            await self.core.notify(conn, caller.user, "email_change_requested")
            await store.audit(
                conn, audit_entry("email.change_requested", caller, target=caller.user.id)
            )
        return pb.RequestEmailChangeResponse(expires_at=timestamp(expires))

    async def ConfirmEmailChange(
        self, request: pb.ConfirmEmailChangeRequest, context: Any
    ) -> pb.ConfirmEmailChangeResponse:
        token = required("token", request.token)
        async with self.core.pool.connection() as conn, conn.transaction():
            spent = await store.spend_email_token(
                conn, self.vault.token_hash(token), "change_email"
            )
            user = await store.user_by_id(conn, spent["user_id"]) if spent else None
            if spent is None or user is None or not spent["new_email"]:
                raise InvalidArgument.field("token", TOKEN_INVALID)
            normalised = valid_email("email", spent["new_email"])
            if await store.email_taken(conn, normalised):
                raise FailedPrecondition("the new address is no longer available")
            old = user
            new_key = self.vault.person_key(normalised)
            await store.change_email(conn, user.id, spent["new_email"], normalised, new_key)
            if new_key != old.person_key:
                # Consent links the two keys (the user's consent history stays theirs); in
                # the outbox with the change, so it is announced exactly when it commits.
                await mail.publish(
                    conn,
                    mail.user_email_changed(
                        user_id=user.id,
                        account_id=user.account_id,
                        # An address never verified was never proven theirs: consent must
                        # not count its history as this user's.
                        old_person_key=old.person_key if old.verified else "",
                        new_person_key=new_key,
                        changed_at=await store.db_now(conn),
                    ),
                )
            await self.core.notify(conn, old, "email_changed")
            await store.audit(
                conn,
                store.AuditEntry(
                    "email.changed",
                    account_id=user.account_id,
                    actor_user_id=user.id,
                    target=user.id,
                ),
            )
            user = await store.user_by_id(conn, user.id)
            assert user is not None
        return pb.ConfirmEmailChangeResponse(profile=profile_pb(user))

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        jwks = await self.core.keys.jwks()
        return pb.GetJwksResponse(
            jwks_json=json.dumps(jwks, sort_keys=True),
            keys=[
                pb.Jwk(
                    kty=k.get("kty", ""),
                    crv=k.get("crv", ""),
                    kid=k.get("kid", ""),
                    x=k.get("x", ""),
                    alg="Ed25519",
                    use=k.get("use", "sig"),
                )
                for k in jwks["keys"]
            ],
        )

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: Any
    ) -> pb.IssueServiceTokenResponse:
        client_id = required("client_id", request.client_id)
        secret = required("client_secret", request.client_secret)
        service = None
        for name, credential in self.vault.service_credentials.items():
            id_ok = hmac.compare_digest(credential.client_id.encode(), client_id.encode())
            secret_ok = hmac.compare_digest(credential.client_secret.encode(), secret.encode())
            if id_ok and secret_ok:
                service = name
        if service is None:
            raise Unauthenticated("invalid client credentials")
        audience = service_audience("audience", request.audience)
        scopes = valid_scopes("scopes", request.scopes) if request.scopes else []
        refused = sorted(set(scopes) - SERVICE_SCOPES.get(service, frozenset()))
        if refused:
            raise PermissionDenied(f"service {service} may not ask for {', '.join(refused)}")
        if len(request.tenant_id) > 64:
            raise InvalidArgument.field("tenant_id", "is too long")
        token, expires = await self.core.keys.sign(
            {
                "sub": service,
                "tid": request.tenant_id,
                "typ": str(CallerKind.SERVICE),
                "roles": [],
                "scope": " ".join(scopes),
                "mfa": False,
                "svc_aud": audience,
            },
            self.settings.service_token_ttl_seconds,
        )
        return pb.IssueServiceTokenResponse(access_token=token, expires_at=timestamp(expires))

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Any
    ) -> pb.CreateApiKeyResponse:
        name = valid_name("name", request.name, required=True)
        scopes = valid_scopes("scopes", request.scopes)
        expires_at = None
        if request.HasField("expires_at"):
            expires_at = request.expires_at.ToDatetime(tzinfo=UTC)
            if expires_at <= datetime.now(UTC):
                raise InvalidArgument.field("expires_at", "must be in the future")
        tenant = current_tenant()
        async with self.core.pool.connection() as conn:
            caller = await self._admin(conn, context)
        if not caller.user.verified:
            raise FailedPrecondition(
                "verify your email address before creating API keys",
                [("EMAIL_NOT_VERIFIED", "email", "use the link sent at sign-up")],
            )
        created: dict[str, str] = {}

        async def work(conn: Any) -> pb.CreateApiKeyResponse:
            response, secret = await create_api_key(
                conn,
                self.core,
                account_id=tenant,
                created_by=caller.user.id,
                name=name,
                scopes=scopes,
                expires_at=expires_at,
                keep_for_replay=bool(request.idempotency_key),
                audit=audit_entry("api_key.created", caller),
            )
            created["secret"] = secret
            # The stored answer (kept for retries) never holds the secret in clear.
            return pb.CreateApiKeyResponse(api_key=response.api_key)

        response = await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateApiKey",
            request=request,
            response_type=pb.CreateApiKeyResponse,
            work=work,
        )
        secret = created.get("secret")
        if secret is None:  # a retry: the secret comes from its encrypted replay copy
            async with self.core.pool.connection() as conn:
                secret = await replay_secret(conn, self.core, tenant, response.api_key.api_key_id)
        return pb.CreateApiKeyResponse(api_key=response.api_key, secret=secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Any
    ) -> pb.ListApiKeysResponse:
        limit = page_size(request.page_size)
        tenant = current_tenant()
        bound = (tenant, request.show_revoked)
        after = self.core.page_after(request.page_token, "ListApiKeys", bound)
        async with self.core.pool.connection() as conn:
            await self._admin(conn, context)
            rows = await store.list_api_keys(
                conn, tenant, show_revoked=request.show_revoked, limit=limit + 1, after=after
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return pb.ListApiKeysResponse(
            api_keys=[api_key_pb(r) for r in rows],
            next_page_token=(
                self.core.next_page("ListApiKeys", rows[-1]["created_at"], rows[-1]["id"], bound)
                if more
                else ""
            ),
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Any
    ) -> pb.RevokeApiKeyResponse:
        key_id = valid_id("api_key_id", request.api_key_id)
        tenant = current_tenant()
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self._admin(conn, context)
            before = await store.api_key_in_account(conn, tenant, key_id)
            if before is None:
                raise NotFound("API key not found")
            row = await store.revoke_api_key(conn, tenant, key_id)
            assert row is not None
            if before["revoked_at"] is None:
                await store.audit(conn, audit_entry("api_key.revoked", caller, target=key_id))
        return pb.RevokeApiKeyResponse(api_key=api_key_pb(row))

    async def ExchangeApiKey(
        self, request: pb.ExchangeApiKeyRequest, context: Any
    ) -> pb.ExchangeApiKeyResponse:
        secret = required("secret", request.secret)
        if not secret.startswith("mk_"):
            raise Unauthenticated(API_KEY_INVALID)
        async with self.core.pool.connection() as conn, conn.transaction():
            key = await store.api_key_by_secret(conn, self.vault.token_hash(secret))
            if key is None or key["revoked_at"] is not None or key["expired"]:
                raise Unauthenticated(API_KEY_INVALID)
            if key["account_status"] not in ("active", "pending_verification"):
                raise PermissionDenied("the key's account is not active")
            granted = list(key["scopes"])
            if request.scopes:
                wanted = valid_scopes("scopes", request.scopes)
                if not scopes_within(wanted, granted):
                    raise PermissionDenied("the key does not grant every scope asked for")
                granted = wanted
            await store.touch_api_key(conn, key["id"])
        token, expires = await self.core.keys.sign(
            {
                "sub": key["id"],
                "tid": key["account_id"],
                "typ": str(CallerKind.API_KEY),
                "roles": [],
                "scope": " ".join(granted),
                "mfa": False,
                "email_verified": key["account_status"] == "active",
            },
            self.settings.access_token_ttl_seconds,
        )
        return pb.ExchangeApiKeyResponse(
            access_token=token, expires_at=timestamp(expires), scopes=granted
        )


async def create_api_key(
    conn: Any,
    core: IdentityCore,
    *,
    account_id: str,
    created_by: str | None,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    keep_for_replay: bool = False,
    audit: store.AuditEntry | None = None,
) -> tuple[pb.CreateApiKeyResponse, str]:
    """Create a key (also used by the ``create-api-key`` command); returns it and its secret."""
    prefix, secret = new_api_key()
    key_id = new_id()
    row = await store.create_api_key(
        conn,
        key_id=key_id,
        account_id=account_id,
        name=name,
        prefix=prefix,
        secret_hash=core.vault.token_hash(secret),
        scopes=scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    if keep_for_replay:
        await conn.execute(
            "UPDATE api_keys SET replay_secret = %s WHERE id = %s",
            (core.vault.field_cipher.encrypt(secret, f"api-key:{key_id}"), key_id),
        )
    entry = audit or store.AuditEntry("api_key.created", account_id=account_id)
    await store.audit(
        conn,
        store.AuditEntry(
            entry.action,
            account_id=account_id,
            actor_user_id=entry.actor_user_id,
            target=key_id,
            ip_pseudonym=entry.ip_pseudonym,
            user_agent=entry.user_agent,
            details={"name": name, "scopes": " ".join(scopes), "prefix": prefix},
        ),
    )
    return pb.CreateApiKeyResponse(api_key=api_key_pb(row), secret=secret), secret


async def replay_secret(conn: Any, core: IdentityCore, account_id: str, key_id: str) -> str:
    cur = await conn.execute(
        "SELECT replay_secret FROM api_keys WHERE id = %s AND account_id = %s",
        (key_id, account_id),
    )
    row = await cur.fetchone()
    if row is None or row[0] is None:
        raise FailedPrecondition("this key's secret can no longer be shown; create a new key")
    return core.vault.field_cipher.decrypt(bytes(row[0]), f"api-key:{key_id}").decode()
