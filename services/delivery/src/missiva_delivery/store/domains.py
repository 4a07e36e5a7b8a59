"""Sender domains and their DKIM keys (private keys only encrypted, see the migration).

``signing_keys`` is what the campaign lane signs with: the active keys of a verified domain,
decrypted. Every query filters by tenant.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from missiva_delivery.dkim import DkimKey
from missiva_platform.crypto import FieldCipher

_DOMAIN_COLUMNS = (
    "id, tenant_id, domain, return_path, status, checks, version, created_at, verified_at,"
    " last_checked_at, dkim_rotated_at"
)
_KEY_COLUMNS = "selector, algorithm, state, dns_value, created_at, superseded_at"


def key_aad(tenant_id: str, domain: str, selector: str) -> str:
    """What a private key is bound to: it opens for this tenant, domain and selector only."""
    return f"delivery:dkim:{tenant_id}:{domain}:{selector}"


def _domain(row: Any) -> dict[str, Any]:
    names = [c.strip() for c in _DOMAIN_COLUMNS.split(",")]
    found = dict(zip(names, row, strict=True))
    found["id"] = str(found["id"])
    return found


def _key(row: Any) -> dict[str, Any]:
    names = [c.strip() for c in _KEY_COLUMNS.split(",")]
    return dict(zip(names, row, strict=True))


async def insert_domain(conn: Any, tenant_id: str, domain: str, return_path: str) -> dict[str, Any]:
    """The new domain's row, or the existing one (``created`` False) for the same name."""
    cur = await conn.execute(
        f"INSERT INTO sender_domains (id, tenant_id, domain, return_path) VALUES (%s, %s, %s, %s)"
        f" ON CONFLICT (tenant_id, domain) DO NOTHING RETURNING {_DOMAIN_COLUMNS}",
        (uuid.uuid4(), tenant_id, domain, return_path),
    )
    row = await cur.fetchone()
    if row is None:
        existing = await get_by_name(conn, tenant_id, domain)
        assert existing is not None
        return {**existing, "created": False}
    return {**_domain(row), "created": True}


async def insert_key(
    conn: Any,
    domain: dict[str, Any],
    key: DkimKey,
    dns_value: str,
    state: str,
    cipher: FieldCipher,
) -> None:
    sealed = cipher.encrypt(
        key.private_key_pem, key_aad(domain["tenant_id"], domain["domain"], key.selector)
    )
    await conn.execute(
        "INSERT INTO dkim_keys (sender_domain_id, selector, tenant_id, algorithm, state,"
        " private_key_enc, dns_value) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (domain["id"], key.selector, domain["tenant_id"], key.algorithm, state, sealed, dns_value),
    )


async def get(conn: Any, tenant_id: str, sender_domain_id: str, *, lock: bool = False) -> Any:
    cur = await conn.execute(
        f"SELECT {_DOMAIN_COLUMNS} FROM sender_domains WHERE tenant_id = %s AND id = %s"
        + (" FOR UPDATE" if lock else ""),
        (tenant_id, sender_domain_id),
    )
    row = await cur.fetchone()
    return _domain(row) if row else None


async def get_by_name(conn: Any, tenant_id: str, domain: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_DOMAIN_COLUMNS} FROM sender_domains WHERE tenant_id = %s AND domain = %s",
        (tenant_id, domain),
    )
    row = await cur.fetchone()
    return _domain(row) if row else None


async def by_name_any_tenant(conn: Any, domain: str) -> list[dict[str, Any]]:
    """Every account's registration of ``domain`` (the operator's publish-dns command)."""
    cur = await conn.execute(
        f"SELECT {_DOMAIN_COLUMNS} FROM sender_domains WHERE domain = %s ORDER BY created_at",
        (domain,),
    )
    return [_domain(row) for row in await cur.fetchall()]


async def page(
    conn: Any, tenant_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    if after is None:
        cur = await conn.execute(
            f"SELECT {_DOMAIN_COLUMNS} FROM sender_domains WHERE tenant_id = %s"
            " ORDER BY created_at, id LIMIT %s",
            (tenant_id, limit),
        )
    else:
        cur = await conn.execute(
            f"SELECT {_DOMAIN_COLUMNS} FROM sender_domains WHERE tenant_id = %s"
            " AND (created_at, id) > (%s, %s) ORDER BY created_at, id LIMIT %s",
            (tenant_id, after[0], uuid.UUID(after[1]), limit),
        )
    return [_domain(row) for row in await cur.fetchall()]


async def keys(conn: Any, tenant_id: str, sender_domain_id: str) -> list[dict[str, Any]]:
    """The domain's DKIM keys (without the private halves), oldest generation first."""
    cur = await conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM dkim_keys WHERE tenant_id = %s AND sender_domain_id = %s"
        " ORDER BY created_at, selector DESC",
        (tenant_id, sender_domain_id),
    )
    return [_key(row) for row in await cur.fetchall()]


async def save_check(
    conn: Any,
    domain: dict[str, Any],
    *,
    status: str,
    checks: dict[str, Any],
    verified_now: bool,
) -> dict[str, Any]:
    cur = await conn.execute(
        "UPDATE sender_domains SET status = %s, checks = %s, last_checked_at = now(),"
        " verified_at = CASE WHEN %s THEN now() ELSE verified_at END,"
        " version = version + CASE WHEN status <> %s THEN 1 ELSE 0 END"
        f" WHERE tenant_id = %s AND id = %s RETURNING {_DOMAIN_COLUMNS}",
        (
            status,
            json.dumps(checks),
            verified_now,
            status,
            domain["tenant_id"],
            domain["id"],
        ),
    )
    return _domain(await cur.fetchone())


async def promote_pending(conn: Any, tenant_id: str, sender_domain_id: str) -> int:
    """Rotation, second step: the pending keys (their records verified) sign from now on;
    the keys they replace are retiring from now on. The number of keys promoted."""
    cur = await conn.execute(
        "SELECT count(*) FROM dkim_keys WHERE tenant_id = %s AND sender_domain_id = %s"
        " AND state = 'pending'",
        (tenant_id, sender_domain_id),
    )
    row = await cur.fetchone()
    if not row or not row[0]:
        return 0
    await conn.execute(
        "UPDATE dkim_keys SET state = 'retiring', superseded_at = now()"
        " WHERE tenant_id = %s AND sender_domain_id = %s AND state = 'active'",
        (tenant_id, sender_domain_id),
    )
    await conn.execute(
        "UPDATE dkim_keys SET state = 'active' WHERE tenant_id = %s AND sender_domain_id = %s"
        " AND state = 'pending'",
        (tenant_id, sender_domain_id),
    )
    await conn.execute(
        "UPDATE sender_domains SET dkim_rotated_at = now() WHERE tenant_id = %s AND id = %s",
        (tenant_id, sender_domain_id),
    )
    return int(row[0])


async def signing_keys(
    conn: Any, tenant_id: str, domain: str, *, cipher: FieldCipher
) -> list[DkimKey]:
    """The keys to sign ``domain``'s mail with: its active keys, decrypted, RSA first; none
    unless the domain is verified for ``tenant_id``."""
    cur = await conn.execute(
        "SELECT k.selector, k.algorithm, k.private_key_enc FROM dkim_keys k"
        " JOIN sender_domains d ON d.id = k.sender_domain_id AND d.tenant_id = k.tenant_id"
        " WHERE d.tenant_id = %s AND d.domain = %s AND d.status = 'verified'"
        " AND k.state = 'active' ORDER BY k.algorithm DESC, k.selector",
        (tenant_id, domain.lower()),
    )
    found = []
    for selector, algorithm, sealed in await cur.fetchall():
        pem = cipher.decrypt(bytes(sealed), key_aad(tenant_id, domain.lower(), selector))
        found.append(DkimKey(domain.lower(), selector, algorithm, pem))
    return found
