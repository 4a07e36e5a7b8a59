"""A signed-in user's own email preferences with the platform (``IssueMyPreferencesToken``,
then the preference centre's RPCs with that token): only the caller's own person, only with
a verified address and a person's token; SYSTEM stays on."""

from __future__ import annotations

import uuid

import grpc
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_platform.auth import CallerKind

from .conftest import PLATFORM
from .test_user_email_changes import eventually, registered

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def signed_up(consent) -> tuple[str, str]:
    """A user identity told consent about: (user id, person key)."""
    user, key = f"user-{uuid.uuid4().hex[:8]}", consent.key(consent.email())
    await consent.publish("identity.user.registered", registered(user, key))

    async def known() -> bool:
        try:
            await consent.stub.IssueMyPreferencesToken(
                pb.IssueMyPreferencesTokenRequest(),
                metadata=consent.md("their-account", roles=("member",), subject=user),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return False
        return True

    await eventually(known)
    return user, key


async def test_a_user_reads_and_changes_their_own_platform_preferences(consent) -> None:
    user, key = await signed_up(consent)
    reply = await consent.stub.IssueMyPreferencesToken(
        pb.IssueMyPreferencesTokenRequest(),
        metadata=consent.md("their-account", roles=("billing",), subject=user),
        timeout=10,
    )
    assert reply.expires_at.seconds > 0
    token = reply.preferences_token
    shown = await consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    assert shown.person_key == key
    items = {item.name: item for item in shown.items}
    marketing = next(i for i in shown.items if i.changeable and not i.enabled)
    system = [i for i in shown.items if not i.changeable]
    assert system, items
    assert all(i.enabled for i in system), items
    await consent.stub.UpdatePreferences(
        pb.UpdatePreferencesRequest(
            token=token,
            changes=[pb.PreferenceChange(purpose_id=marketing.purpose_id, enabled=True)],
        ),
        timeout=10,
    )
    after = await consent.stub.GetPreferences(pb.GetPreferencesRequest(token=token), timeout=10)
    assert {i.purpose_id: i.enabled for i in after.items}[marketing.purpose_id] is True
    assert any(r.purpose_id == marketing.purpose_id for r in after.history)
    rows = await consent.sql(
        "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND person_key = %s"
        " AND purpose_id = %s",
        PLATFORM,
        key,
        marketing.purpose_id,
    )
    assert rows[0][0] >= 1
    with pytest.raises(grpc.aio.AioRpcError) as system_off:
        await consent.stub.UpdatePreferences(
            pb.UpdatePreferencesRequest(
                token=token, changes=[pb.PreferenceChange(purpose_id=system[0].purpose_id)]
            ),
            timeout=10,
        )
    assert system_off.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_only_a_verified_person_asks_and_only_about_themselves(consent) -> None:
    user, _ = await signed_up(consent)
    for metadata, code in (
        (consent.md("their-account", subject=user, verified=False), "PERMISSION_DENIED"),
        (
            consent.md("their-account", kind=CallerKind.API_KEY, scopes=("consent:read",)),
            "PERMISSION_DENIED",
        ),
        (consent.md("their-account", subject=f"user-{uuid.uuid4().hex[:8]}"), "NOT_FOUND"),
        ((), "UNAUTHENTICATED"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await consent.stub.IssueMyPreferencesToken(
                pb.IssueMyPreferencesTokenRequest(), metadata=metadata, timeout=10
            )
        assert refused.value.code().name == code, metadata
