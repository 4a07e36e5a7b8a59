"""Sign-up, email verification, sign-in (password, second factor, legal acceptance,
OpenID Connect) and sessions."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import httpx

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import mail, store
from missiva_identity.core import (
    CHALLENGE_MAX_ATTEMPTS,
    Client,
    new_id,
    timestamp,
)
from missiva_identity.domain import (
    PASSWORD_MAX_BYTES,
    new_token,
    page_size,
    password_problem,
    valid_acceptances,
    valid_email,
    valid_locale,
    valid_name,
)
from missiva_identity.oidc import OidcError
from missiva_identity.rpc_base import (
    CHALLENGE_EXPIRED,
    EMAILS_PER_HOUR,
    LOGIN_FAILED,
    OIDC_TTL,
    REFRESH_INVALID,
    TOKEN_INVALID,
    RpcBase,
    audit_entry,
    client_fields,
    outcome_pb,
    required,
    valid_id,
)
from missiva_identity.throttle import keys_for
from missiva_platform.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from missiva_platform.idempotency import run_once

log = logging.getLogger(__name__)


class SignInRpcs(RpcBase):
    async def SignUp(self, request: pb.SignUpRequest, context: Any) -> pb.SignUpResponse:
        email = valid_email("email", request.email)
        problem = password_problem(request.password)
        if problem:
            raise InvalidArgument.field("password", problem)
        display_name = valid_name("display_name", request.display_name, required=False)
        account_name = valid_name("account_name", request.account_name, required=True)
        acceptances = valid_acceptances(
            "acceptances", request.acceptances, self.settings.required_documents
        )
        if not request.age_confirmed:
            raise InvalidArgument.field("age_confirmed", "you must confirm you are not a minor")
        if request.marketing_opt_in and not request.marketing_checkbox_text.strip():
            raise InvalidArgument.field(
                "marketing_checkbox_text", "is required when marketing_opt_in is set"
            )
        locale = valid_locale("locale", request.locale)
        await self._refuse_breached("password", request.password)
        client = self.core.client(request.client, context)
        person_key = self.vault.person_key(email)
        # Hashed before looking the address up: a taken address answers just as slowly.
        password_hash = await self.core.hashing.hash(request.password)
        address = request.email.strip()

        async def work(conn: Any) -> pb.SignUpResponse:
            current = await store.current_versions(conn, [a.document_id for a in acceptances])
            for item in acceptances:
                version = current.get(item.document_id)
                if version is not None and version != item.version:
                    raise FailedPrecondition(
                        f"{item.document_id} version {item.version} is not the current one",
                        [("LEGAL_DOCUMENT_OUTDATED", item.document_id, f"show version {version}")],
                    )
            if await store.email_taken(conn, email):
                # The same answer as a new sign-up; only the address's owner learns more.
                await mail.send_email(
                    conn,
                    template="signup_existing_account",
                    to=address,
                    name=display_name,
                    locale=locale,
                    person_key=person_key,
                    tenant_id="",
                    variables={
                        "login_url": f"{self.settings.public_base_url}/login",
                        "reset_url": f"{self.settings.public_base_url}/reset-password",
                    },
                )
                return pb.SignUpResponse(
                    account_id=new_id(), user_id=new_id(), verification_sent=True
                )
            account_id, user_id = new_id(), new_id()
            await store.create_account(conn, account_id, account_name)
            await store.create_user(
                conn,
                store.NewUser(
                    id=user_id,
                    account_id=account_id,
                    email=address,
                    email_normalised=email,
                    person_key=person_key,
                    display_name=display_name,
                    locale=locale,
                    role="primary_admin",
                    password_hash=password_hash,
                    age_confirmed=True,
                    marketing_opt_in=request.marketing_opt_in,
                ),
            )
            accepted_at = await store.record_acceptances(
                conn, user_id, acceptances, **client_fields(client)
            )
            await self._send_verification(
                conn, user_id, account_id, address, display_name, locale, person_key
            )
            await mail.publish(
                conn,
                mail.user_registered(
                    user_id=user_id,
                    account_id=account_id,
                    person_key=person_key,
                    accepted=acceptances,
                    accepted_at=accepted_at,
                    marketing_opt_in=request.marketing_opt_in,
                    marketing_checkbox_text=request.marketing_checkbox_text,
                    ip_pseudonym=client.ip_pseudonym,
                    user_agent=client.user_agent,
                    locale=locale,
                    role=pb.MEMBER_ROLE_PRIMARY_ADMIN,
                ),
            )
            await store.audit(
                conn,
                store.AuditEntry(
                    "account.signed_up",
                    account_id=account_id,
                    actor_user_id=user_id,
                    target=account_id,
                    **client_fields(client),
                ),
            )
            return pb.SignUpResponse(account_id=account_id, user_id=user_id, verification_sent=True)

        return await run_once(
            self.core.pool,
            tenant_id=f"signup:{person_key}",
            method="SignUp",
            request=request,
            response_type=pb.SignUpResponse,
            work=work,
        )

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Any
    ) -> pb.VerifyEmailResponse:
        token = required("token", request.token)
        async with self.core.pool.connection() as conn, conn.transaction():
            spent = await store.spend_email_token(
                conn, self.vault.token_hash(token), "verify_email"
            )
            user = await store.user_by_id(conn, spent["user_id"]) if spent else None
            if user is None:
                raise InvalidArgument.field("token", TOKEN_INVALID)
            if await store.mark_verified(conn, user.id):
                await mail.publish(
                    conn,
                    mail.user_verified(
                        user_id=user.id, account_id=user.account_id, person_key=user.person_key
                    ),
                )
                await store.audit(
                    conn,
                    store.AuditEntry(
                        "email.verified",
                        account_id=user.account_id,
                        actor_user_id=user.id,
                        target=user.id,
                    ),
                )
        return pb.VerifyEmailResponse(user_id=user.id, email=user.email)

    async def ResendVerification(
        self, request: pb.ResendVerificationRequest, context: Any
    ) -> pb.ResendVerificationResponse:
        email = valid_email("email", request.email)
        async with self.core.pool.connection() as conn, conn.transaction():
            user = await store.user_by_email(conn, email)
            if (
                user is not None
                and not user.verified
                and user.status == "active"
                and await store.recent_email_tokens(
                    conn, user.id, "verify_email", timedelta(hours=1)
                )
                < EMAILS_PER_HOUR + 1
            ):
                await self._send_verification(
                    conn,
                    user.id,
                    user.account_id,
                    user.email,
                    user.display_name,
                    user.locale,
                    user.person_key,
                )
        return pb.ResendVerificationResponse()

    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        email = valid_email("email", request.email)
        required("password", request.password)
        if len(request.password.encode()) > PASSWORD_MAX_BYTES:
            raise InvalidArgument.field("password", "is too long")
        client = self.core.client(request.client, context)
        keys = keys_for(self.vault.person_key(email), client.ip_pseudonym)
        async with self.core.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await self.core.throttle.admit(
                        conn, keys, anti_bot_token=request.anti_bot_token, remote_ip=client.ip
                    )
                    user = await store.user_by_email(conn, email)
                    stored = user.password_hash if user is not None else None
                    # Unknown address or no password: a dummy verification takes the same time.
                    ok = await self.core.hashing.verify(stored, request.password)
                    await self.core.throttle.record(conn, keys, succeeded=ok)
                    if user is not None and not ok:
                        await store.audit(
                            conn,
                            store.AuditEntry(
                                "login.failed",
                                "failure",
                                account_id=user.account_id,
                                actor_user_id=user.id,
                                target=user.id,
                                details={"method": "password"},
                                **client_fields(client),
                            ),
                        )
                    if (
                        ok
                        and user is not None
                        and stored
                        and self.core.hashing.needs_rehash(stored)
                    ):
                        await store.set_password(
                            conn, user.id, await self.core.hashing.hash(request.password)
                        )
            except DomainError:  # only the throttle raises these here
                await self._audit_refused(conn, email, client)
                raise
            if not ok or user is None:
                raise Unauthenticated(LOGIN_FAILED)
            async with conn.transaction():
                outcome = await self.core.after_first_factor(
                    conn, user, remember_me=request.remember_me, client=client, method="password"
                )
        return outcome_pb(pb.LoginResponse, outcome)

    async def _audit_refused(self, conn: Any, email: str, client: Client) -> None:
        """A throttled attempt on a known account goes to that account's log."""
        async with conn.transaction():
            user = await store.user_by_email(conn, email)
            if user is not None:
                await store.audit(
                    conn,
                    store.AuditEntry(
                        "login.throttled",
                        "denied",
                        account_id=user.account_id,
                        target=user.id,
                        **client_fields(client),
                    ),
                )

    async def CompleteMfaLogin(
        self, request: pb.CompleteMfaLoginRequest, context: Any
    ) -> pb.CompleteMfaLoginResponse:
        token = required("challenge_token", request.challenge_token)
        kind = request.WhichOneof("code")
        if kind is None:
            raise InvalidArgument.field("code", "give a totp_code or a recovery_code")
        code = required(kind, getattr(request, kind))
        client = self.core.client(request.client, context)
        token_hash = self.vault.token_hash(token)
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                challenge = await store.live_challenge(conn, token_hash, "mfa")
                if challenge is None:
                    raise Unauthenticated(CHALLENGE_EXPIRED)
                user = await store.user_by_id(conn, challenge["user_id"], lock=True)
                if user is None:
                    raise Unauthenticated(CHALLENGE_EXPIRED)
                keys = keys_for(user.person_key, client.ip_pseudonym)
                await self.core.throttle.admit(
                    conn, keys, anti_bot_token="", remote_ip=client.ip, cap_only=True
                )
                ok = await self.core.second_factor_ok(conn, user, kind, code)
                await self.core.throttle.record(conn, keys, succeeded=ok)
                if ok:
                    await store.spend_challenge(conn, token_hash)
                else:
                    await store.count_challenge_failure(conn, token_hash, CHALLENGE_MAX_ATTEMPTS)
                    await store.audit(
                        conn,
                        store.AuditEntry(
                            "login.mfa_failed",
                            "failure",
                            account_id=user.account_id,
                            actor_user_id=user.id,
                            target=user.id,
                            details={"method": kind},
                            **client_fields(client),
                        ),
                    )
            if not ok:
                raise Unauthenticated("the code is not valid")
            async with conn.transaction():
                outcome = await self.core.finish_sign_in(
                    conn,
                    user,
                    mfa=True,
                    remember_me=challenge["remember_me"],
                    client=client,
                    method=f"password+{kind}",
                )
        return outcome_pb(pb.CompleteMfaLoginResponse, outcome)

    async def AcceptLegalDocuments(
        self, request: pb.AcceptLegalDocumentsRequest, context: Any
    ) -> pb.AcceptLegalDocumentsResponse:
        token = required("challenge_token", request.challenge_token)
        client = self.core.client(request.client, context)
        token_hash = self.vault.token_hash(token)
        async with self.core.pool.connection() as conn, conn.transaction():
            challenge = await store.live_challenge(conn, token_hash, "legal")
            user = await store.user_by_id(conn, challenge["user_id"]) if challenge else None
            if challenge is None or user is None:
                raise Unauthenticated(CHALLENGE_EXPIRED)
            pending = await store.pending_documents(conn, user.id)
            given = valid_acceptances(
                "acceptances", request.acceptances, [d["document_id"] for d in pending]
            )
            wanted = {d["document_id"]: d["version"] for d in pending}
            for item in given:
                if item.document_id in wanted and wanted[item.document_id] != item.version:
                    raise InvalidArgument.field(
                        "acceptances",
                        f"{item.document_id} must be accepted in version "
                        f"{wanted[item.document_id]}",
                    )
            await store.spend_challenge(conn, token_hash)
            await self.core.record_legal(conn, user, given, client)
            await store.audit(
                conn,
                store.AuditEntry(
                    "legal.accepted",
                    account_id=user.account_id,
                    actor_user_id=user.id,
                    target=",".join(f"{a.document_id}@{a.version}" for a in given),
                    **client_fields(client),
                ),
            )
            outcome = await self.core.finish_sign_in(
                conn,
                user,
                mfa=challenge["mfa"],
                remember_me=challenge["remember_me"],
                client=client,
                method="legal_acceptance",
            )
        return pb.AcceptLegalDocumentsResponse(tokens=outcome.tokens)

    async def RefreshSession(
        self, request: pb.RefreshSessionRequest, context: Any
    ) -> pb.RefreshSessionResponse:
        token = required("refresh_token", request.refresh_token)
        client = self.core.client(request.client, context)
        token_hash = self.vault.token_hash(token)
        reused = False
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                found = await store.refresh_token(conn, token_hash)
                if found is None:
                    raise Unauthenticated(REFRESH_INVALID)
                sess = await store.session(conn, found["session_id"], lock=True)
                assert sess is not None
                if found["rotated_at"] is not None:
                    # A spent token came back: it was stolen, or the thief already used the
                    # new one. Either way the whole family (the session) ends now.
                    await store.revoke_session(conn, sess["id"], "refresh_token_reused")
                    await store.audit(
                        conn,
                        store.AuditEntry(
                            "session.refresh_token_reused",
                            "denied",
                            account_id=sess["account_id"],
                            actor_user_id=sess["user_id"],
                            target=sess["id"],
                            **client_fields(client),
                        ),
                    )
                    reused = True
                elif sess["live"]:
                    user = await store.user_by_id(conn, sess["user_id"])
                    if user is None:
                        raise Unauthenticated(REFRESH_INVALID)
                    self.core.check_can_sign_in(user)
                    await store.rotate_refresh_token(conn, token_hash)
                    refresh = new_token("mrt")
                    await store.add_refresh_token(conn, self.vault.token_hash(refresh), sess["id"])
                    await store.touch_session(
                        conn, sess["id"], client.user_agent, client.ip_pseudonym
                    )
                    access, expires = await self.core.user_access_token(
                        user, sess["id"], sess["auth_time"], sess["mfa"]
                    )
                else:
                    raise Unauthenticated(REFRESH_INVALID)
            if reused:
                raise Unauthenticated(REFRESH_INVALID)
        return pb.RefreshSessionResponse(
            tokens=pb.SessionTokens(
                access_token=access,
                access_token_expires_at=timestamp(expires),
                refresh_token=refresh,
                refresh_token_expires_at=timestamp(sess["expires_at"]),
                session_id=sess["id"],
            )
        )

    async def Logout(self, request: pb.LogoutRequest, context: Any) -> pb.LogoutResponse:
        token = required("refresh_token", request.refresh_token)
        async with self.core.pool.connection() as conn, conn.transaction():
            found = await store.refresh_token(conn, self.vault.token_hash(token))
            if found is not None:
                await store.revoke_session(conn, found["session_id"], "logout")
        return pb.LogoutResponse()

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Any
    ) -> pb.ListSessionsResponse:
        limit = page_size(request.page_size)
        async with self.core.pool.connection() as conn:
            caller = await self.core.caller(conn, context)
            bound = (caller.user.id,)
            after = self.core.page_after(request.page_token, "ListSessions", bound)
            rows = await store.list_sessions(conn, caller.user.id, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        return pb.ListSessionsResponse(
            sessions=[
                pb.Session(
                    session_id=r["id"],
                    created_at=timestamp(r["created_at"]),
                    last_used_at=timestamp(r["last_used_at"]),
                    expires_at=timestamp(r["expires_at"]),
                    user_agent=r["user_agent"],
                    ip_pseudonym=r["ip_pseudonym"],
                    mfa=r["mfa"],
                    current=r["id"] == caller.session_id,
                )
                for r in rows
            ],
            next_page_token=(
                self.core.next_page("ListSessions", rows[-1]["last_used_at"], rows[-1]["id"], bound)
                if more
                else ""
            ),
        )

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: Any
    ) -> pb.RevokeSessionResponse:
        session_id = valid_id("session_id", request.session_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            sess = await store.session(conn, session_id)
            if sess is None or sess["user_id"] != caller.user.id:
                raise NotFound("session not found")
            if await store.revoke_session(conn, session_id, "revoked_by_user"):
                await store.audit(conn, audit_entry("session.revoked", caller, target=session_id))
        return pb.RevokeSessionResponse()

    async def StartOidcLogin(
        self, request: pb.StartOidcLoginRequest, context: Any
    ) -> pb.StartOidcLoginResponse:
        provider = self._oidc()
        redirect_uri = required("redirect_uri", request.redirect_uri)
        if redirect_uri not in provider.redirect_uris:
            raise InvalidArgument.field("redirect_uri", "is not an allowed redirect URI")
        state, nonce = new_token("mos"), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
        try:
            url = await provider.authorization_url(
                state=state, nonce=nonce, verifier=verifier, redirect_uri=redirect_uri
            )
        except (OidcError, httpx.HTTPError, KeyError) as exc:
            log.warning("OpenID provider discovery failed: %s", type(exc).__name__)
            raise Unavailable("the identity provider cannot be reached; try again") from None
        async with self.core.pool.connection() as conn, conn.transaction():
            expires = await store.create_oidc_login(
                conn,
                self.vault.token_hash(state),
                nonce=nonce,
                verifier=verifier,
                redirect_uri=redirect_uri,
                ttl=OIDC_TTL,
            )
        return pb.StartOidcLoginResponse(
            authorization_url=url, state=state, expires_at=timestamp(expires)
        )

    async def CompleteOidcLogin(
        self, request: pb.CompleteOidcLoginRequest, context: Any
    ) -> pb.CompleteOidcLoginResponse:
        provider = self._oidc()
        state = required("state", request.state)
        code = required("code", request.code)
        client = self.core.client(request.client, context)
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                started = await store.spend_oidc_login(conn, self.vault.token_hash(state))
            if started is None:
                raise InvalidArgument.field("state", TOKEN_INVALID)
            try:
                claims = await provider.exchange(
                    code=code,
                    verifier=started["code_verifier"],
                    redirect_uri=started["redirect_uri"],
                    nonce=started["nonce"],
                )
            except OidcError as exc:
                log.warning("OpenID sign-in refused: %s", exc)
                raise Unauthenticated("the identity provider did not confirm the sign-in") from None
            subject = f"{provider.issuer}|{claims['sub']}"
            async with conn.transaction():
                user = await store.user_by_oidc_subject(conn, subject)
                email = claims.get("email")
                if user is None and isinstance(email, str) and claims.get("email_verified") is True:
                    # Linked only when both sides have verified the same address.
                    found = await store.user_by_email(conn, valid_email("email", email))
                    if found is not None and found.verified:
                        await store.link_oidc_subject(conn, found.id, subject)
                        user = found
                if user is None:
                    raise FailedPrecondition(
                        "no Missiva user for this identity: sign up first, then sign in with "
                        "the provider (its verified address must match)",
                        [("OIDC_NOT_LINKED", "email", "sign up with the same address")],
                    )
                outcome = await self.core.after_first_factor(
                    conn, user, remember_me=request.remember_me, client=client, method="oidc"
                )
        return outcome_pb(pb.CompleteOidcLoginResponse, outcome)
