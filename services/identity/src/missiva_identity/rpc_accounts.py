"""Accounts: profile, audit log, team members and the account lifecycle."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity import mail, store
from missiva_identity.core import (
    new_id,
    timestamp,
)
from missiva_identity.domain import (
    ROLE_VALUES,
    new_token,
    page_size,
    password_problem,
    valid_acceptances,
    valid_email,
    valid_locale,
    valid_name,
    valid_time_zone,
)
from missiva_identity.rpc_base import (
    INVITATION_TTL,
    RESTORE_WINDOW,
    TOKEN_INVALID,
    RpcBase,
    account_pb,
    assignable_role,
    audit_entry,
    client_fields,
    member_pb,
    profile_pb,
    required,
    valid_id,
)
from missiva_platform.auth import (
    CallerKind,
    current_principal,
    current_tenant,
)
from missiva_platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from missiva_platform.idempotency import run_once


class AccountRpcs(RpcBase):
    async def GetAccount(
        self, request: pb.GetAccountRequest, context: Any
    ) -> pb.GetAccountResponse:
        principal = current_principal()
        tenant = current_tenant()
        async with self.core.pool.connection() as conn:
            if principal.kind is CallerKind.USER:
                caller = await self.core.caller(conn, context)
                row = await store.account(conn, tenant)
                assert row is not None
                return pb.GetAccountResponse(
                    account=account_pb(row),
                    profile=profile_pb(caller.user),
                    role=ROLE_VALUES[caller.user.role],
                )
            row = await store.account(conn, tenant)
        if row is None:
            raise NotFound("account not found")
        return pb.GetAccountResponse(account=account_pb(row))

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: Any
    ) -> pb.UpdateProfileResponse:
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument.field("update_mask", "name the fields to update")
        values: dict[str, str] = {}
        for path in paths:
            if path == "display_name":
                values[path] = valid_name(
                    "profile.display_name", request.profile.display_name, required=False
                )
            elif path == "locale":
                values[path] = valid_locale("profile.locale", request.profile.locale)
            elif path == "time_zone":
                values[path] = valid_time_zone("profile.time_zone", request.profile.time_zone)
            else:
                raise InvalidArgument.field(
                    "update_mask", f"{path!r} cannot be updated (display_name, locale, time_zone)"
                )
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self.core.caller(conn, context)
            await store.update_profile(conn, caller.user.id, values)
            user = await store.user_by_id(conn, caller.user.id)
            assert user is not None
        return pb.UpdateProfileResponse(profile=profile_pb(user))

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Any
    ) -> pb.ListAuditEventsResponse:
        limit = page_size(request.page_size)
        actor = valid_id("actor_user_id", request.actor_user_id) if request.actor_user_id else None
        if len(request.action_prefix) > 100:
            raise InvalidArgument.field("action_prefix", "is too long")
        start = request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None
        if start and end and end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        tenant = current_tenant()
        bound = (
            tenant,
            actor or "",
            request.action_prefix,
            start.isoformat() if start else "",
            end.isoformat() if end else "",
        )
        after = self.core.page_after(request.page_token, "ListAuditEvents", bound)
        async with self.core.pool.connection() as conn:
            await self._admin(conn, context)
            rows = await store.list_audit_events(
                conn,
                tenant,
                limit=limit + 1,
                after=after,
                start=start,
                end=end,
                actor=actor,
                action_prefix=request.action_prefix,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        outcomes = {
            "success": pb.AUDIT_OUTCOME_SUCCESS,
            "failure": pb.AUDIT_OUTCOME_FAILURE,
            "denied": pb.AUDIT_OUTCOME_DENIED,
        }
        return pb.ListAuditEventsResponse(
            audit_events=[
                pb.AuditEvent(
                    audit_event_id=r["id"],
                    occurred_at=timestamp(r["occurred_at"]),
                    actor_user_id=r["actor_user_id"] or "",
                    action=r["action"],
                    target=r["target"],
                    outcome=outcomes[r["outcome"]],
                    ip_pseudonym=r["ip_pseudonym"],
                    user_agent=r["user_agent"],
                    details={str(k): str(v) for k, v in (r["details"] or {}).items()},
                )
                for r in rows
            ],
            next_page_token=(
                self.core.next_page(
                    "ListAuditEvents", rows[-1]["occurred_at"], rows[-1]["id"], bound
                )
                if more
                else ""
            ),
        )

    async def InviteMember(
        self, request: pb.InviteMemberRequest, context: Any
    ) -> pb.InviteMemberResponse:
        email = valid_email("email", request.email)
        role = assignable_role("role", request.role)
        tenant = current_tenant()
        address = request.email.strip()

        async def work(conn: Any) -> pb.InviteMemberResponse:
            caller = await self._admin(conn, context)
            member = await store.user_by_email(conn, email)
            if member is not None and member.account_id == tenant:
                raise AlreadyExists("that address is already a member of this account")
            token = new_token("min")
            row = await store.create_invitation(
                conn,
                invitation_id=new_id(),
                account_id=tenant,
                email=address,
                role=role,
                invited_by=caller.user.id,
                token_hash=self.vault.token_hash(token),
                ttl=INVITATION_TTL,
            )
            await mail.send_email(
                conn,
                template="invitation",
                to=address,
                name="",
                locale=caller.user.locale,
                person_key=self.vault.person_key(email),
                tenant_id=tenant,
                variables={
                    "inviter_name": caller.user.display_name,
                    "account_name": caller.user.account_name,
                    "accept_url": mail.link(
                        self.settings.public_base_url, "/accept-invitation", token
                    ),
                    "expires_in_days": str(INVITATION_TTL.days),
                },
            )
            await store.audit(
                conn,
                audit_entry("member.invited", caller, target=row["id"], details={"role": role}),
            )
            return pb.InviteMemberResponse(
                invitation=pb.Invitation(
                    invitation_id=row["id"],
                    email=row["email"],
                    role=ROLE_VALUES[row["role"]],
                    invited_by_user_id=row["invited_by_user_id"],
                    expires_at=timestamp(row["expires_at"]),
                )
            )

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="InviteMember",
            request=request,
            response_type=pb.InviteMemberResponse,
            work=work,
        )

    async def AcceptInvitation(
        self, request: pb.AcceptInvitationRequest, context: Any
    ) -> pb.AcceptInvitationResponse:
        token = required("token", request.token)
        problem = password_problem(request.password)
        if problem:
            raise InvalidArgument.field("password", problem)
        display_name = valid_name("display_name", request.display_name, required=False)
        acceptances = valid_acceptances(
            "acceptances", request.acceptances, self.settings.required_documents
        )
        await self._refuse_breached("password", request.password)
        client = self.core.client(request.client, context)
        password_hash = await self.core.hashing.hash(request.password)
        async with self.core.pool.connection() as conn, conn.transaction():
            invitation = await store.spend_invitation(conn, self.vault.token_hash(token))
            if invitation is None:
                raise InvalidArgument.field("token", TOKEN_INVALID)
            email = valid_email("email", invitation["email"])
            if await store.email_taken(conn, email):
                # Told only to whoever holds the link, i.e. the address's owner.
                raise FailedPrecondition(
                    "this address already has a Missiva user; ask for an invitation to "
                    "another address, or delete that user first",
                    [("EMAIL_IN_USE", "email", "one address belongs to one account")],
                )
            user_id = new_id()
            person_key = self.vault.person_key(email)
            await store.create_user(
                conn,
                store.NewUser(
                    id=user_id,
                    account_id=invitation["account_id"],
                    email=invitation["email"],
                    email_normalised=email,
                    person_key=person_key,
                    display_name=display_name,
                    locale="en",
                    role=invitation["role"],
                    password_hash=password_hash,
                    age_confirmed=True,
                    verified=True,  # the link reached the address
                ),
            )
            user = await store.user_by_id(conn, user_id)
            assert user is not None
            accepted_at = await store.record_acceptances(
                conn, user_id, acceptances, **client_fields(client)
            )
            await mail.publish(
                conn,
                mail.user_registered(
                    user_id=user_id,
                    account_id=user.account_id,
                    person_key=person_key,
                    accepted=acceptances,
                    accepted_at=accepted_at,
                    ip_pseudonym=client.ip_pseudonym,
                    user_agent=client.user_agent,
                    locale=user.locale,
                    role=ROLE_VALUES[user.role],
                ),
            )
            await store.audit(
                conn,
                store.AuditEntry(
                    "member.joined",
                    account_id=user.account_id,
                    actor_user_id=user_id,
                    target=invitation["id"],
                    details={"role": user.role},
                    **client_fields(client),
                ),
            )
            tokens = await self.core.open_session(
                conn, user, mfa=False, remember_me=False, client=client
            )
        return pb.AcceptInvitationResponse(member=member_pb(user), tokens=tokens)

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: Any
    ) -> pb.ListMembersResponse:
        limit = page_size(request.page_size)
        tenant = current_tenant()
        bound = (tenant, request.show_removed)
        after = self.core.page_after(request.page_token, "ListMembers", bound)
        async with self.core.pool.connection() as conn:
            await self._admin(conn, context)
            users = await store.list_members(
                conn, tenant, show_removed=request.show_removed, limit=limit + 1, after=after
            )
            # Pending invitations lead the first page (there are few: they lapse in 7 days).
            invited = [] if after else await store.pending_invitations(conn, tenant)
        more = len(users) > limit
        users = users[:limit]
        return pb.ListMembersResponse(
            members=[
                pb.Member(
                    email=i["email"],
                    role=ROLE_VALUES[i["role"]],
                    status=pb.MEMBER_STATUS_INVITED,
                )
                for i in invited
            ]
            + [member_pb(u) for u in users],
            next_page_token=(
                self.core.next_page("ListMembers", users[-1].created_at, users[-1].id, bound)
                if more
                else ""
            ),
        )

    async def ChangeMemberRole(
        self, request: pb.ChangeMemberRoleRequest, context: Any
    ) -> pb.ChangeMemberRoleResponse:
        role = assignable_role("role", request.role)
        tenant = current_tenant()
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self._admin(conn, context)
            member = await self._member_of(conn, tenant, request.user_id)
            if member.role == "primary_admin":
                raise FailedPrecondition("the primary admin's role changes only by transfer")
            if member.status != "active":
                raise FailedPrecondition("restore the member first")
            if member.role != role:
                await store.set_role(conn, member.id, role)
                await store.audit(
                    conn,
                    audit_entry(
                        "member.role_changed",
                        caller,
                        target=member.id,
                        details={"from": member.role, "to": role},
                    ),
                )
            member = await self._member_of(conn, tenant, member.id)
        return pb.ChangeMemberRoleResponse(member=member_pb(member))

    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: Any
    ) -> pb.RemoveMemberResponse:
        tenant = current_tenant()
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self._admin(conn, context)
            member = await self._member_of(conn, tenant, request.user_id)
            if member.role == "primary_admin":
                raise FailedPrecondition("the primary admin cannot be removed; transfer first")
            if member.id == caller.user.id:
                raise FailedPrecondition("you cannot remove yourself; ask another admin")
            if member.status != "active":
                raise FailedPrecondition("the member is already removed")
            await store.remove_member(conn, member.id, caller.user.id, RESTORE_WINDOW)
            revoked = await store.revoke_user_sessions(conn, member.id, "member_removed")
            member = await self._member_of(conn, tenant, member.id)
            assert member.restorable_until is not None
            await mail.publish(
                conn,
                mail.member_removed(
                    account_id=tenant,
                    user_id=member.id,
                    removed_by=caller.user.id,
                    restorable_until=member.restorable_until,
                ),
            )
            await store.audit(
                conn,
                audit_entry(
                    "member.removed",
                    caller,
                    target=member.id,
                    details={"sessions_revoked": str(revoked)},
                ),
            )
        return pb.RemoveMemberResponse(member=member_pb(member))

    async def RestoreMember(
        self, request: pb.RestoreMemberRequest, context: Any
    ) -> pb.RestoreMemberResponse:
        tenant = current_tenant()
        async with self.core.pool.connection() as conn, conn.transaction():
            caller = await self._admin(conn, context)
            member = await self._member_of(conn, tenant, request.user_id)
            if member.status != "removed":
                raise FailedPrecondition("the member is not removed")
            if member.restorable_until is None or member.restorable_until <= await store.db_now(
                conn
            ):
                raise FailedPrecondition("the restore window has passed")
            await store.restore_member(conn, member.id)
            await mail.publish(
                conn,
                mail.member_restored(
                    account_id=tenant, user_id=member.id, restored_by=caller.user.id
                ),
            )
            await store.audit(conn, audit_entry("member.restored", caller, target=member.id))
            member = await self._member_of(conn, tenant, member.id)
        return pb.RestoreMemberResponse(member=member_pb(member))

    async def TransferPrimaryAdmin(
        self, request: pb.TransferPrimaryAdminRequest, context: Any
    ) -> pb.TransferPrimaryAdminResponse:
        required("password", request.password)
        tenant = current_tenant()
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                caller = await self._admin(conn, context, primary=True)
                ok = await self._check_password(conn, caller, request.password)
            if not ok:
                raise InvalidArgument.field("password", "is incorrect")
            async with conn.transaction():
                # Two transfers at once: the second waits for the first, then finds the
                # caller no longer primary (a partial unique index backs this up).
                if await store.lock_role(conn, caller.user.id) != "primary_admin":
                    raise PermissionDenied("this needs the role primary_admin")
                target = await self._member_of(conn, tenant, request.user_id)
                if target.id == caller.user.id:
                    raise FailedPrecondition("you are already the primary admin")
                if target.status != "active" or target.role != "admin":
                    raise FailedPrecondition("the new primary admin must be an active admin")
                await store.set_role(conn, caller.user.id, "admin")
                await store.set_role(conn, target.id, "primary_admin")
                await store.audit(
                    conn, audit_entry("member.primary_admin_transferred", caller, target=target.id)
                )
                new = await self._member_of(conn, tenant, target.id)
                previous = await self._member_of(conn, tenant, caller.user.id)
        return pb.TransferPrimaryAdminResponse(
            new_primary_admin=member_pb(new), previous_primary_admin=member_pb(previous)
        )

    async def DeleteAccount(
        self, request: pb.DeleteAccountRequest, context: Any
    ) -> pb.DeleteAccountResponse:
        required("password", request.password)
        if len(request.reason) > 1000:
            raise InvalidArgument.field("reason", "is longer than 1000 characters")
        tenant = current_tenant()
        async with self.core.pool.connection() as conn:
            async with conn.transaction():
                caller = await self._admin(conn, context, primary=True)
                ok = await self._check_password(conn, caller, request.password)
            if not ok:
                raise InvalidArgument.field("password", "is incorrect")

        async def work(conn: Any) -> pb.DeleteAccountResponse:
            await store.request_account_deletion(conn, tenant, request.reason, RESTORE_WINDOW)
            row = await store.account(conn, tenant)
            assert row is not None
            await store.revoke_account_sessions(conn, tenant, "account_deleted")
            token = new_token("mra")
            await store.create_email_token(
                conn,
                self.vault.token_hash(token),
                "restore_account",
                user_id=caller.user.id,
                account_id=tenant,
                ttl=RESTORE_WINDOW,
            )
            await self.core.notify(
                conn,
                caller.user,
                "account_deletion_requested",
                {
                    "restore_url": mail.link(
                        self.settings.public_base_url, "/restore-account", token
                    ),
                    "purge_after": row["purge_after"].date().isoformat(),
                },
            )
            await mail.publish(
                conn,
                mail.deletion_requested(
                    account_id=tenant, requested_by=caller.user.id, purge_after=row["purge_after"]
                ),
            )
            await store.audit(
                conn, audit_entry("account.deletion_requested", caller, target=tenant)
            )
            return pb.DeleteAccountResponse(account=account_pb(row))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="DeleteAccount",
            request=request,
            response_type=pb.DeleteAccountResponse,
            work=work,
        )

    async def RestoreAccount(
        self, request: pb.RestoreAccountRequest, context: Any
    ) -> pb.RestoreAccountResponse:
        token = required("restore_token", request.restore_token)
        async with self.core.pool.connection() as conn, conn.transaction():
            spent = await store.spend_email_token(
                conn, self.vault.token_hash(token), "restore_account"
            )
            if spent is None or not await store.restore_account(conn, spent["account_id"]):
                raise InvalidArgument.field("restore_token", TOKEN_INVALID)
            account_id = spent["account_id"]
            await mail.publish(
                conn,
                mail.account_restored(account_id=account_id, restored_by=spent["user_id"] or ""),
            )
            await store.audit(
                conn,
                store.AuditEntry(
                    "account.restored",
                    account_id=account_id,
                    actor_user_id=spent["user_id"],
                    target=account_id,
                ),
            )
            row = await store.account(conn, account_id)
            assert row is not None
        return pb.RestoreAccountResponse(account=account_pb(row))
