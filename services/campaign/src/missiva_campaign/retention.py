"""Campaign retention rules, as data. Every table holding personal data gets a rule here.

- ``contacts``: a contact in the trash is purged 30 days after it was deleted (its
  ``document_notices_sent`` rows go with it, by the foreign key).
- ``suppressions``: a lifted entry (a person key only) is dropped 30 days after it was lifted;
  an active one stays as long as consent's list holds it (an erasure's never goes).
- ``consent_states``: a withdrawn, objected or unrecorded state (it means "no consent", as no
  row does) is dropped 30 days after it was applied; the others stay while consent holds them.
- ``segments``: a segment in the trash is purged 30 days after it was deleted (a rule tree
  may name an address or a name as a value).
- ``contact_imports``: an import (its options: who collected the consent, the consent text;
  its rejected rows' line numbers and reasons, by the foreign key) is kept 90 days after its
  last progress, long enough to download the report and resume; the contacts it made stay.
- ``campaign_recipients``: a campaign's recipient snapshot loses who each recipient was
  (contact id, person key) 6 months after the send ended (completed or cancelled); the
  campaign's counters, outcomes and statistics stay as anonymous aggregates. The unique
  open/click markers (``campaign_engagement``) go at the same time.
- ``forms``: a form in the trash is purged 30 days after it was deleted (its submissions go
  with it, by the foreign key).
- ``form_submissions``: what a visitor typed into a form is kept until consent confirms (then
  the contact holds it and the submission keeps only the person key) and at most 30 days
  (consent's confirmation links expire sooner); the row itself goes 30 days after it was
  taken, confirmed or not.
- ``contacts`` (inactivity): a contact with no interaction (a counted open or click, a
  confirmed form) for 24 months is flagged (``inactive_since``); in an account whose contact
  policy says ``delete_inactive`` it goes to the trash, and from there as any deleted one.
- ``templates``, ``campaigns``, ``contact_lists``: one in the trash is purged 30 days after it
  was deleted (a template's text or a campaign's subject may name a person). A campaign takes
  its recipient snapshot, engagement markers and statistics with it, by the foreign keys (the
  snapshot of a send that ended 6 months ago was already anonymised above); a list its
  memberships.
- ``document_notices_sent``: which contact was told about which version (contact id, locale,
  time) is kept 2 years as proof of having informed them, then deleted.
- ``contact_rectifications``: which of their fields a person corrected, and when (no
  values), is kept 2 years as the record of the rectification, then deleted; it goes with
  the contact before that (erasure, purge), by the foreign key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_campaign.domain import TRASH_WINDOW
from missiva_platform.retention import Action, RetentionRule

SNAPSHOT_AGE = timedelta(days=182)
INACTIVITY = timedelta(days=730)  # 24 months


async def inactive_contacts(conn: Any, cutoff: datetime) -> int:
    """Flag the contacts with no interaction since ``cutoff`` (24 months); in accounts whose
    policy says so, move them to the trash (``ContactDeleted`` for each), purged 30 days on."""
    from missiva_campaign import outgoing  # the retention rules stay importable on their own
    from missiva_platform.outbox import add_events

    now = cutoff + INACTIVITY
    cur = await conn.execute(
        "UPDATE contacts SET inactive_since = %s WHERE deleted_at IS NULL"
        " AND inactive_since IS NULL AND COALESCE(last_interaction_at, created_at) < %s",
        (now, cutoff),
    )
    flagged = int(cur.rowcount)
    cur = await conn.execute(
        "UPDATE contacts c SET deleted_at = %s, updated_at = %s, version = c.version + 1"
        " FROM contact_policies p"
        " WHERE p.account_id = c.account_id AND p.delete_inactive AND c.deleted_at IS NULL"
        " AND c.inactive_since IS NOT NULL"
        " RETURNING c.id::text AS id, c.account_id, c.person_key, c.version",
        (now, now),
    )
    names = [c.name for c in cur.description or ()]
    gone = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
    if gone:
        await add_events(conn, [outgoing.contact_deleted(row) for row in gone])
    return flagged + len(gone)


async def anonymise_snapshots(conn: Any, cutoff: datetime) -> int:
    """Blank the recipients of sends that ended before ``cutoff`` (aggregates stay)."""
    await conn.execute(
        "DELETE FROM campaign_engagement e USING campaigns k WHERE k.id = e.campaign_id"
        " AND k.completed_at < %s",
        (cutoff,),
    )
    cur = await conn.execute(
        "UPDATE campaign_recipients r SET contact_id = NULL, person_key = NULL,"
        " anonymised_at = now() FROM campaigns k WHERE k.id = r.campaign_id"
        " AND k.completed_at < %s AND r.anonymised_at IS NULL",
        (cutoff,),
    )
    return int(cur.rowcount)


RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        table="contacts",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted contact can be restored from the trash for 30 days, then it is purged",
    ),
    RetentionRule(
        table="suppressions",
        time_column="updated_at",
        max_age=timedelta(days=30),
        where="NOT active",
        why="a lifted suppression no longer stops any mail; 30 days outlast late events",
    ),
    RetentionRule(
        table="consent_states",
        time_column="updated_at",
        max_age=timedelta(days=30),
        where="status IN ('withdrawn', 'objected', 'not_recorded')",
        why="a state meaning no consent works like no row; 30 days outlast late events",
    ),
    RetentionRule(
        table="segments",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted segment can be restored from the trash for 30 days, then it is purged",
    ),
    RetentionRule(
        table="contact_imports",
        time_column="updated_at",
        max_age=timedelta(days=90),
        why="an import's progress and rejected rows serve its report and its resumption",
    ),
    RetentionRule(
        table="campaign_recipients",
        time_column="completed_at",
        max_age=SNAPSHOT_AGE,
        action=Action.CUSTOM,
        custom=anonymise_snapshots,
        why="who received a campaign is kept 6 months after the send, then only the counts",
    ),
    RetentionRule(
        table="forms",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted form can be restored from the trash for 30 days, then it is purged",
    ),
    RetentionRule(
        table="form_submissions",
        time_column="created_at",
        max_age=timedelta(days=30),
        why="a submission waits for consent's confirmation, whose link expires sooner",
    ),
    RetentionRule(
        table="contacts",
        time_column="last_interaction_at",
        max_age=INACTIVITY,
        action=Action.CUSTOM,
        custom=inactive_contacts,
        why="a contact with no interaction for 24 months is flagged; deleted if the account"
        " chose so (then purged from the trash 30 days later)",
    ),
    RetentionRule(
        table="templates",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted template can be restored from the trash for 30 days, then it is purged",
    ),
    RetentionRule(
        table="campaigns",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted campaign can be restored from the trash for 30 days, then it is purged"
        " with its recipients and statistics",
    ),
    RetentionRule(
        table="contact_lists",
        time_column="deleted_at",
        max_age=TRASH_WINDOW,
        why="a deleted list can be restored from the trash for 30 days, then it is purged"
        " with its memberships",
    ),
    RetentionRule(
        table="document_notices_sent",
        time_column="sent_at",
        max_age=timedelta(days=730),
        why="proof that a contact was told about a privacy notice change, kept two years",
    ),
    RetentionRule(
        table="contact_rectifications",
        time_column="corrected_at",
        max_age=timedelta(days=730),
        why="the record of a person's own corrections (fields and time), kept two years",
    ),
)
