"""Which DKIM keys sign a campaign message, and one cached ``DkimSigner`` per sender domain.

The keys of a sender domain come from a *key source*: ``(tenant, domain) → [DkimKey]``.
Today that is ``FileKeys``: the platform's own keys from ``DKIM_KEYS_FILE`` (used under
``make run`` and by the benchmark), a JSON list of
``{"domain", "selector", "algorithm", "private_key_pem"}``; a key signs mail whose From
domain is its domain or a subdomain of it (relaxed DMARC alignment). The sender domains'
own keys (``store.domains.signing_keys``, encrypted at rest) plug in as another source.

A signer is built once per (tenant, domain) and kept ``ttl`` seconds, so a rotated key
is picked up without a restart while no message pays for loading keys. A domain without
keys is sent unsigned (and counted); campaign's own rule is that only verified domains send.
"""

from __future__ import annotations

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


async def no_keys(tenant_id: str, domain: str) -> list[DkimKey]:
    return []


class Signing:
    def __init__(self, source: KeySource, *, ttl: float = 300.0) -> None:
        self.source = source
        self.ttl = ttl
        self._signers: dict[tuple[str, str], tuple[float, DkimSigner | None]] = {}
        self.built = 0

    async def signer(self, tenant_id: str, from_address: str) -> DkimSigner | None:
        domain = from_address.rpartition("@")[2].lower()
        key = (tenant_id, domain)
        found = self._signers.get(key)
        now = time.monotonic()
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        keys = await self.source(tenant_id, domain)
        signer = DkimSigner(keys) if keys else None
        self.built += 1
        self._signers[key] = (now, signer)
        return signer
