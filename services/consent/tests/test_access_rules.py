"""Every consent RPC has an explicit rule; each scope and role a rule names is enforced."""

from __future__ import annotations

import grpc
import pytest

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent.servicer import ACCESS_RULES, SERVICE
from missiva_platform.auth import Access, CallerKind
from missiva_platform.testing.access import role_denials, scope_denials

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITES = (
    "RecordConsent",
    "WithdrawConsent",
    "AddSuppression",
    "ImportSuppressions",
    "ExportProof",
    "IssueLinkTokens",
)


async def test_every_method_open_to_keys_names_a_scope():
    for name, rule_ in ACCESS_RULES.items():
        if rule_.access not in (Access.ANONYMOUS, Access.SERVICE):
            assert rule_.scopes, name


async def test_a_token_lacking_the_scope_of_a_method_is_refused(consent):
    tenant = consent.tenant()

    def token_for(**kw):
        return consent.issuer.token(tenant_id=tenant, **kw)

    assert await scope_denials(consent.channel, SERVICE, ACCESS_RULES, token_for) == []
    assert (
        await scope_denials(
            consent.channel, SERVICE, ACCESS_RULES, token_for, kind=CallerKind.SERVICE,
            subject="campaign", audience="consent",
        )
        == []
    )  # fmt: skip


async def test_a_member_without_the_role_of_a_method_is_refused(consent):
    tenant = consent.tenant()

    def token_for(**kw):
        return consent.issuer.token(tenant_id=tenant, **kw)

    assert await role_denials(consent.channel, SERVICE, ACCESS_RULES, token_for) == []


@pytest.mark.parametrize("scopes", [("consent:read",), ("billing:read",)])
async def test_a_read_only_key_cannot_write_consent_or_suppressions(consent, scopes):
    """The probe of issue 14: such a key turned an unsubscribed person back to GRANTED."""
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    key = consent.issuer.token(tenant_id=tenant, kind=CallerKind.API_KEY, roles=(), scopes=scopes)
    metadata = (("authorization", f"Bearer {key}"),)
    calls = {
        "RecordConsent": consent.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=consent.person(email),
                purpose_id=purpose.purpose_id,
                evidence=consent.form_evidence(),
            ),
            metadata=metadata,
            timeout=10,
        ),
        "WithdrawConsent": consent.stub.WithdrawConsent(
            pb.WithdrawConsentRequest(person=consent.person(email), purpose_id=purpose.purpose_id),
            metadata=metadata,
            timeout=10,
        ),
        "AddSuppression": consent.stub.AddSuppression(
            pb.AddSuppressionRequest(person=consent.person(email)), metadata=metadata, timeout=10
        ),
        "ExportProof": consent.stub.ExportProof(
            pb.ExportProofRequest(person=consent.person(email)), metadata=metadata, timeout=10
        ),
        "IssueLinkTokens": consent.stub.IssueLinkTokens(
            pb.IssueLinkTokensRequest(person=consent.person(email)), metadata=metadata, timeout=10
        ),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED, name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.ImportSuppressions(
            iter([pb.ImportSuppressionsRequest()]), metadata=metadata, timeout=10
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await consent.scalar(
        "SELECT count(*) FROM consent_ledger WHERE account_id = %s", tenant
    ) == 0  # fmt: skip
    assert set(WRITES) <= set(ACCESS_RULES)


async def test_a_billing_member_cannot_write_consent(consent):
    tenant, email = consent.tenant(), consent.email()
    purpose = await consent.purpose(tenant)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.RecordConsent(
            pb.RecordConsentRequest(
                person=consent.person(email),
                purpose_id=purpose.purpose_id,
                evidence=consent.form_evidence(),
            ),
            metadata=consent.md(tenant, roles=("billing",)),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
