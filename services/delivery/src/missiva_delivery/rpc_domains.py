"""Sender-domain RPCs: register a domain (DKIM keys made here), list, verify over DNS,
rotate the DKIM keys.

Verification asks the resolver of ``DNS_RESOLVER`` (dnspython) for every record the domain
must publish and stores what it found per record. A domain becomes VERIFIED when every
required record is right (``delivery.sender_domain.verified``); a verified domain whose
re-check fails becomes FAILED (``delivery.sender_domain.unverified``). A rotation adds a
new generation of keys as *pending*: signing moves to them at the first check that finds
their records, and the keys they replace keep being published for
``DKIM_RETIRE_AFTER_DAYS`` (then the retention rule deletes them).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dns.asyncresolver
import dns.exception
import dns.resolver
from google.protobuf import timestamp_pb2

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import domain_events
from missiva_delivery import sender_domains as sd
from missiva_delivery.config import dns_resolver_address
from missiva_delivery.dkim import ED25519_SHA256, RSA_SHA256, DkimKey, generate_key
from missiva_delivery.store import domains as store
from missiva_platform.auth import CallerKind, current_principal
from missiva_platform.crypto import TokenKeyring
from missiva_platform.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once
from missiva_platform.outbox import add_event
from missiva_platform.pagination import PageTokens, page_size
from missiva_platform.secrets import load_token_keyring

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

LISTING = "delivery.ListSenderDomains"
ALGORITHMS = (RSA_SHA256, ED25519_SHA256)


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a sender domain id") from None


async def _new_keys(domain: str, generation: int) -> list[tuple[DkimKey, str]]:
    """An RSA-2048 and an Ed25519 key (RSA generation takes ~0.1 s: off the event loop)."""
    return [
        await asyncio.to_thread(generate_key, domain, sd.selector(generation, alg), alg)
        for alg in ALGORITHMS
    ]


class DomainsCore:
    """What the domain RPCs and the publish-dns command share."""

    def __init__(self, core: DeliveryCore) -> None:
        self.core = core
        settings = core.settings
        self.platform = sd.Platform(
            return_path_label=settings.return_path_label.lower(),
            bounce_mx_host=settings.bounce_mx_host.lower(),
            spf_include=settings.spf_include.lower(),
        )
        self.pages = PageTokens(self._keyring)
        self._generated: TokenKeyring | None = None

    def _keyring(self) -> TokenKeyring:
        path = self.core.settings.token_keyring_file
        if path:
            return load_token_keyring(path)
        if self._generated is None:  # settings built in code (tests): a throwaway keyring
            self._generated = TokenKeyring.generate()
        return self._generated

    def resolver(self) -> dns.asyncresolver.Resolver:
        settings = self.core.settings
        if settings.dns_resolver:
            host, port = dns_resolver_address(settings.dns_resolver)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [host]
            resolver.port = port
        else:
            resolver = dns.asyncresolver.Resolver()
        resolver.lifetime = settings.dns_timeout_seconds
        resolver.cache = None  # a check must see what is published now
        return resolver

    async def records(self, conn: Any, row: dict[str, Any]) -> list[sd.Expected]:
        keys = await store.keys(conn, row["tenant_id"], row["id"])
        return sd.expected_records(row["domain"], keys, self.platform)

    async def message(self, conn: Any, row: dict[str, Any]) -> pb.SenderDomain:
        keys = await store.keys(conn, row["tenant_id"], row["id"])
        expected = sd.expected_records(row["domain"], keys, self.platform)
        active = [k["selector"] for k in keys if k["state"] == "active"]
        reply = pb.SenderDomain(
            sender_domain_id=row["id"],
            domain=row["domain"],
            status=sd.STATUS_PB[row["status"]],  # type: ignore[arg-type]
            dkim_selector=next((s for s in active if s.endswith("-rsa")), ""),
        )
        checks = row["checks"] or {}
        reply.dns_records.extend(sd.record_pb(e, checks.get(e.key)) for e in expected)
        for name, column in (("created_at", "created_at"), ("verified_at", "verified_at"),
                             ("last_checked_at", "last_checked_at"),
                             ("dkim_rotated_at", "dkim_rotated_at")):  # fmt: skip
            stamp = _stamp(row[column])
            if stamp is not None:
                getattr(reply, name).CopyFrom(stamp)
        return reply

    async def lookup(self, resolver: dns.asyncresolver.Resolver, rtype: str, name: str) -> Any:
        """What DNS holds (strings), or an error text when the question got no answer."""
        try:
            answer = await resolver.resolve(name, rtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            return f"lookup failed: {type(exc).__name__}"
        if rtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        return [f"{r.preference} {r.exchange.to_text(omit_final_dot=True)}" for r in answer]

    async def verify(self, tenant_id: str, sender_domain_id: str) -> dict[str, Any]:
        """Check every record over DNS, store the results, move status and signing keys."""
        async with self.core.pool.connection() as conn:
            row = await store.get(conn, tenant_id, sender_domain_id)
            if row is None:
                raise NotFound(f"no sender domain {sender_domain_id}")
            expected = await self.records(conn, row)
            keys = await store.keys(conn, tenant_id, sender_domain_id)
        resolver = self.resolver()
        checks: dict[str, Any] = {}
        for item in expected:
            found = await self.lookup(resolver, item.type, item.name)
            ok, shown = (False, found) if isinstance(found, str) else sd.judge(item, found)
            checks[item.key] = {"ok": ok, "found": shown}
        pending = {f"TXT {k['selector']}._domainkey.{row['domain']}" for k in keys
                   if k["state"] == "pending"}  # fmt: skip
        required_ok = all(checks[e.key]["ok"] for e in expected if e.required)
        pending_ok = bool(pending) and all(checks[key]["ok"] for key in pending)
        async with self.core.pool.connection() as conn, conn.transaction():
            current = await store.get(conn, tenant_id, sender_domain_id, lock=True)
            if current is None:
                raise NotFound(f"no sender domain {sender_domain_id}")
            before = current["status"]
            if required_ok:
                status = "verified"
            else:
                status = "failed" if before in ("verified", "failed") else "pending"
            if required_ok and pending_ok:
                await store.promote_pending(conn, tenant_id, sender_domain_id)
            saved = await store.save_check(
                conn, current, status=status, checks=checks,
                verified_now=status == "verified" and before != "verified",
            )  # fmt: skip
            if status == "verified" and before != "verified":
                selectors = [k["selector"] for k in await store.keys(conn, tenant_id, saved["id"])
                             if k["state"] == "active"]  # fmt: skip
                await add_event(conn, domain_events.verified(saved, selectors))
            elif status == "failed" and before == "verified":
                failed = [e.key for e in expected if e.required and not checks[e.key]["ok"]]
                await add_event(conn, domain_events.unverified(saved, failed))
            return saved


class DomainRpcs:
    core: DeliveryCore
    _domains: DomainsCore | None = None

    @property
    def domains(self) -> DomainsCore:
        if self._domains is None:
            self._domains = DomainsCore(self.core)
        return self._domains

    @staticmethod
    def _tenant() -> str:
        # The access rule admits users with the roles and API keys with the scope.
        principal = current_principal()
        if principal.kind is CallerKind.SERVICE or not principal.tenant_id:
            raise FailedPrecondition("this call needs a caller acting for an account")
        return principal.tenant_id

    async def CreateSenderDomain(
        self, request: pb.CreateSenderDomainRequest, context: Any
    ) -> pb.CreateSenderDomainResponse:
        tenant = self._tenant()
        name = sd.valid_domain("domain", request.domain)
        domains = self.domains
        keys = await _new_keys(name, 1)

        async def work(conn: Any) -> pb.CreateSenderDomainResponse:
            row = await store.insert_domain(
                conn, tenant, name, sd.return_path(name, domains.platform)
            )
            if not row.pop("created"):
                raise AlreadyExists(f"domain: {name} is already a sender domain of this account")
            for key, txt in keys:
                await store.insert_key(conn, row, key, txt, "active", self.core.cipher)
            return pb.CreateSenderDomainResponse(sender_domain=await domains.message(conn, row))

        return await run_once(
            self.core.pool, tenant_id=tenant, method="CreateSenderDomain", request=request,
            response_type=pb.CreateSenderDomainResponse, work=work,
        )  # fmt: skip

    async def VerifySenderDomain(
        self, request: pb.VerifySenderDomainRequest, context: Any
    ) -> pb.VerifySenderDomainResponse:
        tenant = self._tenant()
        domain_id = _id("sender_domain_id", request.sender_domain_id)
        row = await self.domains.verify(tenant, domain_id)
        async with self.core.pool.connection() as conn:
            return pb.VerifySenderDomainResponse(
                sender_domain=await self.domains.message(conn, row)
            )

    async def ListSenderDomains(
        self, request: pb.ListSenderDomainsRequest, context: Any
    ) -> pb.ListSenderDomainsResponse:
        tenant = self._tenant()
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        limit = page_size(request.page_size)
        pages = self.domains.pages
        after = pages.read(request.page_token, LISTING, (datetime, str), bound_to=(tenant,))
        reply = pb.ListSenderDomainsResponse()
        async with self.core.pool.connection() as conn:
            rows = await store.page(
                conn, tenant, (after[0], after[1]) if after else None, limit + 1
            )
            for row in rows[:limit]:
                reply.sender_domains.append(await self.domains.message(conn, row))
        if len(rows) > limit:
            last = rows[limit - 1]
            reply.next_page_token = pages.issue(
                LISTING, (last["created_at"], last["id"]), bound_to=(tenant,)
            )
        return reply

    async def RotateDkimKey(
        self, request: pb.RotateDkimKeyRequest, context: Any
    ) -> pb.RotateDkimKeyResponse:
        tenant = self._tenant()
        domain_id = _id("sender_domain_id", request.sender_domain_id)
        domains = self.domains
        async with self.core.pool.connection() as conn:
            row = await store.get(conn, tenant, domain_id)
            if row is None:
                raise NotFound(f"no sender domain {domain_id}")
            keys = await store.keys(conn, tenant, domain_id)
        generation = max((sd.generation_of(k["selector"]) for k in keys), default=0) + 1
        fresh = await _new_keys(row["domain"], generation)
        retire_days = self.core.settings.dkim_retire_after_days

        async def work(conn: Any) -> pb.RotateDkimKeyResponse:
            current = await store.get(conn, tenant, domain_id, lock=True)
            if current is None:
                raise NotFound(f"no sender domain {domain_id}")
            now_keys = await store.keys(conn, tenant, domain_id)
            if any(k["state"] == "pending" for k in now_keys):
                raise FailedPrecondition(
                    "a rotation already waits for its records: publish them and verify first"
                )
            if any(k["selector"] == fresh[0][0].selector for k in now_keys):
                raise FailedPrecondition("the keys changed meanwhile: rotate again")
            for key, txt in fresh:
                await store.insert_key(conn, current, key, txt, "pending", self.core.cipher)
            reply = pb.RotateDkimKeyResponse(
                sender_domain=await domains.message(conn, current),
                new_selector=fresh[0][0].selector,
            )
            # At the earliest: the old keys retire that long after the new ones verify.
            reply.old_key_retire_at.FromDatetime(datetime.now(UTC) + timedelta(days=retire_days))
            return reply

        return await run_once(
            self.core.pool, tenant_id=tenant, method="RotateDkimKey", request=request,
            response_type=pb.RotateDkimKeyResponse, work=work,
        )  # fmt: skip
