"""Page tokens are signed (the kit's pagination) and bound to their listing and filters."""

import base64
from datetime import UTC, datetime

import grpc
from identity_testkit import rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb


async def first_audit_page(identity, user, **filters):
    page = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(page_size=1, **filters), metadata=user.md
    )
    assert page.next_page_token  # sign-up, verification and login left several entries
    return page


async def refused(call) -> None:
    err = await rpc_error(call)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert err.details().startswith("page_token"), err.details()


async def test_a_page_token_works_only_for_its_listing_account_and_filters(identity):
    user = await identity.user()
    page = await first_audit_page(identity, user)
    token = page.next_page_token
    second = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(page_size=1, page_token=token), metadata=user.md
    )
    assert second.audit_events[0].audit_event_id != page.audit_events[0].audit_event_id
    for call in (
        identity.stub.ListApiKeys(pb.ListApiKeysRequest(page_token=token), metadata=user.md),
        identity.stub.ListMembers(pb.ListMembersRequest(page_token=token), metadata=user.md),
        identity.stub.ListSessions(pb.ListSessionsRequest(page_token=token), metadata=user.md),
        identity.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page_token=token, action_prefix="login."), metadata=user.md
        ),
    ):
        await refused(call)
    other = await identity.user()
    await refused(
        identity.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page_token=token), metadata=other.md
        )
    )


async def test_a_tampered_or_unsigned_token_is_refused_by_name(identity):
    user = await identity.user()
    token = (await first_audit_page(identity, user)).next_page_token
    version, kid, payload, mac = token.split(".")
    unsigned = base64.urlsafe_b64encode(
        f"{datetime.now(UTC).isoformat()}|00000000-0000-0000-0000-000000000000".encode()
    ).decode()  # the format before tokens were signed
    for bad in (
        f"{version}.{kid}.{payload}.{'A' * len(mac)}",
        f"{version}.{kid}.{payload[:-4]}.{mac}",
        unsigned,
        "²",
    ):
        await refused(
            identity.stub.ListAuditEvents(
                pb.ListAuditEventsRequest(page_token=bad), metadata=user.md
            )
        )
