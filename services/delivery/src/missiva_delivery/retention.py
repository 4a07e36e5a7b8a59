"""Delivery retention rules, as data. Every table holding personal data gets a rule here.

- ``messages`` (the send log: person key, template, state, the SMTP reply; the address and
  variables only while the message may still be sent): 90 days after it was queued
  (``SEND_LOG_DAYS``). Its ``message_events`` go with it (ON DELETE CASCADE).
- ``bounce_records`` (bounce and complaint reports: person key, class, the reply without the
  address, the recipient's domain): 90 days after they arrived, the send log's rule.
- ``provider_events`` (a provider's webhook events; the person key of the message): 18 months
  (``PROVIDER_EVENTS_DAYS``), then the event id is forgotten too (a replay that old fails the
  signature's 300-second window anyway).
- ``campaign_reputation`` (the guard's last alert per campaign; no person): 18 months after its
  last change.
- ``suppressions`` hold a person key and why it may not be mailed: kept as long as the
  suppression applies (deleting it would mail a dead address again), erased with the person.
- ``consent_blocks`` (the replica of consent's suppressions and purpose blocks, by person
  key): an active block is kept while consent says it applies; a lifted one is deleted 30
  days after it was lifted (consent keeps the history).
- ``campaign_contents`` (a campaign's compiled template and sender: no personal data) goes
  with the send log, ``SEND_LOG_DAYS`` after the first batch (no row of it can still be sent:
  messages give up after ``GIVE_UP_AFTER_HOURS``), but not while an online copy of one of
  its messages is kept (the page is rendered from it).
- ``online_copies`` (a sent campaign message's sealed merge data, for its view-online page;
  online.py): ``VIEW_ONLINE_DAYS`` after the send (default 30), erased with the person, and
  with its ledger row (ON DELETE CASCADE).
- ``campaign_holds`` (a campaign's pause or cancellation: no personal data) goes
  ``SEND_LOG_DAYS`` after its last change, with the rows it held.
- ``engagement_events`` (personal opens and clicks: person key, message, link position,
  device class; only of people who allowed engagement tracking): 18 months
  (``ENGAGEMENT_DAYS``), erased with the person before that.
- ``engagement_counts`` (opens and clicks per campaign and link position: no person) and the
  link sets of tracked revisions (``tracked_contents`` and their ``tracked_links``: a
  template's URLs, no person): 18 months after their last use; a link older than that is a
  plain 404.
- ``sender_domains`` hold no personal data (a domain, its DNS check results). Their
  ``dkim_keys`` are secrets: a key superseded by a rotation is deleted
  ``DKIM_RETIRE_AFTER_DAYS`` after it stopped signing (mail it signed is older by then).
"""

from __future__ import annotations

from datetime import timedelta

from missiva_delivery.config import DeliverySettings
from missiva_platform.retention import RetentionRule


def rules(settings: DeliverySettings | None = None) -> tuple[RetentionRule, ...]:
    days = settings.send_log_days if settings is not None else 90
    provider_days = settings.provider_events_days if settings is not None else 548
    dkim_days = settings.dkim_retire_after_days if settings is not None else 7
    hook_days = settings.webhook_delivery_days if settings is not None else 30
    engagement_days = settings.engagement_days if settings is not None else 548
    online_days = settings.view_online_days if settings is not None else 30
    return (
        RetentionRule(
            table="online_copies",
            time_column="sent_at",
            max_age=timedelta(days=online_days),
            why="a message's merge data is kept for its view-online page for a month after the"
            " send, then the page is gone",
        ),
        RetentionRule(
            table="engagement_events",
            time_column="occurred_at",
            max_age=timedelta(days=engagement_days),
            why="personal opens and clicks (with tracking consent) are kept 18 months",
        ),
        RetentionRule(
            table="engagement_counts",
            time_column="updated_at",
            max_age=timedelta(days=engagement_days),
            why="a campaign's anonymous open and click counters, 18 months after the last",
        ),
        RetentionRule(
            table="tracked_contents",
            time_column="created_at",
            max_age=timedelta(days=engagement_days),
            why="a tracked revision's links (no person) lead on for 18 months; its links go too",
        ),
        RetentionRule(
            table="bounce_records",
            time_column="received_at",
            max_age=timedelta(days=days),
            why="bounce and complaint reports follow the send log they explain",
        ),
        RetentionRule(
            table="provider_events",
            time_column="received_at",
            max_age=timedelta(days=provider_days),
            why="provider events are kept 18 months, then forgotten with their ids",
        ),
        RetentionRule(
            table="campaign_reputation",
            time_column="updated_at",
            max_age=timedelta(days=provider_days),
            why="the reputation guard's state of a campaign long finished",
        ),
        RetentionRule(
            table="messages",
            time_column="queued_at",
            max_age=timedelta(days=days),
            why="the send log answers 'did my mail go out' for three months; its events go too",
        ),
        RetentionRule(
            table="consent_blocks",
            time_column="updated_at",
            max_age=timedelta(days=30),
            where="NOT active",
            why="a lifted block stops nothing; consent keeps the history of the entry",
        ),
        RetentionRule(
            table="campaign_contents",
            time_column="created_at",
            max_age=timedelta(days=days),
            where="NOT EXISTS (SELECT 1 FROM online_copies o"
            " WHERE o.tenant_id = campaign_contents.tenant_id"
            " AND o.campaign_id = campaign_contents.campaign_id"
            " AND o.content_revision = campaign_contents.template_revision)",
            why="what a campaign rendered is kept as long as the send log of its messages",
        ),
        RetentionRule(
            table="campaign_holds",
            time_column="updated_at",
            max_age=timedelta(days=days),
            why="a pause or cancellation matters only while the campaign's rows are kept",
        ),
        RetentionRule(
            table="dkim_keys",
            time_column="superseded_at",
            max_age=timedelta(days=dkim_days),
            why="a superseded DKIM key stays published until mail it signed is old, then goes",
        ),
        RetentionRule(
            table="webhook_deliveries",
            time_column="created_at",
            max_age=timedelta(days=hook_days),
            why="a webhook delivery is retried for a day at most; a month of history answers"
            " 'did my endpoint get it', then the payload (a contact id) goes",
        ),
    )


RULES: tuple[RetentionRule, ...] = rules()
