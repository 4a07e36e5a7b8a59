"""rebuild-consent-projection against a real consent service: after the projection lost its
rows (and kept stale ones), consent's states and suppressions come back, what consent no
longer holds goes, and the command refuses arguments it does not know."""

from __future__ import annotations

import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva_campaign.__main__ import rebuild_consent_projection
from missiva_campaign.consent_rebuild import rebuild_account
from missiva_platform.auth import CallerKind

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVIDENCE = consent_pb.ConsentEvidence(
    source=consent_pb.CONSENT_SOURCE_FORM, source_detail="form-1",
    checkbox_text="Yes, send me the letter", policy_document_id="privacy", policy_version="1",
)  # fmt: skip


async def test_the_projection_is_rebuilt_from_consent(forms_env) -> None:
    env, tenant = forms_env, forms_env.tenant()
    purpose = await env.purpose(tenant)
    granted, withdrew, bounced = env.email("g"), env.email("w"), env.email("b")
    md = env.consent_md(tenant)
    for email in (granted, withdrew):
        await env.consent.RecordConsent(
            consent_pb.RecordConsentRequest(person=types_pb2.PersonRef(email=email),
                                            purpose_id=purpose.purpose_id, evidence=EVIDENCE),
            metadata=md, timeout=10,
        )  # fmt: skip
    await env.consent.WithdrawConsent(
        consent_pb.WithdrawConsentRequest(
            person=types_pb2.PersonRef(email=withdrew),
            purpose_id=purpose.purpose_id,
            evidence=consent_pb.ConsentEvidence(source=consent_pb.CONSENT_SOURCE_API),
        ),
        metadata=md,
        timeout=10,
    )
    await env.consent.AddSuppression(
        consent_pb.AddSuppressionRequest(
            person=types_pb2.PersonRef(email=bounced), reason=consent_pb.SUPPRESSION_REASON_MANUAL
        ),
        metadata=env.consent_md(tenant, scopes=("suppressions:write",)),
        timeout=10,
    )
    state = "SELECT status FROM consent_states WHERE account_id = %s AND person_key = %s"
    await env.until_row(state + " AND status = 'withdrawn'", tenant, env.key(withdrew))

    # Data loss, and stale rows consent does not hold.
    await env.sql("DELETE FROM consent_states WHERE account_id = %s", tenant)
    await env.sql("DELETE FROM suppressions WHERE scope = %s", tenant)
    await env.sql(
        "INSERT INTO consent_states (account_id, person_key, purpose_id, status, kind,"
        " aggregate_version, changed_at, updated_at) VALUES (%s, 'stale', %s, 'granted',"
        " 'email', 9, now() - interval '1 day', now() - interval '1 day')",
        tenant, purpose.purpose_id,
    )  # fmt: skip
    await env.sql(
        "INSERT INTO suppressions (scope, person_key, reason, purpose_id, active,"
        " aggregate_version, updated_at) VALUES (%s, 'lifted', 'manual', '', true, 3,"
        " now() - interval '1 day')",
        tenant,
    )

    async def token_for(account: str) -> str:
        return env.issuer.token(
            tenant_id=account, kind=CallerKind.SERVICE, subject="campaign", audience="consent",
            scopes=("consent:read", "suppressions:read"), roles=(),
        )  # fmt: skip

    target = f"127.0.0.1:{env.consent_app.grpc_port}"
    counts = await rebuild_account(env.app.pool, target, token_for, tenant)
    assert counts == {"states": 2, "suppressions": 1}
    assert await env.scalar(state, tenant, env.key(granted)) == "granted"
    assert await env.scalar(state, tenant, env.key(withdrew)) == "withdrawn"
    assert await env.scalar(state, tenant, "stale") is None
    active = "SELECT active FROM suppressions WHERE scope = %s AND person_key = %s"
    assert await env.scalar(active, tenant, env.key(bounced)) is True
    assert await env.scalar(active, tenant, "lifted") is False
    # Run again: the same result (nothing doubled).
    assert await rebuild_account(env.app.pool, target, token_for, tenant) == counts
    assert await env.scalar(
        "SELECT count(*) FROM consent_states WHERE account_id = %s", tenant
    ) == 2  # fmt: skip


async def test_the_command_refuses_what_it_does_not_know(forms_env, capsys) -> None:
    assert await rebuild_consent_projection(forms_env.app, ["--everything"]) == 2
    assert "usage: rebuild-consent-projection" in capsys.readouterr().out
