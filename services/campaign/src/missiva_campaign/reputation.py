"""Delivery's reputation guard: a campaign whose bounce or complaint rate crossed its
threshold (``delivery.campaign.reputation_alerted``) is paused, as PauseCampaign pauses it
(same state change, same ``campaign.campaign.paused`` event), with the rates as the reason.
Only a sending campaign of the envelope's account is paused; a paused, cancelled or finished
one is left as it is. The person who resumes it decides; nothing else is automatic."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from missiva.delivery.v1 import events_pb2 as delivery
from missiva_campaign import campaign_events
from missiva_campaign.store import campaigns
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.outbox import add_events

log = logging.getLogger(__name__)

REPUTATION_ALERTED = "delivery.campaign.reputation_alerted"


def reason_of(alert: delivery.CampaignReputationAlerted) -> str:
    if alert.signal == delivery.REPUTATION_SIGNAL_COMPLAINT_RATE:
        what = f"complaint rate {alert.complaint_rate:.2%} over {alert.complaint_threshold:.2%}"
    else:
        what = f"bounce rate {alert.bounce_rate:.1%} over {alert.bounce_threshold:.1%}"
    return f"Paused by the reputation guard: {what} ({alert.sent} sent)."


async def reputation_alerted(conn: Any, event: EventEnvelope, msg: Any) -> None:
    alert = unpack(event, delivery.CampaignReputationAlerted)
    try:
        cid = str(uuid.UUID(alert.campaign_id))
    except ValueError:
        log.warning("reputation alert without a valid campaign id; skipped")
        return
    if not event.tenant_id:
        return
    row = await campaigns.get(conn, event.tenant_id, cid, lock=True)
    if row is None or row["status"] != "sending":
        return
    reason = reason_of(alert)
    paused = await campaigns.update(
        conn, event.tenant_id, cid, {"status": "paused", "pause_reason": reason}
    )
    await add_events(conn, [campaign_events.paused(paused, reason, "")])
    log.warning("campaign paused by the reputation guard", extra={"campaign_id": cid})


HANDLERS = {REPUTATION_ALERTED: reputation_alerted}
