"""Consent retention rules, as data. Every table holding personal data gets a rule here.

Kept without a rule, on purpose:

- ``consent_ledger`` (and ``ledger_chains``, ``consent_states``, ``ledger_digests``): kept
  forever. The ledger is the burden of proof of consent (GDPR Art. 7(1)); it holds person
  keys and IP pseudonyms, never addresses, survives erasure in that pseudonymised form, and
  the database refuses to change or delete it.
- ``suppressions``: kept forever, so an unsubscribed, bounced, complaining or erased person is
  never mailed again; its address column is emptied on erasure.
- ``user_person_keys``: every person key each of our users has had (their address changes,
  ``identity.user.email_changed``), so their requests reach their history under every key.
  Pseudonymous (user ids and keys, never an address), like the ledger those keys name, and
  kept while the user is: no age makes a link useless while its user may still ask. It is
  deleted by events, not by age: a user's rows go with their account
  (``identity.account.erased``) and with their own erasure (``privacy.py``). The ledger's
  ``user:<id>`` entries keep naming their key of the time either way.
- ``legal_documents``: published texts, no personal data, immutable.
- ``sender_identities``: who each account is to its recipients (name, postal address,
  privacy contact), declared by the account for its public pages: business contact data,
  not data about recipients. Kept while the account is, deleted with it
  (``identity.account.erased``).
- ``document_notices``: which changes of accounts' privacy notices were announced to their
  contacts, and when (``notices.py``); no personal data, append-only, kept with the documents.

Data-subject requests (``dsar.py``) are kept in three parts, for three different reasons:

- the exported content (``privacy_export_parts``, encrypted) is the person's data copied
  for them: it goes ``PRIVACY_EXPORT_DAYS`` (30) after the request completed, the time to
  download it, or 90 days after opening if the request never completed (past the 30-day
  deadline and its 60-day extension), so no copy outlives its purpose;
- the requester's IP hash on the request serves abuse detection only, like the link IP
  hashes: emptied after 90 days;
- the request and each service's answer (what was erased, what was kept and why) are the
  controller's proof of having answered (GDPR Art. 5(2) accountability, Art. 12(3)
  deadlines), asked for by a supervisory authority or in a dispute: kept
  ``PRIVACY_RECORD_DAYS`` (3 years, a common limitation period for such claims) after
  completion, then deleted. They are pseudonymised by design: the person only as the person
  key (and a user id), the requester as a role and an id, never an address or an IP, so
  keeping the proof of an erasure does not undo it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_consent.config import ConsentSettings
from missiva_consent.store import privacy_requests as dsar_store
from missiva_platform.retention import Action, RetentionRule

IP_HASH_DAYS = 90
UNFINISHED_EXPORT_DAYS = 90  # the 30-day deadline plus its 60-day extension

RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        table="double_opt_ins",
        time_column="started_at",
        max_age=timedelta(days=60),
        why="a subscription not confirmed within 60 days expires; confirmed ones are in the ledger",
    ),
    RetentionRule(
        table="link_hits",
        time_column="seen_at",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="unsubscribe/preference IP hashes serve abuse detection for 90 days only",
    ),
    RetentionRule(
        table="ip_review_flags",
        time_column="flagged_at",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="a review flag names an IP hash: it goes with the hashes",
    ),
    RetentionRule(
        table="ip_hash_salts",
        time_column="retire_after",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="once a year's hashes are gone, its salt goes too: any copy left is unlinkable",
    ),
    RetentionRule(
        table="verified_users",
        time_column="verified_at",
        max_age=timedelta(days=30),
        why="only needed until the user's sign-up event is processed (minutes, at worst days)",
    ),
    RetentionRule(
        table="suppression_removals",
        time_column="removed_at",
        max_age=timedelta(days=365),
        why="who lifted a suppression matters for a year of audits",
    ),
)


def privacy_request_rules(settings: ConsentSettings) -> tuple[RetentionRule, ...]:
    """The rules of data-subject requests (see the module docstring for why)."""
    export_days = timedelta(days=settings.privacy_export_days)

    async def delete_exports(conn: Any, cutoff: datetime) -> int:
        # cutoff = now - export window; unfinished requests go UNFINISHED_EXPORT_DAYS after opening
        now = cutoff + export_days
        return await dsar_store.delete_export_parts(
            conn,
            completed_before=cutoff,
            opened_before=now - timedelta(days=UNFINISHED_EXPORT_DAYS),
        )

    return (
        RetentionRule(
            table="privacy_export_parts",
            time_column="received_at",
            max_age=export_days,
            action=Action.CUSTOM,
            custom=delete_exports,
            why="an export is the person's data copied for them: kept only to be downloaded",
        ),
        RetentionRule(
            table="privacy_requests",
            time_column="opened_at",
            max_age=timedelta(days=IP_HASH_DAYS),
            action=Action.ANONYMISE,
            anonymise={"ip_hash": None},
            why="the requester's IP hash serves abuse detection for 90 days only",
        ),
        RetentionRule(
            table="privacy_requests",
            time_column="completed_at",
            max_age=timedelta(days=settings.privacy_record_days),
            why="proof of having answered (accountability), pseudonymised, for 3 years",
        ),
    )


def rules(settings: ConsentSettings) -> tuple[RetentionRule, ...]:
    """Every consent rule, with the configured data-subject request periods."""
    return (*RULES, *privacy_request_rules(settings))
