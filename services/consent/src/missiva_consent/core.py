"""What consent's RPC groups and consumers share: its settings, keys, metrics, and operations.

``ConsentCore`` resolves people (person key from a PersonRef), purposes and evidence, signs
and verifies link tokens, appends to the ledger, answers checks and the preference centre,
and carries out an unsubscribe (in one statement when it can). Each operation runs inside
the caller's transaction or opens its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, links
from missiva_consent.domain import Change, Evidence, Purpose, Reason, Source, State
from missiva_consent.keys import ConsentKeys, link_ip_hash
from missiva_consent.links import LinkScope
from missiva_consent.store import base as db
from missiva_consent.store import ledger as ledger_store
from missiva_consent.store import link_hits as link_store
from missiva_consent.store import purposes as purpose_store
from missiva_consent.store import suppressions as suppression_store
from missiva_consent.store import unsubscribe as unsubscribe_store
from missiva_consent.suppression import SuppressionEntry, ip_abuse
from missiva_platform import metrics
from missiva_platform.crypto import InvalidToken
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.pagination import PageTokens
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from missiva_consent.config import ConsentSettings
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)


# Sources a caller may claim; the others only consent itself produces (links, feedback).
GRANT_SOURCES = frozenset({Source.FORM, Source.IMPORT, Source.API, Source.ADMIN, Source.SIGN_UP})
CHANGE_SOURCES = GRANT_SOURCES | {Source.PRIVACY_REQUEST}
DOI_SOURCES = frozenset({Source.FORM, Source.API, Source.IMPORT, Source.ADMIN})
MAX_BATCH = 1000
STREAM_CHUNK = 500
HISTORY_LIMIT = 50
MAX_IMPORT_ROWS = 100_000
# A row is an address (at most 320 characters) and a note (at most 500): 4 KiB holds any
# valid one even in four-byte characters. An import is at most 32 MiB however it is chunked.
MAX_IMPORT_ROW_BYTES = 4096
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_STREAM_KEYS = 50_000  # person keys named in one StreamCheckConsent
MAX_IMPORT_ERRORS = 100
PENDING_LIFETIME = timedelta(days=60)

ADDABLE_REASONS = frozenset(
    {Reason.MANUAL, Reason.UNSUBSCRIBED, Reason.HARD_BOUNCE, Reason.COMPLAINT}
)

PREFERENCE_CHECKBOX = "Preference centre: {name} switched on"


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Metrics:
    def __init__(self) -> None:
        self.unsubscribes = metrics.counter(
            "unsubscribes_total", "Unsubscribe requests that withdrew something.", ("scope",)
        )
        self.ip_flags = metrics.counter(
            "unsubscribe_ip_flagged_total",
            "Unsubscribes from an IP hash that unsubscribed many different people (review).",
        )
        self.ledger_entries = metrics.counter(
            "ledger_entries_total", "Entries appended to the consent ledger.", ("action",)
        )
        self.confirmation_emails = metrics.counter(
            "confirmation_emails_total", "Double opt-in confirmation emails queued."
        )


def _unsubscribed(scope: LinkScope, purpose_id: str) -> SuppressionEntry:
    """The suppression entry an unsubscribe link adds ('' purpose: every purpose)."""
    return SuppressionEntry(
        scope=scope.account_id,
        person_key=scope.person_key,
        reason=Reason.UNSUBSCRIBED,
        purpose_id=purpose_id,
        source=Source.UNSUBSCRIBE_LINK,
        source_detail=scope.campaign_id,
    )


class ConsentCore:
    """The operations behind the RPCs and the consumers (each inside one transaction)."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self.settings: ConsentSettings = app.settings  # type: ignore[assignment]
        self.keys = ConsentKeys(self.settings)
        self._metrics: _Metrics | None = None
        self._platform_seeded = False
        self._salts: dict[int, bytes] = {}
        # Signed page tokens of every list RPC (the keyring is read when first needed).
        self.pages = PageTokens(lambda: self.keys.tokens)

    @property
    def metrics(self) -> _Metrics:
        # Created on first use: metric names carry the service name, set when the app starts.
        if self._metrics is None:
            self._metrics = _Metrics()
        return self._metrics

    @property
    def pool(self) -> AsyncConnectionPool:
        assert self.app.pool is not None, "the service is not started"
        return self.app.pool

    @property
    def platform(self) -> str:
        return self.settings.platform_account_id

    async def ensure_platform(self) -> None:
        """Seed Missiva's own purposes once per process (idempotent in the database too), in
        a transaction of its own so that a caller's failing transaction cannot undo it."""
        if not self._platform_seeded:
            async with self.pool.connection() as conn, conn.transaction():
                await purpose_store.seed_platform_purposes(conn, self.platform)
            self._platform_seeded = True

    # -- people, purposes, evidence ----------------------------------------------------------

    def person_key(self, ref: Any, field_name: str = "person") -> tuple[str, str | None]:
        """(person key, email or None) of a PersonRef; the key is checked against the email."""
        email = ref.email.strip() if ref.HasField("email") and ref.email.strip() else None
        key = ref.person_key
        if email is not None:
            computed = self.keys.person_key(email, f"{field_name}.email")
            if key and key != computed:
                raise InvalidArgument.field(f"{field_name}.person_key", "does not match the email")
            return computed, email
        if not key:
            raise InvalidArgument.field(field_name, "needs a person_key or an email")
        return domain.check_person_key(key, f"{field_name}.person_key"), None

    async def purpose(self, conn: db.Conn, account_id: str, ref: str, field_name: str) -> Purpose:
        if not ref:
            raise InvalidArgument.field(field_name, "is required")
        if account_id == self.platform:
            await self.ensure_platform()
        found = await purpose_store.find_purpose(conn, account_id, ref)
        if found is None:
            raise NotFound(f"{field_name}: no purpose {ref!r} in this account")
        return found

    async def purposes(self, conn: db.Conn, account_id: str) -> list[Purpose]:
        if account_id == self.platform:
            await self.ensure_platform()
        return [p for p in await purpose_store.list_purposes(conn, account_id) if p.active]

    def evidence(
        self,
        message: pb.ConsentEvidence,
        *,
        allowed: frozenset[Source],
        account_id: str,
        now: datetime,
        grant: bool,
    ) -> Evidence:
        source = domain.from_pb(domain.SOURCE_PB, message.source, "evidence.source")
        if source not in allowed:
            raise InvalidArgument.field("evidence.source", f"{source} cannot be claimed here")
        if source is Source.SIGN_UP and account_id != self.platform:
            raise InvalidArgument.field("evidence.source", "sign-up is Missiva's own form")
        domain.check_text(message.checkbox_text, "evidence.checkbox_text")
        domain.check_text(message.source_detail, "evidence.source_detail", limit=500)
        domain.check_text(message.policy_document_id, "evidence.policy_document_id", limit=64)
        domain.check_text(message.policy_version, "evidence.policy_version", limit=64)
        if grant and source in (Source.FORM, Source.SIGN_UP) and not message.checkbox_text.strip():
            raise InvalidArgument.field(
                "evidence.checkbox_text", "the text shown next to the checkbox is the proof"
            )
        if grant and source is Source.IMPORT and not message.source_detail.strip():
            raise InvalidArgument.field(
                "evidence.source_detail", "name the import and where its proof of consent is"
            )
        given = message.given_at.ToDatetime(UTC) if message.HasField("given_at") else None
        if given is not None and given > now + timedelta(minutes=5):
            raise InvalidArgument.field("evidence.given_at", "must not be in the future")
        client = message.client
        return Evidence(
            source=source,
            source_detail=message.source_detail,
            checkbox_text=message.checkbox_text,
            document_id=message.policy_document_id,
            document_version=message.policy_version,
            ip_hash=self.keys.proof_ip(client.ip_address, given or now),
            user_agent=client.user_agent[: domain.MAX_USER_AGENT],
            occurred_at=given,
        )

    def verify_token(self, token: str, purpose: str) -> dict[str, Any]:
        if not token:
            raise InvalidArgument.field("token", "is required")
        try:
            return self.keys.tokens.verify(token, purpose)
        except InvalidToken as exc:
            message = links.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(message, [("LINK_EXPIRED", "token", message)]) from None
            raise InvalidArgument.field("token", message) from None

    def link_tokens(self, scope: LinkScope) -> tuple[str, str]:
        ttl = timedelta(days=self.settings.link_token_days)
        unsubscribe = self.keys.tokens.sign(links.UNSUBSCRIBE, scope.claims(), ttl=ttl)
        return unsubscribe, self.preferences_token(scope)

    def preferences_token(self, scope: LinkScope) -> str:
        ttl = timedelta(days=self.settings.link_token_days)
        return self.keys.tokens.sign(
            links.PREFERENCES, {"a": scope.account_id, "k": scope.person_key}, ttl=ttl
        )

    def url(self, page: str, token: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/{page}/{token}"

    async def append(
        self, conn: db.Conn, account_id: str, person_key: str, changes: Sequence[Change]
    ) -> list[domain.LedgerEntry]:
        entries = await ledger_store.append(conn, account_id, person_key, changes)
        for entry in entries:
            self.metrics.ledger_entries.labels(str(entry.action)).inc()
        return entries

    # -- checks ------------------------------------------------------------------------------

    async def check(
        self, conn: db.Conn, purpose: Purpose, person_keys: Sequence[str]
    ) -> list[pb.ConsentCheck]:
        rows = await ledger_store.batch_check(conn, purpose, person_keys)
        return [
            pb.ConsentCheck(
                person_key=key,
                allowed=domain.allowed(purpose, state, suppressed),
                status=domain.STATUS_PB[state.shown],
                suppressed=suppressed,
                version=state.version,
            )
            for key, state, suppressed in rows
        ]

    async def preference_items(
        self, conn: db.Conn, account_id: str, person_key: str
    ) -> tuple[list[pb.PreferenceItem], bool]:
        purposes = await self.purposes(conn, account_id)
        states = await ledger_store.person_states(conn, account_id, person_key)
        entries = await suppression_store.suppressions_of_person(conn, account_id, person_key)
        items, tracking = [], False
        for purpose in purposes:
            state = states.get(purpose.purpose_id, State())
            suppressed = any(
                domain.suppression_applies(e.reason, e.purpose_id, purpose) for e in entries
            )
            enabled = domain.allowed(purpose, state, suppressed)
            if purpose.kind == "engagement_tracking":
                tracking = tracking or enabled
            items.append(
                pb.PreferenceItem(
                    purpose_id=purpose.purpose_id,
                    name=purpose.name,
                    description=purpose.description,
                    category=domain.CATEGORY_PB[purpose.category],
                    enabled=enabled,
                    changeable=purpose.changeable,
                    status=domain.STATUS_PB[state.shown],
                    legal_basis=domain.BASIS_PB[purpose.legal_basis],
                )
            )
        return items, tracking

    # -- unsubscribe -------------------------------------------------------------------------

    async def unsubscribe(
        self, scope: LinkScope, *, all_purposes: bool, one_click: bool, ip: str
    ) -> tuple[list[Purpose], bool]:
        """Withdraw, suppress and emit in ONE transaction; (purposes withdrawn, anything new)."""
        now = utc_now()
        if not all_purposes and domain.is_uuid(scope.purpose_id):
            done = await self._unsubscribe_in_one_statement(
                scope, one_click=one_click, ip=ip, now=now
            )
            if done is not None:
                return done
        # One pipeline for the whole transaction: BEGIN, the writes nobody reads back, the
        # events and COMMIT travel with the next statement whose answer is needed, so the
        # request costs five round trips instead of eleven (same statements, same order).
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            if ip:
                await self.note_link_hit(conn, scope, ip, "unsubscribe", now)
            if all_purposes or scope.purpose_id == links.ALL_BUT_SYSTEM:
                targets = [p for p in await self.purposes(conn, scope.account_id) if p.changeable]
                suppression_purpose = ""
            else:
                purpose = await self.purpose(conn, scope.account_id, scope.purpose_id, "token")
                if not purpose.changeable:
                    raise FailedPrecondition(f"{purpose.name} cannot be unsubscribed from")
                targets, suppression_purpose = [purpose], purpose.purpose_id
            evidence = Evidence(
                source=Source.UNSUBSCRIBE_LINK,
                source_detail="rfc8058-one-click" if one_click else "link",
                campaign_id=scope.campaign_id,
            )
            changes = [Change(domain.withdrawal_action(p), evidence, p) for p in targets]
            entries = await self.append(conn, scope.account_id, scope.person_key, changes)
            _, added = await suppression_store.add_suppression(
                conn, _unsubscribed(scope, suppression_purpose)
            )
        changed = bool(entries) or added
        if changed:
            self.metrics.unsubscribes.labels("all" if not suppression_purpose else "purpose").inc()
        return targets, changed

    async def _unsubscribe_in_one_statement(
        self, scope: LinkScope, *, one_click: bool, ip: str, now: datetime
    ) -> tuple[list[Purpose], bool] | None:
        """The common case, one purpose, in two round trips and no explicit transaction: read
        the head and state, prepare every row here, apply them in one statement that re-checks
        the head under its lock. None when the head moved meanwhile (nothing was written, the
        caller takes the locking path), or the person has no chain yet."""
        if scope.account_id == self.platform:
            await self.ensure_platform()
        purpose_id = str(uuid.UUID(scope.purpose_id))  # as the database writes it
        suppression = _unsubscribed(scope, purpose_id)
        aggregate = domain.suppression_aggregate(
            suppression.scope, suppression.person_key, suppression.reason, suppression.purpose_id
        )
        async with self.pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                read = await unsubscribe_store.read_for_unsubscribe(
                    conn, scope.account_id, scope.person_key, purpose_id, aggregate
                )
                purpose = read.purpose
                if purpose is None:
                    raise NotFound(f"token: no purpose {scope.purpose_id!r} in this account")
                if not purpose.changeable:
                    raise FailedPrecondition(f"{purpose.name} cannot be unsubscribed from")
                if read.head is None:
                    return None
                seq, prev_hash, last_at = read.head
                evidence = Evidence(
                    source=Source.UNSUBSCRIBE_LINK,
                    source_detail="rfc8058-one-click" if one_click else "link",
                    campaign_id=scope.campaign_id,
                )
                plan = ledger_store.plan_append(
                    scope.account_id,
                    scope.person_key,
                    [Change(domain.withdrawal_action(purpose), evidence, purpose)],
                    seq=seq,
                    prev_hash=prev_hash,
                    last_at=last_at,
                    states={purpose.purpose_id: read.state},
                    now=now,
                )
                hit = None
                if ip:
                    hit = unsubscribe_store.LinkHit(
                        ip_hash=link_ip_hash(await self.link_salt(conn, now), ip, now),
                        at=now,
                        window_start=now
                        - timedelta(hours=self.settings.unsubscribe_abuse_window_hours),
                        threshold=self.settings.unsubscribe_abuse_threshold,
                    )
                try:
                    applied = await unsubscribe_store.apply_unsubscribe(
                        conn,
                        plan,
                        suppression,
                        aggregate=aggregate,
                        version=read.suppression_version + 1,
                        suppressed_event=suppression_store.suppressed_envelope(
                            suppression, aggregate, read.suppression_version + 1
                        ),
                        hit=hit,
                    )
                except psycopg.errors.SerializationFailure:
                    return None  # the suppression changed under us: take the locking path
            finally:
                await conn.set_autocommit(False)
        if applied is None:
            return None
        appended, added, people = applied
        for entry in plan.entries:
            self.metrics.ledger_entries.labels(str(entry.action)).inc()
        if hit is not None and ip_abuse(people, hit.threshold):
            async with self.pool.connection() as conn:
                await self.flag_link_ip(conn, hit.ip_hash, now, people)
        changed = appended or added
        if changed:
            self.metrics.unsubscribes.labels("purpose").inc()
        return [purpose], changed

    async def link_salt(self, conn: db.Conn, now: datetime) -> bytes:
        """This year's link-IP salt; read once per process and year (it never changes)."""
        year = now.year
        salt = self._salts.get(year)
        if salt is None:
            salt = self._salts[year] = await link_store.link_salt(conn, now)
        return salt

    async def note_link_hit(
        self, conn: db.Conn, scope: LinkScope, ip: str, kind: str, now: datetime
    ) -> None:
        """Keep only a salted hash of the visitor's IP; flag IPs that unsubscribe many people."""
        window = timedelta(hours=self.settings.unsubscribe_abuse_window_hours)
        ip_hash, people = await link_store.record_link_hit(
            conn,
            ip=ip,
            kind=kind,
            account_id=scope.account_id,
            person_key=scope.person_key,
            at=now,
            window=window,
            threshold=self.settings.unsubscribe_abuse_threshold,
            salt=await self.link_salt(conn, now),
        )
        if ip_abuse(people, self.settings.unsubscribe_abuse_threshold):
            await self.flag_link_ip(conn, ip_hash, now, people)

    async def flag_link_ip(self, conn: db.Conn, ip_hash: str, now: datetime, people: int) -> None:
        """Many people unsubscribed from one IP hash: count it, flag it for review once a day."""
        self.metrics.ip_flags.inc()
        if await link_store.flag_ip(conn, ip_hash, now.date(), people):
            log.warning(
                "unsubscribe abuse suspected: one IP hash unsubscribed many people",
                extra={"ip_hash": ip_hash[:12], "people": people},
            )

    # -- double opt-in -----------------------------------------------------------------------

    async def queue_confirmation(
        self, conn: db.Conn, row: dict[str, Any], names: list[str], expires: datetime
    ) -> None:
        token = self.keys.tokens.sign(
            links.CONFIRM,
            {"a": row["account_id"], "d": row["confirmation_id"]},
            ttl=expires - utc_now(),
        )
        command = links.confirmation_command(
            confirmation_id=row["confirmation_id"],
            account_id=row["account_id"],
            person_key=row["person_key"],
            email=row["email"],
            name=row.get("to_name") or "",
            locale=row["locale"],
            sends=row.get("sends", 1),
            url=self.url("confirm", token),
            token=token,
            purposes=names,
            expires=expires,
        )
        await db.emit(conn, command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=row["account_id"])
        self.metrics.confirmation_emails.inc()
