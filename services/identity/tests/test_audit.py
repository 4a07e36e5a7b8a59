"""The security audit log: what happened to an account, readable by its admins only."""

import grpc
from identity_testkit import PASSWORD, rpc_error

from missiva.common.v1 import types_pb2
from missiva.identity.v1 import identity_service_pb2 as pb


async def test_admins_read_their_accounts_log_with_pseudonymised_ips(identity):
    a = await identity.user()
    client = types_pb2.ClientContext(ip_address="203.0.113.50", user_agent="Firefox/130")
    await rpc_error(identity.login(a.email, "wrong password!", client=client))
    await identity.login(a.email, PASSWORD, client=client)
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", scopes=["*"]), metadata=a.md
    )
    await identity.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=key.api_key.api_key_id), metadata=a.md
    )
    await identity.stub.ChangePassword(
        pb.ChangePasswordRequest(current_password=PASSWORD, new_password="a newer passphrase"),
        metadata=a.md,
    )

    log = await identity.stub.ListAuditEvents(pb.ListAuditEventsRequest(), metadata=a.md)
    actions = [e.action for e in log.audit_events]
    for action in (
        "account.signed_up",
        "email.verified",
        "login.failed",
        "login.succeeded",
        "api_key.created",
        "api_key.revoked",
        "password.changed",
    ):
        assert action in actions, action
    assert actions[0] == "password.changed"  # newest first
    failed = next(e for e in log.audit_events if e.action == "login.failed")
    assert failed.outcome == pb.AUDIT_OUTCOME_FAILURE
    assert failed.user_agent == "Firefox/130"
    assert failed.ip_pseudonym
    assert "203.0.113" not in failed.ip_pseudonym

    logins = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="login.", page_size=1), metadata=a.md
    )
    assert len(logins.audit_events) == 1
    assert logins.next_page_token
    rest = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="login.", page_token=logins.next_page_token),
        metadata=a.md,
    )
    assert all(e.action.startswith("login.") for e in rest.audit_events)
    assert logins.audit_events[0].audit_event_id not in {
        e.audit_event_id for e in rest.audit_events
    }


async def test_another_account_sees_nothing_of_it_and_bad_filters_are_refused(identity):
    a = await identity.user()
    b = await identity.user()
    await rpc_error(identity.login(a.email, "wrong password!"))
    theirs = await identity.stub.ListAuditEvents(pb.ListAuditEventsRequest(), metadata=b.md)
    assert {e.actor_user_id for e in theirs.audit_events} == {b.user_id}
    err = await rpc_error(
        identity.stub.ListAuditEvents(pb.ListAuditEventsRequest(actor_user_id="me"), metadata=a.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        identity.stub.ListAuditEvents(pb.ListAuditEventsRequest(page_token="%%%"), metadata=a.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(identity.stub.ListAuditEvents(pb.ListAuditEventsRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
