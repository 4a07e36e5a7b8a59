"""Which DKIM keys sign a campaign message, and one cached ``DkimSigner`` per sender domain.

The keys of a sender domain come from a *key source*: ``(tenant, domain) → [DkimKey]``.
First the account's verified sender domain's own keys (``store.domains.signing_keys``,
encrypted at rest; the From domain or its closest registered parent), else the platform's
keys from ``DKIM_KEYS_FILE`` (the benchmark's, or an operator's own domain), a JSON list of
``{"domain", "selector", "algorithm", "private_key_pem"}``; a file key signs mail whose From
domain is its domain or a subdomain of it (relaxed DMARC alignment).

A signer is built once per (tenant, domain) and kept ``ttl`` seconds, so a rotated key
is picked up without a restart while no message pays for loading keys. A domain without
keys is sent unsigned (and counted); campaign's own rule is that only verified domains send.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from missiva_delivery.dkim import ALGORITHMS, DkimKey, DkimSigner

KeySource = Callable[[str, str], Awaitable[list[DkimKey]]]


def load_keys_file(path: str | Path) -> list[DkimKey]:
    """``ValueError`` names the first entry that is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise ValueError("must be a JSON list of keys")
    keys = []
    for index, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise ValueError(f"[{index}] must be an object")
        for name in ("domain", "selector", "algorithm", "private_key_pem"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise ValueError(f"[{index}].{name} is required")
        if entry["algorithm"] not in ALGORITHMS:
            raise ValueError(f"[{index}].algorithm must be one of {', '.join(ALGORITHMS)}")
        keys.append(
            DkimKey(
                domain=entry["domain"].lower(),
                selector=entry["selector"],
                algorithm=entry["algorithm"],
                private_key_pem=entry["private_key_pem"].encode(),
            )
        )
    if keys:
        DkimSigner(keys)  # every key loads: a bad PEM is refused at start, not per message
    return keys


class FileKeys:
    """The platform's keys, for any account's mail from their domains."""

    def __init__(self, keys: list[DkimKey]) -> None:
        self.keys = keys

    async def __call__(self, tenant_id: str, domain: str) -> list[DkimKey]:
        domain = domain.lower()
        return [k for k in self.keys if domain == k.domain or domain.endswith("." + k.domain)]


def first_of(*sources: KeySource) -> KeySource:
    """The keys of the first source that has any for the domain."""

    async def source(tenant_id: str, domain: str) -> list[DkimKey]:
        for candidate in sources:
            keys = await candidate(tenant_id, domain)
            if keys:
                return keys
        return []

    return source


async def no_keys(tenant_id: str, domain: str) -> list[DkimKey]:
    return []


class Signing:
    def __init__(self, source: KeySource, *, ttl: float = 300.0) -> None:
        self.source = source
        self.ttl = ttl
        self._signers: dict[tuple[str, str], tuple[float, DkimSigner | None]] = {}
        self._building: dict[tuple[str, str], asyncio.Future[DkimSigner | None]] = {}
        self.built = 0

    async def signer(self, tenant_id: str, from_address: str) -> DkimSigner | None:
        domain = from_address.rpartition("@")[2].lower()
        key = (tenant_id, domain)
        found = self._signers.get(key)
        now = time.monotonic()
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        building = self._building.get(key)
        if building is not None:  # the messages of a slice wait for the one lookup
            return await asyncio.shield(building)
        future: asyncio.Future[DkimSigner | None] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            keys = await self.source(tenant_id, domain)
            signer = DkimSigner(keys) if keys else None
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody is left unwarned
            raise
        finally:
            del self._building[key]
        self.built += 1
        self._signers[key] = (now, signer)
        future.set_result(signer)
        return signer
