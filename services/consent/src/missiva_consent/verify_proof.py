"""Verify a Missiva proof-of-consent bundle offline, with nothing but the Python standard library.

    python verify_proof.py bundle.json        (or: python -m missiva_consent.verify_proof ...)

Exit status 0 and "OK" when the bundle is intact, 1 and the first problem found otherwise.

What is checked
---------------
A bundle (``ExportProof``'s ``bundle_json``) holds one person's entries of one account's
consent ledger, oldest first, and the latest daily digest that covers them.

1. Every entry's ``entry_hash`` is the SHA-256 (lower-case hex) of its *canonical form*: a
   JSON object of every field of the entry except ``entry_hash`` itself, keys sorted, no
   whitespace (separators ``,`` and ``:``), non-ASCII characters written as UTF-8 (not
   ``\\u`` escapes), encoded as UTF-8. Times are UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
2. The entries form an unbroken chain: ``seq`` runs 1, 2, 3...; each ``prev_hash`` is the
   previous entry's ``entry_hash`` (64 zeros for the first); all name the bundle's account
   and person.
3. The digest: the entry at ``covered_seq`` has hash ``covered_hash``; the Merkle leaf
   ``SHA-256(0x00 || "<person_key>:<seq>:<entry_hash>")`` folded with ``path`` (each step
   ``SHA-256(0x01 || left || right)`` over the raw 32-byte hashes) gives ``merkle_root``; and
   ``digest`` is SHA-256 of ``"<previous_digest>:<account_id>:<day>:<chain_count>:
   <record_count>:<merkle_root>"``. Compare ``digest`` (or ``merkle_root``) with the one
   Missiva published that day (event ``consent.digest.published``) to anchor the bundle.

Editing, removing or reordering any entry breaks (1) or (2); rewriting the whole chain breaks
(3) against the published digest.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

FORMAT = "missiva.consent.proof.v1"
GENESIS = "0" * 64
ENTRY_FIELDS = (
    "account_id",
    "action",
    "campaign_id",
    "checkbox_text",
    "document_id",
    "document_version",
    "entry_hash",
    "ip_hash",
    "legal_basis",
    "occurred_at",
    "person_key",
    "prev_hash",
    "purpose_id",
    "purpose_key",
    "record_id",
    "recorded_at",
    "resulting_status",
    "seq",
    "source",
    "source_detail",
    "state_version",
    "user_agent",
)


class ProofError(Exception):
    """The bundle does not verify; the message says where."""


def canonical_entry(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: every field but ``entry_hash``, as canonical JSON."""
    body = {name: entry[name] for name in ENTRY_FIELDS if name != "entry_hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_entry(entry)).hexdigest()


def leaf_hash(person_key: str, seq: int, head_hash: str) -> str:
    return hashlib.sha256(b"\x00" + f"{person_key}:{seq}:{head_hash}".encode()).hexdigest()


def node_hash(left: str, right: str) -> str:
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def merkle_root(leaves: Sequence[str]) -> str:
    """Root over ``leaves`` in order; an odd last node moves up unchanged."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    level = list(leaves)
    while len(level) > 1:
        level = [
            node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def merkle_path(leaves: Sequence[str], index: int) -> list[dict[str, str]]:
    """Sibling hashes from leaf ``index`` up to the root (``side`` of the sibling)."""
    path: list[dict[str, str]] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append({"side": "left" if sibling < index else "right", "hash": level[sibling]})
        level = [
            node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        index //= 2
    return path


def root_from_path(leaf: str, path: Sequence[Mapping[str, str]]) -> str:
    node = leaf
    for step in path:
        if step["side"] == "left":
            node = node_hash(step["hash"], node)
        elif step["side"] == "right":
            node = node_hash(node, step["hash"])
        else:
            raise ProofError(f"Merkle path step has an unknown side {step['side']!r}")
    return node


def digest_of(
    previous_digest: str,
    account_id: str,
    day: str,
    chain_count: int,
    record_count: int,
    root: str,
) -> str:
    text = f"{previous_digest}:{account_id}:{day}:{chain_count}:{record_count}:{root}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify(bundle: Mapping[str, Any]) -> str:
    """Check a bundle; return a one-line summary, or raise ``ProofError``."""
    if bundle.get("format") != FORMAT:
        raise ProofError(f"not a {FORMAT} bundle")
    account_id, person_key = bundle["account_id"], bundle["person_key"]
    entries = bundle["entries"]
    previous = GENESIS
    hashes: dict[int, str] = {}
    for position, entry in enumerate(entries, start=1):
        missing = [name for name in ENTRY_FIELDS if name not in entry]
        if missing:
            raise ProofError(f"entry {position} lacks {', '.join(missing)}")
        if entry["account_id"] != account_id or entry["person_key"] != person_key:
            raise ProofError(f"entry {position} belongs to another account or person")
        if entry["seq"] != position:
            raise ProofError(f"entry {position} has seq {entry['seq']}: an entry is missing")
        if entry["prev_hash"] != previous:
            raise ProofError(f"entry {position}: prev_hash does not match entry {position - 1}")
        if entry_hash(entry) != entry["entry_hash"]:
            raise ProofError(f"entry {position} was altered: its hash does not match its content")
        previous = entry["entry_hash"]
        hashes[position] = previous
    digest = bundle.get("digest")
    if digest is None:
        return f"OK: {len(entries)} entries chained; no daily digest covers them yet"
    seq = digest["covered_seq"]
    if hashes.get(seq) != digest["covered_hash"]:
        raise ProofError(f"the digest covers entry {seq}, whose hash differs from the bundle's")
    root = root_from_path(leaf_hash(person_key, seq, digest["covered_hash"]), digest["path"])
    if root != digest["merkle_root"]:
        raise ProofError("the Merkle path does not lead to the digest's root")
    expected = digest_of(
        digest["previous_digest"],
        account_id,
        digest["day"],
        digest["chain_count"],
        digest["record_count"],
        root,
    )
    if expected != digest["digest"]:
        raise ProofError("the digest does not match its own fields")
    return (
        f"OK: {len(entries)} entries chained; entries 1-{seq} sealed in the digest of "
        f"{digest['day']} ({digest['digest']})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            bundle = json.load(handle)
        print(verify(bundle))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"FAILED: unreadable bundle: {exc}")
        return 1
    except ProofError as exc:
        print(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
