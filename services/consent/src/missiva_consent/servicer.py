"""Consent gRPC servicer: thin — validate, call domain/store, raise typed errors.

The tenant of every account-scoped call comes from the caller's token; the public links
(unsubscribe, preferences, confirm) are anonymous calls authorised by their signed token,
which names the account and the person.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from google.protobuf import field_mask_pb2

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import consent_service_pb2_grpc
from missiva_consent import domain, store
from missiva_consent.domain import (
    Action,
    Basis,
    Change,
    Evidence,
    LinkScope,
    Purpose,
    Reason,
    Source,
    State,
    SuppressionEntry,
)
from missiva_consent.dsar import PrivacyRequests
from missiva_consent.keys import ConsentKeys, link_ip_hash
from missiva_consent.legal_defaults import publish_document
from missiva_platform import metrics
from missiva_platform.auth import (
    Access,
    MethodRule,
    current_principal_or_none,
    current_tenant,
    rule,
)
from missiva_platform.crypto import InvalidToken
from missiva_platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from missiva_platform.idempotency import run_once
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from missiva_consent.config import ConsentSettings
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

ADMIN_ROLES = tuple(sorted(domain.ADMIN_ROLES))
MEMBER_ROLES = (*ADMIN_ROLES, "member")
SERVICE = "missiva.consent.v1.ConsentService"


def _rules(
    access: Access, scope: str, roles: tuple[str, ...], *names: str
) -> dict[str, MethodRule]:
    return {name: rule(access, scopes=(scope,), roles=roles) for name in names}


# Every method's access rule (the kit refuses to start with a gap or a misspelt name). Users are
# gated by role (their tokens carry scope "*"), API keys and services by scope. Writes are for
# admins, reads for members too; the billing role sees no consent data.
ACCESS_RULES: dict[str, MethodRule] = {
    **_rules(Access.USER, "consent:write", ADMIN_ROLES, "CreatePurpose", "UpdatePurpose"),
    **_rules(Access.AUTHENTICATED, "consent:read", MEMBER_ROLES, "ListPurposes"),
    **_rules(Access.USER, "documents:write", ADMIN_ROLES, "PublishDocumentVersion"),
    **_rules(
        Access.AUTHENTICATED, "consent:write", ADMIN_ROLES,
        "RecordConsent", "WithdrawConsent", "RestrictProcessing", "LiftRestriction",
        "StartDoubleOptIn", "ResendConfirmation",
    ),
    **_rules(
        Access.AUTHENTICATED, "consent:read", MEMBER_ROLES,
        "GetConsentState", "CheckConsent", "BatchCheckConsent", "StreamCheckConsent",
    ),
    # The proof holds evidence (hashed IPs, user agents, checkbox texts): admins only.
    **_rules(Access.AUTHENTICATED, "proofs:read", ADMIN_ROLES, "ExportProof"),
    # Link tokens let their holder change a person's preferences.
    **_rules(Access.AUTHENTICATED, "links:write", ADMIN_ROLES, "IssueLinkTokens"),
    **_rules(
        Access.AUTHENTICATED, "suppressions:write", ADMIN_ROLES,
        "AddSuppression", "RemoveSuppression", "ImportSuppressions",
    ),
    **_rules(
        Access.AUTHENTICATED, "suppressions:read", MEMBER_ROLES,
        "CheckSuppression", "ListSuppressions", "ExportSuppressions",
    ),
    **_rules(Access.USER, "privacy:read", ADMIN_ROLES, "ListPrivacyRequests"),
    **_rules(Access.USER, "privacy:write", ADMIN_ROLES, "ExtendPrivacyRequest"),
    # Public texts: anyone may read them (the sign-up page shows them before any login).
    "GetDocument": rule(Access.ANONYMOUS),
    "ListDocumentVersions": rule(Access.ANONYMOUS),
    "GetCurrentDocuments": rule(Access.ANONYMOUS),
    # Public links, authorised by the signed token they carry.
    "ConfirmDoubleOptIn": rule(Access.ANONYMOUS),
    "Unsubscribe": rule(Access.ANONYMOUS),
    "GetPreferences": rule(Access.ANONYMOUS),
    "UpdatePreferences": rule(Access.ANONYMOUS),
    "SendMyDataLink": rule(Access.ANONYMOUS),
    # Privacy requests: the caller's token (an admin, a privacy:write key, the signed-in
    # person) or a my-data token decides (dsar.py); the export download is authorised by the
    # signed token of its link.
    "OpenPrivacyRequest": rule(Access.ANONYMOUS),
    "GetPrivacyRequest": rule(Access.ANONYMOUS),
    "DownloadPrivacyExport": rule(Access.ANONYMOUS),
}  # fmt: skip

# Sources a caller may claim; the others only consent itself produces (links, feedback).
GRANT_SOURCES = frozenset({Source.FORM, Source.IMPORT, Source.API, Source.ADMIN, Source.SIGN_UP})
CHANGE_SOURCES = GRANT_SOURCES | {Source.PRIVACY_REQUEST}
DOI_SOURCES = frozenset({Source.FORM, Source.API, Source.IMPORT, Source.ADMIN})
MAX_BATCH = 1000
STREAM_CHUNK = 500
HISTORY_LIMIT = 50
MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_ERRORS = 100
PENDING_LIFETIME = timedelta(days=60)
ADDABLE_REASONS = frozenset(
    {Reason.MANUAL, Reason.UNSUBSCRIBED, Reason.HARD_BOUNCE, Reason.COMPLAINT}
)
PREFERENCE_CHECKBOX = "Preference centre: {name} switched on"


def _now() -> datetime:
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


class ConsentService:
    """The operations behind the RPCs and the consumers (each inside one transaction)."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self.settings: ConsentSettings = app.settings  # type: ignore[assignment]
        self.keys = ConsentKeys(self.settings)
        self._metrics: _Metrics | None = None
        self._platform_seeded = False
        self._salts: dict[int, bytes] = {}

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
                await store.seed_platform_purposes(conn, self.platform)
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

    async def purpose(
        self, conn: store.Conn, account_id: str, ref: str, field_name: str
    ) -> Purpose:
        if not ref:
            raise InvalidArgument.field(field_name, "is required")
        if account_id == self.platform:
            await self.ensure_platform()
        found = await store.find_purpose(conn, account_id, ref)
        if found is None:
            raise NotFound(f"{field_name}: no purpose {ref!r} in this account")
        return found

    async def purposes(self, conn: store.Conn, account_id: str) -> list[Purpose]:
        if account_id == self.platform:
            await self.ensure_platform()
        return [p for p in await store.list_purposes(conn, account_id) if p.active]

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
            message = domain.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(message, [("LINK_EXPIRED", "token", message)]) from None
            raise InvalidArgument.field("token", message) from None

    def link_tokens(self, scope: LinkScope) -> tuple[str, str]:
        ttl = timedelta(days=self.settings.link_token_days)
        unsubscribe = self.keys.tokens.sign(domain.UNSUBSCRIBE, scope.claims(), ttl=ttl)
        return unsubscribe, self.preferences_token(scope)

    def preferences_token(self, scope: LinkScope) -> str:
        ttl = timedelta(days=self.settings.link_token_days)
        return self.keys.tokens.sign(
            domain.PREFERENCES, {"a": scope.account_id, "k": scope.person_key}, ttl=ttl
        )

    def url(self, page: str, token: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/{page}/{token}"

    async def append(
        self, conn: store.Conn, account_id: str, person_key: str, changes: Sequence[Change]
    ) -> list[domain.LedgerEntry]:
        entries = await store.append(conn, account_id, person_key, changes)
        for entry in entries:
            self.metrics.ledger_entries.labels(str(entry.action)).inc()
        return entries

    # -- checks ------------------------------------------------------------------------------

    async def check(
        self, conn: store.Conn, purpose: Purpose, person_keys: Sequence[str]
    ) -> list[pb.ConsentCheck]:
        rows = await store.batch_check(conn, purpose, person_keys)
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
        self, conn: store.Conn, account_id: str, person_key: str
    ) -> tuple[list[pb.PreferenceItem], bool]:
        purposes = await self.purposes(conn, account_id)
        states = await store.person_states(conn, account_id, person_key)
        entries = await store.suppressions_of_person(conn, account_id, person_key)
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
        self,
        scope: LinkScope,
        *,
        all_purposes: bool,
        one_click: bool,
        ip: str,
    ) -> tuple[list[Purpose], bool]:
        """Withdraw, suppress and emit in ONE transaction; (purposes withdrawn, anything new)."""
        now = _now()
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
            if all_purposes or scope.purpose_id == domain.ALL_BUT_SYSTEM:
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
            _, added = await store.add_suppression(conn, _unsubscribed(scope, suppression_purpose))
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
                read = await store.read_for_unsubscribe(
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
                plan = store.plan_append(
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
                    hit = store.LinkHit(
                        ip_hash=link_ip_hash(await self.link_salt(conn, now), ip, now),
                        at=now,
                        window_start=now
                        - timedelta(hours=self.settings.unsubscribe_abuse_window_hours),
                        threshold=self.settings.unsubscribe_abuse_threshold,
                    )
                try:
                    applied = await store.apply_unsubscribe(
                        conn,
                        plan,
                        suppression,
                        aggregate=aggregate,
                        version=read.suppression_version + 1,
                        suppressed_event=store.suppressed_envelope(
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
        if hit is not None and domain.ip_abuse(people, hit.threshold):
            async with self.pool.connection() as conn:
                await self.flag_link_ip(conn, hit.ip_hash, now, people)
        changed = appended or added
        if changed:
            self.metrics.unsubscribes.labels("purpose").inc()
        return [purpose], changed

    async def link_salt(self, conn: store.Conn, now: datetime) -> bytes:
        """This year's link-IP salt; read once per process and year (it never changes)."""
        year = now.year
        salt = self._salts.get(year)
        if salt is None:
            salt = self._salts[year] = await store.link_salt(conn, now)
        return salt

    async def note_link_hit(
        self, conn: store.Conn, scope: LinkScope, ip: str, kind: str, now: datetime
    ) -> None:
        """Keep only a salted hash of the visitor's IP; flag IPs that unsubscribe many people."""
        window = timedelta(hours=self.settings.unsubscribe_abuse_window_hours)
        ip_hash, people = await store.record_link_hit(
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
        if domain.ip_abuse(people, self.settings.unsubscribe_abuse_threshold):
            await self.flag_link_ip(conn, ip_hash, now, people)

    async def flag_link_ip(
        self, conn: store.Conn, ip_hash: str, now: datetime, people: int
    ) -> None:
        """Many people unsubscribed from one IP hash: count it, flag it for review once a day."""
        self.metrics.ip_flags.inc()
        if await store.flag_ip(conn, ip_hash, now.date(), people):
            log.warning(
                "unsubscribe abuse suspected: one IP hash unsubscribed many people",
                extra={"ip_hash": ip_hash[:12], "people": people},
            )

    # -- double opt-in -----------------------------------------------------------------------

    async def queue_confirmation(
        self, conn: store.Conn, row: dict[str, Any], names: list[str], expires: datetime
    ) -> None:
        token = self.keys.tokens.sign(
            domain.CONFIRM,
            {"a": row["account_id"], "d": row["confirmation_id"]},
            ttl=expires - _now(),
        )
        command = domain.confirmation_command(
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
        await store.emit(
            conn, command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=row["account_id"]
        )
        self.metrics.confirmation_emails.inc()


def _mask_paths(mask: field_mask_pb2.FieldMask) -> set[str]:
    return {path.removeprefix("purpose.") for path in mask.paths}


class ConsentServicer(consent_service_pb2_grpc.ConsentServiceServicer):
    def __init__(self, service: ConsentService, requests: PrivacyRequests | None = None) -> None:
        self.svc = service
        self.privacy_requests = requests or PrivacyRequests(service)

    @property
    def pool(self) -> AsyncConnectionPool:
        return self.svc.pool

    async def _once(self, method: str, request: Any, response_type: Any, work: Any) -> Any:
        return await run_once(
            self.pool,
            tenant_id=current_tenant(),
            method=f"{SERVICE}/{method}",
            request=request,
            response_type=response_type,
            work=work,
        )

    # -- purposes ----------------------------------------------------------------------------

    async def CreatePurpose(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        purpose = domain.purpose_from_pb(request.purpose, account)

        async def work(conn: store.Conn) -> pb.CreatePurposeResponse:
            if account == self.svc.platform:
                await self.svc.ensure_platform()
            created = await store.insert_purpose(conn, purpose)
            if created is None:
                raise AlreadyExists(f"purpose.key: the account already has {purpose.key!r}")
            return pb.CreatePurposeResponse(purpose=created.to_pb())

        return await self._once("CreatePurpose", request, pb.CreatePurposeResponse, work)

    async def ListPurposes(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        limit = store.page_size(request.page_size)
        after = store.read_page_token(request.page_token) if request.page_token else ""
        async with self.pool.connection() as conn:
            if account == self.svc.platform:
                await self.svc.ensure_platform()
            found = await store.list_purposes(
                conn, account, archived=request.show_archived, after=after, limit=limit + 1
            )
        reply = pb.ListPurposesResponse(purposes=[p.to_pb() for p in found[:limit]])
        if len(found) > limit:
            reply.next_page_token = store.page_token(found[limit - 1].key)
        return reply

    async def UpdatePurpose(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        paths = _mask_paths(request.update_mask)
        if not paths:
            raise InvalidArgument.field("update_mask", "name the fields to update")
        frozen = paths - domain.UPDATABLE_PURPOSE_FIELDS
        if frozen:
            raise InvalidArgument.field(
                "update_mask",
                f"cannot change {', '.join(sorted(frozen))} (key, kind and legal "
                "basis are fixed: consent was given for them)",
            )
        new = request.purpose
        async with self.pool.connection() as conn, conn.transaction():
            current = await self.svc.purpose(conn, account, new.purpose_id, "purpose.purpose_id")
            changes: dict[str, Any] = {}
            if "name" in paths:
                changes["name"] = domain.check_text(
                    new.name, "purpose.name", limit=200, required=True
                )
            if "description" in paths:
                changes["description"] = domain.check_text(new.description, "purpose.description")
            if "double_opt_in" in paths:
                if new.double_opt_in and current.legal_basis is Basis.CONTRACT:
                    raise InvalidArgument.field(
                        "purpose.double_opt_in", "not for a contract purpose"
                    )
                changes["double_opt_in"] = new.double_opt_in
            if paths & {"frequency_cap_count", "frequency_cap_days", "max_emails_per_month"}:
                count, days = domain.frequency_cap(new)
                changes["frequency_cap_count"], changes["frequency_cap_days"] = count, days
            if "state" in paths:
                if new.state not in (pb.PURPOSE_STATE_ACTIVE, pb.PURPOSE_STATE_ARCHIVED):
                    raise InvalidArgument.field("purpose.state", "must be ACTIVE or ARCHIVED")
                if current.legal_basis is Basis.CONTRACT and new.state == pb.PURPOSE_STATE_ARCHIVED:
                    raise FailedPrecondition("a contract purpose cannot be archived")
                changes["state"] = "active" if new.state == pb.PURPOSE_STATE_ACTIVE else "archived"
            from dataclasses import replace

            updated = await store.update_purpose(conn, replace(current, **changes))
        return pb.UpdatePurposeResponse(purpose=updated.to_pb())

    # -- legal documents ---------------------------------------------------------------------

    def _document_accounts(self) -> list[str]:
        principal = current_principal_or_none()
        accounts = [self.svc.platform]
        if (
            principal is not None
            and principal.tenant_id
            and principal.tenant_id != self.svc.platform
        ):
            accounts.append(principal.tenant_id)
        return accounts

    async def PublishDocumentVersion(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        document = domain.document_from_pb(
            request.document, account_id=account, platform_account_id=self.svc.platform, now=_now()
        )

        async def work(conn: store.Conn) -> pb.PublishDocumentVersionResponse:
            if not await publish_document(conn, document):
                raise AlreadyExists(
                    f"version {document.version} of {document.document_id} ({document.locale}) "
                    "is already published and cannot change: publish a new version"
                )
            return pb.PublishDocumentVersionResponse(document=document.to_pb())

        return await self._once(
            "PublishDocumentVersion", request, pb.PublishDocumentVersionResponse, work
        )

    async def GetDocument(self, request: Any, context: Any) -> Any:
        if not request.document_id:
            raise InvalidArgument.field("document_id", "is required")
        locale = domain.check_locale(request.locale) or "en"
        accounts = self._document_accounts()
        async with self.pool.connection() as conn:
            if request.version:
                found = await store.document_version(
                    conn, accounts, request.document_id, request.version, locale
                )
            else:
                current = await store.current_documents(
                    conn, accounts, now=_now(), locale=locale, document_id=request.document_id
                )
                # The account's own document wins over a platform one of the same id.
                current.sort(key=lambda d: d.account_id == self.svc.platform)
                found = current[0] if current else None
        if found is None:
            raise NotFound(
                f"no document {request.document_id!r} (version {request.version or 'in effect'})"
            )
        return pb.GetDocumentResponse(document=found.to_pb())

    async def ListDocumentVersions(self, request: Any, context: Any) -> Any:
        if not request.document_id:
            raise InvalidArgument.field("document_id", "is required")
        limit = store.page_size(request.page_size)
        before = None
        if request.page_token:
            try:
                at, version, locale = json.loads(store.read_page_token(request.page_token))
                before = (datetime.fromisoformat(at), version, locale)
            except (ValueError, TypeError):
                raise InvalidArgument.field(
                    "page_token", "is not a token from a previous page"
                ) from None
        async with self.pool.connection() as conn:
            found = await store.document_versions(
                conn, self._document_accounts(), request.document_id, before=before, limit=limit + 1
            )
        reply = pb.ListDocumentVersionsResponse(
            documents=[d.to_pb(with_body=False) for d in found[:limit]]
        )
        if len(found) > limit:
            last = found[limit - 1]
            reply.next_page_token = store.page_token(
                json.dumps([last.published_at.isoformat(), last.version, last.locale])
            )
        return reply

    async def GetCurrentDocuments(self, request: Any, context: Any) -> Any:
        kinds = {domain.from_pb(domain.KIND_PB, k, "kinds") for k in request.kinds}
        locale = domain.check_locale(request.locale) or "en"
        async with self.pool.connection() as conn:
            found = await store.current_documents(
                conn, self._document_accounts(), now=_now(), locale=locale
            )
        return pb.GetCurrentDocumentsResponse(
            documents=[d.to_pb() for d in found if not kinds or d.kind in kinds]
        )

    # -- the ledger --------------------------------------------------------------------------

    async def RecordConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        evidence = self.svc.evidence(
            request.evidence, allowed=GRANT_SOURCES, account_id=account, now=_now(), grant=True
        )

        async def work(conn: store.Conn) -> pb.RecordConsentResponse:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            entries = await self.svc.append(
                conn, account, person_key, [Change(Action.GRANT, evidence, purpose)]
            )
            return pb.RecordConsentResponse(record=entries[0].to_pb())

        return await self._once("RecordConsent", request, pb.RecordConsentResponse, work)

    async def _change_all(
        self, request: Any, method: str, response_type: Any, action_of: Any, only: Any
    ) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        evidence = self.svc.evidence(
            request.evidence, allowed=CHANGE_SOURCES, account_id=account, now=_now(), grant=False
        )

        async def work(conn: store.Conn) -> Any:
            if request.purpose_id:
                targets = [await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")]
            else:
                targets = [p for p in await self.svc.purposes(conn, account) if only(p)]
            changes = [Change(action_of(p), evidence, p) for p in targets]
            entries = await self.svc.append(conn, account, person_key, changes)
            return response_type(records=[e.to_pb() for e in entries])

        return await self._once(method, request, response_type, work)

    async def WithdrawConsent(self, request: Any, context: Any) -> Any:
        domain.check_text(request.reason, "reason", limit=500)
        return await self._change_all(
            request,
            "WithdrawConsent",
            pb.WithdrawConsentResponse,
            domain.withdrawal_action,
            lambda p: p.changeable,
        )

    async def RestrictProcessing(self, request: Any, context: Any) -> Any:
        return await self._change_all(
            request,
            "RestrictProcessing",
            pb.RestrictProcessingResponse,
            lambda p: Action.RESTRICT,
            lambda p: True,
        )

    async def LiftRestriction(self, request: Any, context: Any) -> Any:
        return await self._change_all(
            request,
            "LiftRestriction",
            pb.LiftRestrictionResponse,
            lambda p: Action.LIFT,
            lambda p: True,
        )

    async def GetConsentState(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            purposes = await self.svc.purposes(conn, account)
            states = await store.person_states(conn, account, person_key)
            entries = await store.suppressions_of_person(conn, account, person_key)
        reply = pb.GetConsentStateResponse(suppressed=bool(entries))
        for purpose in purposes:
            state = states.get(purpose.purpose_id, State())
            suppressed = any(
                domain.suppression_applies(e.reason, e.purpose_id, purpose) for e in entries
            )
            item = reply.purposes.add(
                purpose_id=purpose.purpose_id,
                purpose_key=purpose.key,
                status=domain.STATUS_PB[state.shown],
                allowed=domain.allowed(purpose, state, suppressed),
                version=state.version,
            )
            if state.since is not None:
                item.changed_at.FromDatetime(state.since)
        return reply

    async def CheckConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            checks = await self.svc.check(conn, purpose, [person_key])
        return pb.CheckConsentResponse(check=checks[0])

    def _keys(self, keys: Sequence[str]) -> list[str]:
        for index, key in enumerate(keys):
            domain.check_person_key(key, f"person_keys[{index}]")
        return list(keys)

    async def BatchCheckConsent(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if len(request.person_keys) > MAX_BATCH:
            raise InvalidArgument.field("person_keys", f"at most {MAX_BATCH} per call")
        keys = self._keys(request.person_keys)
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            checks = await self.svc.check(conn, purpose, keys) if keys else []
        return pb.BatchCheckConsentResponse(checks=checks)

    async def StreamCheckConsent(self, request: Any, context: Any) -> AsyncIterator[Any]:
        account = current_tenant()
        if request.chunk_size < 0:
            raise InvalidArgument.field("chunk_size", "must not be negative")
        chunk = min(request.chunk_size or STREAM_CHUNK, MAX_BATCH)
        keys = self._keys(request.person_keys)
        async with self.pool.connection() as conn:
            purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            if keys:
                for start in range(0, len(keys), chunk):
                    part = keys[start : start + chunk]
                    yield pb.StreamCheckConsentResponse(
                        checks=await self.svc.check(conn, purpose, part)
                    )
                return
            after = ""
            while True:
                part = await store.keys_with_state(conn, purpose, after=after, limit=chunk)
                if not part:
                    return
                yield pb.StreamCheckConsentResponse(
                    checks=await self.svc.check(conn, purpose, part)
                )
                after = part[-1]

    async def ExportProof(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            entries = await store.person_entries(conn, account, person_key)
            if not entries:
                raise NotFound("nothing is recorded for this person in this account")
            digest = None
            try:
                digest = await store.inclusion(conn, account, person_key, entries[0].recorded_at)
            except store.DigestMismatch:
                log.error("consent ledger integrity check failed", extra={"account_id": account})
                raise
            referenced = {(e.document_id, e.document_version) for e in entries if e.document_id}
            documents = []
            for document_id, version in sorted(referenced):
                found = await store.document_version(
                    conn, [self.svc.platform, account], document_id, version, "en"
                )
                if found is not None:
                    documents.append(found)
        if request.purpose_id:
            shown = [
                e
                for e in entries
                if e.purpose_id == request.purpose_id or e.purpose_key == request.purpose_id
            ]
        else:
            shown = entries
        bundle = domain.ProofBundle(
            account_id=account,
            person_key=person_key,
            entries=entries,
            digest=digest,
            documents=[
                {"document_id": d.document_id, "version": d.version, "locale": d.locale,
                 "body_sha256": d.body_sha256, "checkbox_text": d.checkbox_text, "url": d.url}
                for d in documents
            ],
        )  # fmt: skip
        return pb.ExportProofResponse(
            records=[e.to_pb() for e in shown],
            documents=[d.to_pb(with_body=False) for d in documents],
            bundle_json=json.dumps(bundle.to_json_dict(_now()), ensure_ascii=False, indent=1),
        )

    # -- link tokens and public links --------------------------------------------------------

    async def IssueLinkTokens(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        domain.check_text(request.campaign_id, "campaign_id", limit=128)
        purpose_id = domain.ALL_BUT_SYSTEM
        if request.purpose_id:
            async with self.pool.connection() as conn:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
            if not purpose.changeable:
                raise InvalidArgument.field("purpose_id", "SYSTEM mail carries no unsubscribe link")
            purpose_id = purpose.purpose_id
        scope = LinkScope(account, person_key, purpose_id, request.campaign_id)
        unsubscribe, preferences = self.svc.link_tokens(scope)
        return pb.IssueLinkTokensResponse(
            unsubscribe_token=unsubscribe,
            preferences_token=preferences,
            unsubscribe_url=self.svc.url("unsubscribe", unsubscribe),
            preferences_url=self.svc.url("preferences", preferences),
        )

    async def SendMyDataLink(self, request: Any, context: Any) -> Any:
        if not request.preferences_token:
            raise InvalidArgument.field("preferences_token", "is required")
        try:
            claims = self.svc.keys.tokens.verify(request.preferences_token, domain.PREFERENCES)
        except InvalidToken as exc:
            message = domain.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(
                    message, [("LINK_EXPIRED", "preferences_token", message)]
                ) from None
            raise InvalidArgument.field("preferences_token", message) from None
        scope = LinkScope.from_claims(claims)
        if not request.email.strip():
            raise InvalidArgument.field("email", "is required")
        email = request.email.strip()
        if self.svc.keys.person_key(email, "email") != scope.person_key:
            raise PermissionDenied("this is not the address the link was sent to")
        expires = _now() + domain.MY_DATA_LIFETIME
        token = self.svc.keys.tokens.sign(
            domain.MY_DATA,
            {"a": scope.account_id, "k": scope.person_key},
            ttl=domain.MY_DATA_LIFETIME,
        )
        command = domain.my_data_command(
            account_id=scope.account_id,
            person_key=scope.person_key,
            email=email,
            url=self.svc.url("my-data", token),
            token=token,
            expires=expires,
        )
        async with self.pool.connection() as conn, conn.transaction():
            await store.emit(
                conn, command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=scope.account_id
            )
        reply = pb.SendMyDataLinkResponse()
        reply.expires_at.FromDatetime(expires)
        return reply

    async def Unsubscribe(self, request: Any, context: Any) -> Any:
        scope = LinkScope.from_claims(self.svc.verify_token(request.token, domain.UNSUBSCRIBE))
        targets, changed = await self.svc.unsubscribe(
            scope,
            all_purposes=request.all_purposes,
            one_click=request.one_click,
            ip=request.client.ip_address,
        )
        preferences = self.svc.preferences_token(scope)  # the unsubscribe link is spent
        return pb.UnsubscribeResponse(
            purpose_ids=[p.purpose_id for p in targets],
            purpose_names=[p.name for p in targets],
            preferences_token=preferences,
            already_unsubscribed=not changed,
        )

    def _preference_scope(self, token: str) -> LinkScope:
        claims = self.svc.verify_token(token, domain.PREFERENCES)
        return LinkScope.from_claims(claims)

    async def GetPreferences(self, request: Any, context: Any) -> Any:
        scope = self._preference_scope(request.token)
        async with self.pool.connection() as conn, conn.transaction():
            if request.client.ip_address:
                await self.svc.note_link_hit(
                    conn, scope, request.client.ip_address, "preferences", _now()
                )
            items, tracking = await self.svc.preference_items(
                conn, scope.account_id, scope.person_key
            )
            history = await store.person_entries(
                conn, scope.account_id, scope.person_key, newest=HISTORY_LIMIT
            )
            notices = await store.current_documents(
                conn, [scope.account_id], now=_now(), locale="en"
            )
        reply = pb.GetPreferencesResponse(
            items=items,
            engagement_tracking=tracking,
            person_key=scope.person_key,
            history=[e.to_pb() for e in history],
        )
        notice = next(
            (d for d in notices if d.kind is domain.DocumentKind.ACCOUNT_PRIVACY_NOTICE), None
        )
        if notice is not None:
            reply.sender.privacy_policy_url = notice.url
        return reply

    async def UpdatePreferences(self, request: Any, context: Any) -> Any:
        scope = self._preference_scope(request.token)
        if not request.changes:
            raise InvalidArgument.field("changes", "name at least one purpose to change")
        now = _now()
        ip, agent = request.client.ip_address, request.client.user_agent
        async with self.pool.connection() as conn, conn.transaction():
            if ip:
                await self.svc.note_link_hit(conn, scope, ip, "preferences", now)
            changes, enabled = [], []
            for index, change in enumerate(request.changes):
                purpose = await self.svc.purpose(
                    conn, scope.account_id, change.purpose_id, f"changes[{index}].purpose_id"
                )
                if not purpose.changeable:
                    if change.enabled:
                        continue  # SYSTEM mail is always on
                    raise FailedPrecondition(f"{purpose.name} cannot be turned off")
                if change.enabled:
                    evidence = Evidence(
                        source=Source.PREFERENCE_CENTER,
                        checkbox_text=PREFERENCE_CHECKBOX.format(name=purpose.name),
                        ip_hash=self.svc.keys.proof_ip(ip, now) if ip else "",
                        user_agent=agent[: domain.MAX_USER_AGENT],
                    )
                    changes.append(Change(Action.GRANT, evidence, purpose))
                    enabled.append(purpose.purpose_id)
                else:
                    evidence = Evidence(source=Source.PREFERENCE_CENTER)
                    changes.append(Change(domain.withdrawal_action(purpose), evidence, purpose))
            await self.svc.append(conn, scope.account_id, scope.person_key, changes)
            for purpose_id in enabled:
                await store.lift_own_unsubscription(
                    conn, scope.account_id, scope.person_key, purpose_id
                )
            items, _ = await self.svc.preference_items(conn, scope.account_id, scope.person_key)
        return pb.UpdatePreferencesResponse(items=items)

    # -- double opt-in -----------------------------------------------------------------------

    async def StartDoubleOptIn(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if not request.person.HasField("email") or not request.person.email.strip():
            raise InvalidArgument.field("person.email", "is required: the confirmation goes there")
        person_key, email = self.svc.person_key(request.person)
        assert email is not None
        refs = store.unique(
            [*([request.purpose_id] if request.purpose_id else []), *request.purpose_ids]
        )
        if not refs:
            raise InvalidArgument.field("purpose_ids", "name at least one purpose")
        if len(refs) > 20:
            raise InvalidArgument.field("purpose_ids", "at most 20 purposes")
        locale = domain.check_locale(request.locale)
        domain.check_text(request.display_name, "display_name", limit=200)
        now = _now()
        evidence = self.svc.evidence(
            request.evidence, allowed=DOI_SOURCES, account_id=account, now=now, grant=True
        )
        if not evidence.checkbox_text.strip():
            raise InvalidArgument.field("evidence.checkbox_text", "the text shown is the proof")

        async def work(conn: store.Conn) -> pb.StartDoubleOptInResponse:
            purposes = []
            for index, ref in enumerate(refs):
                purpose = await self.svc.purpose(conn, account, ref, f"purpose_ids[{index}]")
                if not purpose.changeable or not purpose.active:
                    raise FailedPrecondition(f"{purpose.name} cannot be subscribed to")
                purposes.append(purpose)
            blocked = [
                e for e in await store.suppressions_of_person(conn, account, person_key)
                if e.reason in (Reason.HARD_BOUNCE, Reason.COMPLAINT)
            ]  # fmt: skip
            if blocked:
                raise FailedPrecondition(
                    "this address cannot be mailed (it bounced or reported spam)",
                    [("ADDRESS_SUPPRESSED", "person", str(blocked[0].reason))],
                )
            sent = await store.confirmation_sends_since(
                conn, account, person_key, now - timedelta(days=1)
            )
            if sent >= self.svc.settings.confirmation_max_per_day:
                raise ResourceExhausted("too many confirmation emails to this address today")
            expires = now + timedelta(days=self.svc.settings.confirmation_link_days)
            row: dict[str, Any] = {
                "confirmation_id": domain.new_id(),
                "account_id": account,
                "person_key": person_key,
                "email": email,
                "to_name": request.display_name.strip() or None,
                "purpose_ids": [p.purpose_id for p in purposes],
                "source": str(evidence.source),
                "source_detail": evidence.source_detail,
                "checkbox_text": evidence.checkbox_text,
                "document_id": evidence.document_id,
                "document_version": evidence.document_version,
                "ip_hash": evidence.ip_hash,
                "user_agent": evidence.user_agent,
                "locale": locale,
                "started_at": evidence.occurred_at or now,
                "link_expires_at": expires,
            }
            await store.insert_double_opt_in(conn, row)
            await self.svc.queue_confirmation(conn, row, [p.name for p in purposes], expires)
            records = [domain.pending_record(p, person_key, evidence, now) for p in purposes]
            reply = pb.StartDoubleOptInResponse(
                confirmation_id=row["confirmation_id"], record=records[0], records=records
            )
            reply.expires_at.FromDatetime(expires)
            return reply

        return await self._once("StartDoubleOptIn", request, pb.StartDoubleOptInResponse, work)

    async def ConfirmDoubleOptIn(self, request: Any, context: Any) -> Any:
        claims = self.svc.verify_token(request.token, domain.CONFIRM)
        account, confirmation_id = str(claims.get("a", "")), str(claims.get("d", ""))
        now = _now()
        async with self.pool.connection() as conn, conn.transaction():
            row = await store.lock_double_opt_in(conn, account, confirmation_id)
            if row is None:
                raise FailedPrecondition(
                    "this confirmation link has expired: please subscribe again",
                    [("LINK_EXPIRED", "token", "the pending subscription no longer exists")],
                )
            if row["confirmed_at"] is not None:
                raise FailedPrecondition(
                    "this confirmation link was already used: the subscription is confirmed",
                    [("LINK_USED", "token", "single-use link")],
                )
            if row["link_expires_at"] <= now:
                raise FailedPrecondition(
                    "this confirmation link has expired: ask for a new one",
                    [("LINK_EXPIRED", "token", "expired")],
                )
            requested = Evidence(
                source=Source(row["source"]),
                source_detail=row["source_detail"],
                checkbox_text=row["checkbox_text"],
                document_id=row["document_id"],
                document_version=row["document_version"],
                ip_hash=row["ip_hash"],
                user_agent=row["user_agent"],
                occurred_at=row["started_at"],
            )
            client = request.client
            confirmed = Evidence(
                source=Source.CONFIRMATION_LINK,
                source_detail=confirmation_id,
                checkbox_text=row["checkbox_text"],
                document_id=row["document_id"],
                document_version=row["document_version"],
                ip_hash=self.svc.keys.proof_ip(client.ip_address, now),
                user_agent=client.user_agent[: domain.MAX_USER_AGENT],
            )
            changes, purposes = [], []
            for purpose_id in row["purpose_ids"]:
                found = await store.find_purpose(conn, account, purpose_id)
                if found is None or not found.active:
                    continue  # archived since: nothing to confirm for it
                purposes.append(found)
                changes += [
                    Change(Action.REQUEST, requested, found),
                    Change(Action.CONFIRM, confirmed, found),
                ]
            entries = await self.svc.append(conn, account, row["person_key"], changes)
            await store.mark_confirmed(conn, confirmation_id, now)
            for purpose in purposes:
                await store.lift_own_unsubscription(
                    conn, account, row["person_key"], purpose.purpose_id
                )
        grants = [e.to_pb() for e in entries if e.action is Action.CONFIRM]
        reply = pb.ConfirmDoubleOptInResponse(
            records=grants, purpose_names=[p.name for p in purposes]
        )
        if grants:
            reply.record.CopyFrom(grants[0])
            reply.purpose_name = purposes[0].name
        return reply

    async def ResendConfirmation(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        if not request.confirmation_id:
            raise InvalidArgument.field("confirmation_id", "is required")
        now = _now()
        settings = self.svc.settings

        async def work(conn: store.Conn) -> pb.ResendConfirmationResponse:
            row = await store.lock_double_opt_in(conn, account, request.confirmation_id)
            if row is None:
                raise NotFound("no pending confirmation with this id (it may have expired)")
            if row["confirmed_at"] is not None:
                raise FailedPrecondition("this subscription is already confirmed")
            wait = row["last_sent_at"] + timedelta(seconds=settings.confirmation_resend_seconds)
            if now < wait:
                seconds = int((wait - now).total_seconds()) + 1
                raise ResourceExhausted(f"a confirmation email was just sent: retry in {seconds} s")
            sent = await store.confirmation_sends_since(
                conn, account, row["person_key"], now - timedelta(days=1)
            )
            if sent >= settings.confirmation_max_per_day:
                raise ResourceExhausted("too many confirmation emails to this address today")
            expires = min(
                now + timedelta(days=settings.confirmation_link_days),
                row["started_at"] + PENDING_LIFETIME,
            )
            if expires <= now:
                raise FailedPrecondition("this pending subscription has expired: subscribe again")
            await store.mark_resent(conn, request.confirmation_id, now, expires)
            names = []
            for purpose_id in row["purpose_ids"]:
                found = await store.find_purpose(conn, account, purpose_id)
                if found is not None:
                    names.append(found.name)
            row["sends"] += 1
            await self.svc.queue_confirmation(conn, row, names, expires)
            reply = pb.ResendConfirmationResponse()
            reply.expires_at.FromDatetime(expires)
            return reply

        return await self._once("ResendConfirmation", request, pb.ResendConfirmationResponse, work)

    # -- suppression -------------------------------------------------------------------------

    def _reason(self, value: int, field_name: str) -> Reason:
        if value == 0:
            return Reason.MANUAL
        reason: Reason = domain.from_pb(domain.REASON_PB, value, field_name)
        if reason not in ADDABLE_REASONS:
            raise InvalidArgument.field(field_name, "an erasure goes through a privacy request")
        return reason

    async def AddSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, email = self.svc.person_key(request.person)
        reason = self._reason(request.reason, "reason")
        domain.check_text(request.note, "note", limit=500)

        async def work(conn: store.Conn) -> pb.AddSuppressionResponse:
            purpose_id = ""
            if request.purpose_id:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
                purpose_id = purpose.purpose_id
            principal = current_principal_or_none()
            entry, _ = await store.add_suppression(
                conn,
                SuppressionEntry(
                    scope=account,
                    person_key=person_key,
                    reason=reason,
                    purpose_id=purpose_id,
                    source=Source.ADMIN,
                    source_detail=principal.subject if principal else "",
                    note=request.note,
                    email=email,
                ),
            )
            return pb.AddSuppressionResponse(suppression=entry.to_pb())

        return await self._once("AddSuppression", request, pb.AddSuppressionResponse, work)

    async def RemoveSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        reason = domain.from_pb(domain.REASON_PB, request.reason, "reason")
        domain.check_text(request.note, "note", limit=500)

        async def work(conn: store.Conn) -> pb.RemoveSuppressionResponse:
            purpose_id = ""
            if request.purpose_id:
                purpose = await self.svc.purpose(conn, account, request.purpose_id, "purpose_id")
                purpose_id = purpose.purpose_id
            entry = await store.find_suppression(conn, account, person_key, reason, purpose_id)
            if entry is None:
                raise NotFound("this person is not suppressed for that reason in this account")
            domain.check_removable(entry)
            principal = current_principal_or_none()
            still = await store.remove_suppression(
                conn, entry, note=request.note, removed_by=principal.subject if principal else ""
            )
            return pb.RemoveSuppressionResponse(still_suppressed=still)

        return await self._once("RemoveSuppression", request, pb.RemoveSuppressionResponse, work)

    async def CheckSuppression(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        person_key, _ = self.svc.person_key(request.person)
        async with self.pool.connection() as conn:
            entries = await store.suppressions_of_person(conn, account, person_key)
        return pb.CheckSuppressionResponse(
            suppressed=bool(entries),
            suppressions=[e.to_pb(reveal=bool(e.scope)) for e in entries],
        )

    async def ListSuppressions(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        limit = store.page_size(request.page_size)
        before = 2**62
        if request.page_token:
            text = store.read_page_token(request.page_token)
            if not text.isdigit():
                raise InvalidArgument.field("page_token", "is not a token from a previous page")
            before = int(text)
        reason = (
            domain.from_pb(domain.REASON_PB, request.reason, "reason") if request.reason else None
        )
        async with self.pool.connection() as conn:
            found = await store.list_suppressions(
                conn, account, reason=reason, before=before, limit=limit + 1
            )
        reply = pb.ListSuppressionsResponse(suppressions=[e.to_pb() for e in found[:limit]])
        if len(found) > limit:
            reply.next_page_token = store.page_token(found[limit - 1].entry_id)
        return reply

    async def ImportSuppressions(self, request_iterator: Any, context: Any) -> Any:
        account = current_tenant()
        combined = pb.ImportSuppressionsRequest()
        first = True
        async for chunk in request_iterator:
            if first:
                combined.reason, combined.idempotency_key = chunk.reason, chunk.idempotency_key
                first = False
            combined.rows.extend(chunk.rows)
            if len(combined.rows) > MAX_IMPORT_ROWS:
                raise InvalidArgument.field("rows", f"at most {MAX_IMPORT_ROWS} rows per import")
        reason = self._reason(combined.reason, "reason")
        principal = current_principal_or_none()

        async def work(conn: store.Conn) -> pb.ImportSuppressionsResponse:
            reply = pb.ImportSuppressionsResponse(received=len(combined.rows))
            for row in combined.rows:
                problem = ""
                try:
                    person_key = self.svc.keys.person_key(row.email.strip(), "email")
                    domain.check_text(row.note, "note", limit=500)
                except InvalidArgument as exc:
                    problem = exc.message
                if problem:
                    reply.rejected += 1
                    if len(reply.errors) < MAX_IMPORT_ERRORS:
                        reply.errors.add(row_number=row.row_number, message=problem)
                    continue
                _, added = await store.add_suppression(
                    conn,
                    SuppressionEntry(
                        scope=account,
                        person_key=person_key,
                        reason=reason,
                        source=Source.IMPORT,
                        source_detail=principal.subject if principal else "",
                        note=row.note,
                        email=row.email.strip(),
                    ),
                )
                if added:
                    reply.added += 1
                else:
                    reply.already_suppressed += 1
            return reply

        return await self._once("ImportSuppressions", combined, pb.ImportSuppressionsResponse, work)

    async def ExportSuppressions(self, request: Any, context: Any) -> AsyncIterator[Any]:
        account = current_tenant()
        if request.chunk_size < 0:
            raise InvalidArgument.field("chunk_size", "must not be negative")
        chunk = min(request.chunk_size or STREAM_CHUNK, MAX_BATCH)
        reason = (
            domain.from_pb(domain.REASON_PB, request.reason, "reason") if request.reason else None
        )
        before = 2**62
        async with self.pool.connection() as conn:
            while True:
                found = await store.list_suppressions(
                    conn, account, reason=reason, before=before, limit=chunk
                )
                if not found:
                    return
                yield pb.ExportSuppressionsResponse(suppressions=[e.to_pb() for e in found])
                before = found[-1].entry_id

    # -- privacy requests (dsar.py) ------------------------------------------------------------

    async def OpenPrivacyRequest(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.open(request)

    async def GetPrivacyRequest(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.get(request)

    async def ListPrivacyRequests(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.list_requests(request)

    async def DownloadPrivacyExport(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.download(request)

    async def ExtendPrivacyRequest(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.extend(request)
