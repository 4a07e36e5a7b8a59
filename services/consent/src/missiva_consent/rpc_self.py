"""A signed-in user's own email preferences with the platform (SYSTEM, PRODUCT_UPDATE,
MARKETING: the purposes of the platform account).

Rather than a second way to read and change preferences, ``IssueMyPreferencesToken`` gives
the user's gateway session a short-lived preference-centre token for themselves, and the
preference centre's own ``GetPreferences`` / ``UpdatePreferences`` do the rest: the same
evidence, history, events and rules (SYSTEM stays on). The person is the caller: their user
id from the verified token, mapped to their current person key (``user_person_keys``, fed
by identity's events). Only a person's own token with a verified address may ask: anyone can
sign up with someone else's address, and only a proved one is theirs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import links
from missiva_consent.core import utc_now
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import privacy_requests as dsar_store
from missiva_platform.auth import CallerKind, current_principal
from missiva_platform.errors import NotFound, PermissionDenied

MY_PREFERENCES_TTL = timedelta(minutes=15)  # one visit of the privacy page


class SelfRpcs(ConsentRpcs):
    async def IssueMyPreferencesToken(self, request: Any, context: Any) -> Any:
        principal = current_principal()
        if principal.kind is not CallerKind.USER:
            raise PermissionDenied("only a signed-in user asks for their own preferences")
        if not principal.email_verified:
            raise PermissionDenied(
                "verify your email address first (the link in our email); your preferences "
                "are those of a verified address"
            )
        async with self.pool.connection() as conn:
            key = await dsar_store.user_person_key(conn, self.svc.platform, principal.subject)
        if not key:
            raise NotFound("consent holds no email preferences for you yet")
        expires = utc_now() + MY_PREFERENCES_TTL
        token = self.svc.keys.tokens.sign(
            links.PREFERENCES, {"a": self.svc.platform, "k": key}, ttl=MY_PREFERENCES_TTL
        )
        reply = pb.IssueMyPreferencesTokenResponse(preferences_token=token)
        reply.expires_at.FromDatetime(expires)
        return reply
