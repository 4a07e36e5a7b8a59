"""Identity announces every session it ends, so other services stop accepting its tokens."""

from identity_testkit import events_of, rpc_error

from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.events import unpack


async def revoked(identity, session_id: str) -> list[events_pb2.SessionsRevoked]:
    found = [
        unpack(e, events_pb2.SessionsRevoked)
        for e in await events_of(identity.js, "identity.session.revoked")
    ]
    return [r for r in found if session_id in r.session_ids]


async def test_a_sign_out_announces_the_ended_session(identity):
    user = await identity.user()
    await identity.stub.Logout(pb.LogoutRequest(refresh_token=user.tokens.refresh_token))
    [event] = await revoked(identity, user.tokens.session_id)
    assert event.reason
    assert event.revoked_at.seconds > 0


async def test_reusing_a_rotated_refresh_token_announces_the_session_as_ended(identity):
    user = await identity.user()
    first = user.tokens.refresh_token
    await identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first))
    assert await revoked(identity, user.tokens.session_id) == []
    await rpc_error(identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first)))
    [event] = await revoked(identity, user.tokens.session_id)
    assert "reuse" in event.reason
