"""A confirmed email change is announced as ``identity.user.email_changed``: both person
keys, never an address, exactly once per change."""

import grpc
from identity_testkit import events_of, new_email, rpc_error

from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.events import unpack

SUBJECT = "identity.user.email_changed"


async def _person_key(identity, user_id: str) -> str:
    [(key,)] = await identity.sql("SELECT person_key FROM users WHERE id = %s", user_id)
    return key


async def _change(identity, user, new: str) -> None:
    await identity.stub.RequestEmailChange(
        pb.RequestEmailChangeRequest(new_email=new), metadata=user.md
    )
    token = await identity.mailbox.token(new, "confirm_email_change", "confirm_url")
    await identity.stub.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(token=token))
    # The same link again changes nothing and announces nothing.
    err = await rpc_error(
        identity.stub.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(token=token))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _changes_of(identity, user_id: str, expected: int) -> list:
    found: list = []
    for _ in range(20):  # the relay publishes shortly after the commit
        found = [
            e
            for e in await events_of(identity.js, SUBJECT)
            if unpack(e, events_pb2.UserEmailChanged).user_id == user_id
        ]
        if len(found) >= expected:
            break
    return found


async def test_a_confirmed_change_emits_one_event_with_both_keys_and_no_address(identity):
    user = await identity.user()
    first_key = await _person_key(identity, user.user_id)
    requested = new_email("requested")
    # Only asking for a change announces nothing (the single event below is the confirm's).
    await identity.stub.RequestEmailChange(
        pb.RequestEmailChangeRequest(new_email=requested), metadata=user.md
    )

    moved = new_email("moved")
    await _change(identity, user, moved)
    second_key = await _person_key(identity, user.user_id)
    assert second_key != first_key
    [envelope] = await _changes_of(identity, user.user_id, 1)
    changed = unpack(envelope, events_pb2.UserEmailChanged)
    assert (changed.user_id, changed.account_id) == (user.user_id, user.account_id)
    assert (changed.old_person_key, changed.new_person_key) == (first_key, second_key)
    assert changed.changed_at.seconds > 0
    assert (envelope.tenant_id, envelope.aggregate_id) == (user.account_id, user.user_id)
    raw = envelope.SerializeToString()
    for address in (user.email, moved, requested):
        assert address.encode() not in raw
        assert address.split("@")[0].encode() not in raw

    # A second change is a second event, from the second key to the third.
    again = new_email("again")
    await _change(identity, user, again)
    third_key = await _person_key(identity, user.user_id)
    found = await _changes_of(identity, user.user_id, 2)
    assert [
        (m.old_person_key, m.new_person_key)
        for m in (unpack(e, events_pb2.UserEmailChanged) for e in found)
    ] == [(first_key, second_key), (second_key, third_key)]


async def test_a_change_away_from_an_unverified_address_names_no_old_key(identity):
    """Anyone can sign up with someone else's address: until it is verified it is not proven
    to be the user's, so the change does not hand its history (at consent) to them."""
    user = await identity.user(verified=False)
    moved = new_email("moved")
    await _change(identity, user, moved)
    [envelope] = await _changes_of(identity, user.user_id, 1)
    changed = unpack(envelope, events_pb2.UserEmailChanged)
    assert changed.old_person_key == ""
    assert changed.new_person_key == await _person_key(identity, user.user_id)
