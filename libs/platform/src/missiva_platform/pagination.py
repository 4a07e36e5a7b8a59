"""Page tokens: opaque to clients, signed, and bound to the listing that issued them.

A list RPC hands out ``next_page_token`` for the position after its last row and reads it
back on the next call. One module for every service, so that a token cannot be forged or
carried elsewhere:

- signed with a key derived from the service's token keyring (``TOKEN_KEYRING_FILE``; the
  derived keys sign page tokens only, so a page token is never a link token), with the
  keyring's key ids: a rotated keyring keeps reading tokens of its older keys;
- bound to the listing (``"consent.ListSuppressions"``) and to what the caller asked for
  (the tenant and the filters, ``bound_to``): a token of one listing, one account or one
  filter is refused by another;
- malformed, tampered, foreign or stale: ``INVALID_ARGUMENT`` naming ``page_token``, never
  INTERNAL. A position holds only the values the caller gave (``str``, ``int`` within
  bigint, aware ``datetime``), checked against ``shape`` when read.

Tokens do not expire: a position stays meaningful (keyset paging), and retiring a key from
the keyring invalidates the tokens it signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from missiva_platform.crypto import InvalidToken, TokenKeyring
from missiva_platform.errors import InvalidArgument

__all__ = ["PageTokens", "page_size"]

Position = str | int | datetime
BIGINT = 2**63
_LABEL = "page-tokens"
_NOT_OURS = "is not a token from a previous page of this listing"


def page_size(requested: int, *, default: int = 50, cap: int = 500) -> int:
    """The page size to use: ``requested`` (0: ``default``) at most ``cap``."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or default, cap)


def _binding(bound_to: Sequence[object]) -> str:
    encoded = msgspec.json.encode([str(value) for value in bound_to])
    return hashlib.sha256(encoded).hexdigest()[:32]


def _encode(value: Position) -> Any:
    if isinstance(value, bool):
        raise TypeError("a page position holds str, int or datetime values")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime in a page position must be timezone-aware")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, int):
        if not -BIGINT <= value < BIGINT:
            raise ValueError("an integer in a page position must fit a bigint")
        return value
    if isinstance(value, str):
        return value
    raise TypeError("a page position holds str, int or datetime values")


def _decode(value: Any, kind: type) -> Position:
    if kind is datetime:
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if moment.tzinfo is not None:
                    return moment
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool) and -BIGINT <= value < BIGINT:
            return value
    elif kind is str and isinstance(value, str):
        return value
    raise InvalidArgument.field("page_token", _NOT_OURS)


class PageTokens:
    """Issue and read the page tokens of a service's listings.

    ``keyring`` is the service's token keyring, or a function returning it (called when a
    token is first needed, so a service whose keyring is not configured fails only then,
    with the error that function raises).
    """

    def __init__(self, keyring: TokenKeyring | Callable[[], TokenKeyring]) -> None:
        self._source = keyring
        self._derived: TokenKeyring | None = None

    @property
    def _keys(self) -> TokenKeyring:
        if self._derived is None:
            source = self._source if isinstance(self._source, TokenKeyring) else self._source()
            self._derived = source.derive(_LABEL)
        return self._derived

    def issue(
        self, listing: str, position: Sequence[Position], *, bound_to: Sequence[object] = ()
    ) -> str:
        """The token of ``position`` in ``listing``, for the same ``bound_to`` only."""
        if not listing:
            raise ValueError("listing must name the list RPC")
        claims = {"k": [_encode(value) for value in position], "b": _binding(bound_to)}
        return self._keys.sign(f"page:{listing}", claims)

    def read(
        self,
        token: str,
        listing: str,
        shape: Sequence[type],
        *,
        bound_to: Sequence[object] = (),
    ) -> list[Any] | None:
        """The position of ``token`` (None when empty: the first page), values of the types
        of ``shape``; INVALID_ARGUMENT naming ``page_token`` for anything else."""
        if not token:
            return None
        try:
            claims = self._keys.verify(token, f"page:{listing}")
        except InvalidToken:
            raise InvalidArgument.field("page_token", _NOT_OURS) from None
        values = claims.get("k")
        if claims.get("b") != _binding(bound_to):
            # The same listing with another account or other filters: start again.
            raise InvalidArgument.field(
                "page_token", "belongs to the same listing with other filters: start again"
            )
        if not isinstance(values, list) or len(values) != len(shape):
            raise InvalidArgument.field("page_token", _NOT_OURS)
        return [_decode(value, kind) for value, kind in zip(values, shape, strict=True)]
