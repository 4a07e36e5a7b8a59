"""Teams and the account lifecycle: invitations, roles, removal, transfer, deletion, restore."""

import asyncio

import grpc
import psycopg
import pytest
from identity_testkit import PASSWORD, PRIVACY, TERMS, bearer, events_of, new_email, rpc_error

from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention, travel


async def invite(identity, admin, role=pb.MEMBER_ROLE_MEMBER, email=None):
    email = email or new_email("invitee")
    reply = await identity.stub.InviteMember(
        pb.InviteMemberRequest(email=email, role=role), metadata=admin.md
    )
    token = await identity.mailbox.token(email, "invitation", "accept_url")
    return email, reply.invitation, token


async def join(identity, admin, role=pb.MEMBER_ROLE_MEMBER):
    email, _, token = await invite(identity, admin, role)
    accepted = await identity.stub.AcceptInvitation(
        pb.AcceptInvitationRequest(
            token=token, password=PASSWORD, display_name="Bob", acceptances=[TERMS, PRIVACY]
        )
    )
    return email, accepted


async def test_an_invitation_link_makes_a_verified_member_once(identity):
    admin = await identity.user()
    email, invitation, token = await invite(identity, admin)
    listed = await identity.stub.ListMembers(pb.ListMembersRequest(), metadata=admin.md)
    assert [(m.email, m.status) for m in listed.members] == [
        (email, pb.MEMBER_STATUS_INVITED),
        (admin.email, pb.MEMBER_STATUS_ACTIVE),
    ]
    assert invitation.role == pb.MEMBER_ROLE_MEMBER
    assert invitation.expires_at.seconds
    accept = pb.AcceptInvitationRequest(
        token=token, password=PASSWORD, display_name="Bob", acceptances=[TERMS, PRIVACY]
    )
    accepted = await identity.stub.AcceptInvitation(accept)
    assert accepted.member.email == email
    assert accepted.member.status == pb.MEMBER_STATUS_ACTIVE
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(accepted.tokens.access_token)
    )
    assert account.account.account_id == admin.account_id
    assert account.role == pb.MEMBER_ROLE_MEMBER
    assert account.profile.email_verified
    err = await rpc_error(identity.stub.AcceptInvitation(accept))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    registered = [
        unpack(e, events_pb2.UserRegistered)
        for e in await events_of(identity.js, "identity.user.registered")
        if e.tenant_id == admin.account_id
    ]
    assert [r.role for r in registered] == [pb.MEMBER_ROLE_PRIMARY_ADMIN, pb.MEMBER_ROLE_MEMBER]
    # Members cannot manage the team.
    err = await rpc_error(
        identity.stub.ListMembers(
            pb.ListMembersRequest(), metadata=bearer(accepted.tokens.access_token)
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_invitations_refuse_bad_roles_and_existing_members(identity):
    admin = await identity.user()
    for role in (pb.MEMBER_ROLE_UNSPECIFIED, pb.MEMBER_ROLE_PRIMARY_ADMIN):
        err = await rpc_error(
            identity.stub.InviteMember(
                pb.InviteMemberRequest(email=new_email(), role=role), metadata=admin.md
            )
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        identity.stub.InviteMember(
            pb.InviteMemberRequest(email=admin.email, role=pb.MEMBER_ROLE_ADMIN), metadata=admin.md
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    other = await identity.user()
    _, _, token = await invite(identity, admin, email=other.email)
    err = await rpc_error(
        identity.stub.AcceptInvitation(
            pb.AcceptInvitationRequest(token=token, password=PASSWORD, acceptances=[TERMS, PRIVACY])
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_roles_change_and_a_removed_member_is_out_at_once_and_restorable(identity):
    admin = await identity.user()
    email, joined = await join(identity, admin)
    member_id = joined.member.user_id
    changed = await identity.stub.ChangeMemberRole(
        pb.ChangeMemberRoleRequest(user_id=member_id, role=pb.MEMBER_ROLE_BILLING),
        metadata=admin.md,
    )
    assert changed.member.role == pb.MEMBER_ROLE_BILLING

    removed = await identity.stub.RemoveMember(
        pb.RemoveMemberRequest(user_id=member_id), metadata=admin.md
    )
    assert removed.member.status == pb.MEMBER_STATUS_REMOVED
    days = (removed.member.restorable_until.seconds - removed.member.removed_at.seconds) / 86400
    assert round(days) == 30
    err = await rpc_error(
        identity.stub.RefreshSession(
            pb.RefreshSessionRequest(refresh_token=joined.tokens.refresh_token)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        identity.stub.GetAccount(
            pb.GetAccountRequest(), metadata=bearer(joined.tokens.access_token)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED  # the session ended with the removal
    err = await rpc_error(identity.login(email))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await identity.stub.ListMembers(pb.ListMembersRequest(), metadata=admin.md)
    assert [m.user_id for m in listed.members] == [admin.user_id]
    listed = await identity.stub.ListMembers(
        pb.ListMembersRequest(show_removed=True), metadata=admin.md
    )
    assert {m.user_id for m in listed.members} == {admin.user_id, member_id}

    await identity.stub.RestoreMember(pb.RestoreMemberRequest(user_id=member_id), metadata=admin.md)
    assert (await identity.login(email)).tokens.access_token
    await identity.stub.RemoveMember(pb.RemoveMemberRequest(user_id=member_id), metadata=admin.md)
    await run_retention(identity.url, identity.app.retention_rules, now=travel(days=29))
    [(count,)] = await identity.sql("SELECT count(*) FROM users")
    assert count == 2
    await run_retention(identity.url, identity.app.retention_rules, now=travel(days=31))
    [(count,)] = await identity.sql("SELECT count(*) FROM users")
    assert count == 1
    for event in ("identity.member.removed", "identity.member.restored"):
        assert [e for e in await events_of(identity.js, event) if e.tenant_id == admin.account_id]


async def test_the_primary_admin_cannot_be_removed_and_hands_over_by_transfer(identity):
    admin = await identity.user()
    _, joined = await join(identity, admin, pb.MEMBER_ROLE_ADMIN)
    other = joined.member.user_id
    for call in (
        identity.stub.RemoveMember(
            pb.RemoveMemberRequest(user_id=admin.user_id), metadata=admin.md
        ),
        identity.stub.ChangeMemberRole(
            pb.ChangeMemberRoleRequest(user_id=admin.user_id, role=pb.MEMBER_ROLE_MEMBER),
            metadata=admin.md,
        ),
    ):
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(
        identity.stub.TransferPrimaryAdmin(
            pb.TransferPrimaryAdminRequest(user_id=other, password="wrong!"), metadata=admin.md
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        identity.stub.TransferPrimaryAdmin(
            pb.TransferPrimaryAdminRequest(user_id=admin.user_id, password=PASSWORD),
            metadata=bearer(joined.tokens.access_token),
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED  # only the primary admin
    reply = await identity.stub.TransferPrimaryAdmin(
        pb.TransferPrimaryAdminRequest(user_id=other, password=PASSWORD), metadata=admin.md
    )
    assert reply.new_primary_admin.role == pb.MEMBER_ROLE_PRIMARY_ADMIN
    assert reply.previous_primary_admin.role == pb.MEMBER_ROLE_ADMIN
    # The old token still says primary_admin; the database decides.
    err = await rpc_error(
        identity.stub.DeleteAccount(pb.DeleteAccountRequest(password=PASSWORD), metadata=admin.md)
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_members_of_another_account_are_out_of_reach(identity):
    a = await identity.user()
    _, joined = await join(identity, a)
    b = await identity.user()
    member = joined.member.user_id
    for call in (
        identity.stub.RemoveMember(pb.RemoveMemberRequest(user_id=member), metadata=b.md),
        identity.stub.RestoreMember(pb.RestoreMemberRequest(user_id=member), metadata=b.md),
        identity.stub.ChangeMemberRole(
            pb.ChangeMemberRoleRequest(user_id=member, role=pb.MEMBER_ROLE_ADMIN), metadata=b.md
        ),
        identity.stub.TransferPrimaryAdmin(
            pb.TransferPrimaryAdminRequest(user_id=member, password=PASSWORD), metadata=b.md
        ),
    ):
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.NOT_FOUND
    listed = await identity.stub.ListMembers(
        pb.ListMembersRequest(show_removed=True), metadata=b.md
    )
    assert [m.user_id for m in listed.members] == [b.user_id]
    err = await rpc_error(
        identity.stub.RemoveMember(pb.RemoveMemberRequest(user_id="x"), metadata=b.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_deleted_account_is_disabled_at_once_restorable_then_erased(identity):
    admin = await identity.user()
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", scopes=["*"]), metadata=admin.md
    )
    err = await rpc_error(
        identity.stub.DeleteAccount(pb.DeleteAccountRequest(password="wrong!"), metadata=admin.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    deleted = await identity.stub.DeleteAccount(
        pb.DeleteAccountRequest(password=PASSWORD, reason="closing"), metadata=admin.md
    )
    assert deleted.account.status == pb.ACCOUNT_STATUS_DELETION_REQUESTED
    assert (
        round(
            (deleted.account.purge_after.seconds - deleted.account.deletion_requested_at.seconds)
            / 86400
        )
        == 30
    )
    err = await rpc_error(identity.login(admin.email))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(
        identity.stub.RefreshSession(
            pb.RefreshSessionRequest(refresh_token=admin.tokens.refresh_token)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=key.secret)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    token = await identity.mailbox.token(admin.email, "account_deletion_requested", "restore_url")
    restored = await identity.stub.RestoreAccount(pb.RestoreAccountRequest(restore_token=token))
    assert restored.account.status == pb.ACCOUNT_STATUS_ACTIVE
    err = await rpc_error(
        identity.stub.RestoreAccount(pb.RestoreAccountRequest(restore_token=token))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    tokens = (await identity.login(admin.email)).tokens

    await identity.stub.DeleteAccount(
        pb.DeleteAccountRequest(password=PASSWORD), metadata=bearer(tokens.access_token)
    )
    await run_retention(identity.url, identity.app.retention_rules, now=travel(days=29))
    [(count,)] = await identity.sql("SELECT count(*) FROM accounts")
    assert count == 1
    await run_retention(identity.url, identity.app.retention_rules, now=travel(days=31))
    assert await identity.sql("SELECT * FROM accounts") == []
    assert await identity.sql("SELECT * FROM api_keys") == []
    erased = [
        unpack(e, events_pb2.AccountErased)
        for e in await events_of(identity.js, "identity.account.erased")
        if e.tenant_id == admin.account_id
    ]
    assert list(erased[0].user_ids) == [admin.user_id]
    requested = [
        unpack(e, events_pb2.AccountDeletionRequested)
        for e in await events_of(identity.js, "identity.account.deletion_requested")
        if e.tenant_id == admin.account_id
    ]
    assert len(requested) == 2
    assert requested[0].purge_after.seconds
    assert [
        e
        for e in await events_of(identity.js, "identity.account.restored")
        if e.tenant_id == admin.account_id
    ]


async def test_two_concurrent_transfers_leave_exactly_one_primary_admin(identity):
    admin = await identity.user()
    targets = [(await join(identity, admin, pb.MEMBER_ROLE_ADMIN))[1].member.user_id for _ in "ab"]
    calls = [
        identity.stub.TransferPrimaryAdmin(
            pb.TransferPrimaryAdminRequest(user_id=target, password=PASSWORD), metadata=admin.md
        )
        for target in targets
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    codes = sorted(r.code().name if isinstance(r, grpc.aio.AioRpcError) else "OK" for r in results)
    assert codes == ["OK", "PERMISSION_DENIED"], results
    rows = await identity.sql(
        "SELECT count(*) FROM users WHERE account_id = %s AND role = 'primary_admin'",
        admin.account_id,
    )
    assert rows == [(1,)]
    # The database itself refuses a second primary admin, whatever the code does.
    with pytest.raises(psycopg.errors.UniqueViolation, match="one_primary_admin"):
        await identity.sql(
            "UPDATE users SET role = 'primary_admin' WHERE account_id = %s", admin.account_id
        )
