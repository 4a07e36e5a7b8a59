"""GetReferralCode, RedeemReferralCode (the account's users) and RecordReferralClick (the
gateway service only). Rules in ``core_referrals.py``."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core_referrals import Referrals, valid_code
from missiva_billing.rpc_base import RpcBase
from missiva_billing.store import referrals
from missiva_platform.auth import current_tenant
from missiva_platform.crypto import IpPseudonymiser
from missiva_platform.errors import InvalidArgument
from missiva_platform.secrets import load_ip_pseudonymiser

log = logging.getLogger(__name__)
MAX_TEXT = 2048


class ReferralRpcs(RpcBase):
    @cached_property
    def referrals(self) -> Referrals:
        path = self.settings.ip_salts_file
        pseudonymiser: IpPseudonymiser | None = load_ip_pseudonymiser(path) if path else None
        if pseudonymiser is None:
            log.warning("billing: IP_SALTS_FILE is not set; referral clicks keep no network hash")
        return Referrals(self.credits, pseudonymiser)

    async def GetReferralCode(
        self, request: pb.GetReferralCodeRequest, context: Any
    ) -> pb.GetReferralCodeResponse:
        account = current_tenant()
        async with self.pool.connection() as conn, conn.transaction():
            code = await self.referrals.code(conn, account)
            referred, rewarded = await referrals.counts(conn, account)
        return pb.GetReferralCodeResponse(
            code=code, link_path=f"/r/{code}", referred_accounts=referred,
            rewarded_accounts=rewarded, reward_credits=self.settings.referral_reward_credits,
        )  # fmt: skip

    async def RedeemReferralCode(
        self, request: pb.RedeemReferralCodeRequest, context: Any
    ) -> pb.RedeemReferralCodeResponse:
        code = valid_code("code", request.code)
        account = current_tenant()
        reward = self.settings.referral_reward_credits
        async with self.pool.connection() as conn, conn.transaction():
            await self.referrals.redeem(conn, account, code, reward)
            found = await referrals.of_referee(conn, account)
        assert found is not None
        return pb.RedeemReferralCodeResponse(reward_credits=found.reward_credits)

    async def RecordReferralClick(
        self, request: pb.RecordReferralClickRequest, context: Any
    ) -> pb.RecordReferralClickResponse:
        code = valid_code("code", request.code)
        if len(request.referrer) > MAX_TEXT:
            raise InvalidArgument.field("referrer", f"at most {MAX_TEXT} characters")
        if len(request.client.user_agent) > MAX_TEXT:
            raise InvalidArgument.field("client.user_agent", f"at most {MAX_TEXT} characters")
        async with self.pool.connection() as conn, conn.transaction():
            known = await self.referrals.click(
                conn, code, referrer=request.referrer, user_agent=request.client.user_agent,
                ip=request.client.ip_address,
            )  # fmt: skip
        return pb.RecordReferralClickResponse(known=known)
