"""Consent's RPCs that a form submission calls: ``StartDoubleOptIn`` (the default) and
``RecordConsent`` (a form with single opt-in), with a service token of the form's account
(audience consent, scope ``consent:write``; from identity's ``IssueServiceToken``, or the
tests' ``token_for``).

Consent's own refusals reach the visitor as they are (an address that bounced, too many
confirmations today, a purpose that needs double opt-in); an unreachable consent is
UNAVAILABLE and nothing was accepted.
"""

from __future__ import annotations

import grpc

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import consent_service_pb2_grpc as consent_grpc
from missiva_campaign.credits import TokenFor
from missiva_platform.errors import FailedPrecondition, InvalidArgument, Unavailable

SCOPE = "consent:write"
PASSED_ON = {
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
}


class ConsentClient:
    def __init__(self, target: str, token_for: TokenFor) -> None:
        self._target = target
        self._token_for = token_for

    async def _call(self, tenant: str, method: str, request: object) -> object:
        token = await self._token_for(tenant)
        try:
            async with grpc.aio.insecure_channel(self._target) as channel:
                stub = consent_grpc.ConsentServiceStub(channel)
                return await getattr(stub, method)(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
                )
        except grpc.aio.AioRpcError as err:
            if err.code() in PASSED_ON:
                details = err.details() or "consent refused the subscription"
                if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    raise InvalidArgument.field("email", details) from None
                raise FailedPrecondition(details) from None
            raise Unavailable(
                f"consent could not take the subscription ({err.code().name}); try again"
            ) from None

    async def start_double_opt_in(
        self,
        tenant: str,
        *,
        email: str,
        purpose_ids: list[str],
        evidence: consent_pb.ConsentEvidence,
        locale: str,
        display_name: str,
        key: str,
    ) -> str:
        """The pending confirmation's id (the email is on its way)."""
        reply = await self._call(
            tenant,
            "StartDoubleOptIn",
            consent_pb.StartDoubleOptInRequest(
                person=types_pb2.PersonRef(email=email),
                purpose_ids=purpose_ids,
                evidence=evidence,
                locale=locale,
                display_name=display_name,
                idempotency_key=key,
            ),
        )
        assert isinstance(reply, consent_pb.StartDoubleOptInResponse)
        return reply.confirmation_id

    async def record(
        self,
        tenant: str,
        *,
        email: str,
        purpose_id: str,
        evidence: consent_pb.ConsentEvidence,
        key: str,
    ) -> None:
        await self._call(
            tenant,
            "RecordConsent",
            consent_pb.RecordConsentRequest(
                person=types_pb2.PersonRef(email=email),
                purpose_id=purpose_id,
                evidence=evidence,
                idempotency_key=key,
            ),
        )
