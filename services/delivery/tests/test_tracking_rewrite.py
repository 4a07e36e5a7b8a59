"""Rewriting a template's links (once per revision) and the token format, without I/O."""

from __future__ import annotations

import uuid

from missiva.common.v1 import types_pb2
from missiva_delivery import tracking
from missiva_platform.crypto import TokenKeyring

BASE = "https://mail.missiva.test"


def test_fixed_links_get_positions_and_the_rest_stays() -> None:
    html = (
        '<a href="https://shop.example/a?x=1&amp;y=2">A</a>'
        "<a class='b' HREF='https://shop.example/b'>B</a>"
        '<a href="{{ unsubscribe_url }}">U</a> <a href="{{ my_data_url }}">M</a>'
        '<a href="https://shop.example/a?x=1&amp;y=2">A again</a>'
        f'<a href="{BASE}/preferences/abc">P</a> <a href="mailto:shop@shop.example">m</a>'
        '<a href="https://shop.example/u/{{ contact_id }}">mine</a> <a href="#top">top</a>'
    )
    text = (
        "See https://shop.example/b, or https://shop.example/text-only.\n"
        "{{ unsubscribe_url }} https://shop.example/p/{{ x }} (https://shop.example/c)"
    )
    rewritten = tracking.rewrite(html, text, BASE)
    assert rewritten.links == (
        "https://shop.example/a?x=1&y=2",
        "https://shop.example/b",
        "https://shop.example/text-only",
        "https://shop.example/c",
    )
    assert rewritten.html.count('"{{ _links[0] }}"') == 2
    assert "'{{ _links[1] }}'" in rewritten.html
    for kept in ("{{ unsubscribe_url }}", "{{ my_data_url }}", f"{BASE}/preferences/abc",
                 "mailto:shop@shop.example", "{{ contact_id }}", "#top"):  # fmt: skip
        assert kept in rewritten.html
    assert rewritten.html.endswith(tracking.PIXEL)
    assert rewritten.text == (
        "See {{ _links[1] }}, or {{ _links[2] }}.\n"
        "{{ unsubscribe_url }} https://shop.example/p/{{ x }} ({{ _links[3] }})"
    )


def test_only_marketing_and_product_updates_are_tracked() -> None:
    assert tracking.tracked(types_pb2.EMAIL_CATEGORY_MARKETING)
    assert tracking.tracked(types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE)
    assert not tracking.tracked(types_pb2.EMAIL_CATEGORY_SYSTEM)
    assert not tracking.tracked(types_pb2.EMAIL_CATEGORY_UNSPECIFIED)


def test_tokens_bind_link_set_message_position_and_kind() -> None:
    keyring = TokenKeyring.generate()
    tokens = tracking.Tokens(keyring)
    link_set, message = uuid.uuid4(), uuid.uuid4()
    click = tokens.click(link_set, message, 3)
    found = tokens.check(tracking.CLICK, click)
    assert found == tracking.Engagement(tracking.CLICK, str(link_set), str(message), 3)
    assert tokens.check(tracking.OPEN, click) is None
    opened = tokens.open(link_set, message)
    assert tokens.check(tracking.OPEN, opened) == tracking.Engagement(
        tracking.OPEN, str(link_set), str(message), 0
    )
    assert tokens.check(tracking.CLICK, opened) is None
    # Another keyring's token, or the same keyring's under another use, is not ours.
    assert tracking.Tokens(TokenKeyring.generate()).check(tracking.CLICK, click) is None
    assert tokens.check(tracking.CLICK, click.replace(".", "..", 1)) is None
    anonymous = tokens.click(link_set, tracking.NOBODY, 1)
    assert tokens.check(tracking.CLICK, anonymous).message_id == ""


def test_anonymous_values_are_made_once_per_revision() -> None:
    maker = tracking.LinkMaker(tracking.Tokens(TokenKeyring.generate()), BASE + "/")
    link_set = uuid.uuid4()
    first = maker.values(link_set, 2, str(uuid.uuid4()), personal=False)
    again = maker.values(link_set, 2, str(uuid.uuid4()), personal=False)
    assert first is again
    personal = maker.values(link_set, 2, str(uuid.uuid4()), personal=True)
    assert personal["_links"] != first["_links"]
    assert all(str(u).startswith(f"{BASE}/t/c/") for u in first["_links"])  # type: ignore[attr-defined]
    assert str(first["_open"]).startswith(f"{BASE}/t/o/")


def test_device_class() -> None:
    assert tracking.device_class("") == ""
    assert tracking.device_class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile") == "mobile"
    assert tracking.device_class("Mozilla/5.0 (iPad; CPU OS 17_0)") == "tablet"
    assert tracking.device_class("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == "desktop"
