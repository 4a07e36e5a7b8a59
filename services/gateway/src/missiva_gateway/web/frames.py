"""Email HTML shown inside our pages (template previews, the mailbox): always in an
``<iframe sandbox>`` without ``allow-scripts``, from an address of ours answering with its
own policy: no script, no request anywhere (images only as ``data:``), inline styles allowed
(email HTML needs them), a CSP ``sandbox`` of its own so the document stays sandboxed even
when opened directly, and framable only by our pages."""

from __future__ import annotations

import secrets
import time

from litestar import Response
from litestar.enums import MediaType

FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)
FRAME_HEADERS = {
    "content-security-policy": FRAME_POLICY,
    "x-frame-options": "SAMEORIGIN",
    "cache-control": "no-store",
}
FRAME_TTL_SECONDS = 900.0
MAX_FRAMES = 2000


def frame_response(html: str) -> Response[str]:
    """``html`` as a framed, sandboxed document."""
    return Response(html, media_type=MediaType.HTML, headers=dict(FRAME_HEADERS))


class Frames:
    """Rendered previews held for a few minutes, each readable only by the session that made
    it (the preview's address is random and bound to that session)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str, str]] = {}

    def put(self, owner: str, html: str) -> str:
        now = time.monotonic()
        if len(self._items) >= MAX_FRAMES:
            for key in [k for k, v in self._items.items() if now - v[0] > FRAME_TTL_SECONDS]:
                del self._items[key]
            while len(self._items) >= MAX_FRAMES:
                self._items.pop(next(iter(self._items)))
        key = secrets.token_urlsafe(16)
        self._items[key] = (now, owner, html)
        return key

    def get(self, owner: str, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[1] != owner or time.monotonic() - item[0] > FRAME_TTL_SECONDS:
            return None
        return item[2]
