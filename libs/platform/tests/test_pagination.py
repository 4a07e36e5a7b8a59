"""Page tokens: signed, bound to their listing and filters, refused by name when not ours."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from missiva_platform.crypto import TokenKeyring
from missiva_platform.errors import FailedPrecondition, InvalidArgument
from missiva_platform.pagination import PageTokens, page_size

MOMENT = datetime(2026, 12, 7, 3, 0, 1, 123456, tzinfo=UTC)


@pytest.fixture
def keyring() -> TokenKeyring:
    return TokenKeyring.generate()


@pytest.fixture
def pages(keyring: TokenKeyring) -> PageTokens:
    return PageTokens(keyring)


def refused(pages: PageTokens, token: str, listing: str = "svc.ListThings", **kw) -> str:
    with pytest.raises(InvalidArgument) as err:
        pages.read(token, listing, kw.pop("shape", (datetime, str)), **kw)
    assert err.value.violations[0][0] == "page_token"
    return err.value.message


def test_a_token_reads_back_its_position(pages: PageTokens) -> None:
    token = pages.issue("svc.ListThings", [MOMENT, "row-7"], bound_to=("acct-1",))
    assert pages.read(token, "svc.ListThings", (datetime, str), bound_to=("acct-1",)) == [
        MOMENT,
        "row-7",
    ]
    other_zone = MOMENT.astimezone(timezone(timedelta(hours=5)))
    again = pages.issue("svc.ListThings", [other_zone, "row-7"], bound_to=("acct-1",))
    assert pages.read(again, "svc.ListThings", (datetime, str), bound_to=("acct-1",)) == [
        MOMENT,
        "row-7",
    ]
    assert pages.read("", "svc.ListThings", (datetime, str)) is None


def test_integers_round_trip_within_bigint_only(pages: PageTokens) -> None:
    token = pages.issue("svc.ListNumbers", [2**63 - 1])
    assert pages.read(token, "svc.ListNumbers", (int,)) == [2**63 - 1]
    with pytest.raises(ValueError, match="bigint"):
        pages.issue("svc.ListNumbers", [2**63])
    with pytest.raises(TypeError):
        pages.issue("svc.ListNumbers", [True])
    with pytest.raises(ValueError, match="aware"):
        pages.issue("svc.ListThings", [datetime(2026, 1, 1), "x"])


def test_a_token_of_another_listing_or_filter_is_refused(pages: PageTokens) -> None:
    token = pages.issue("svc.ListThings", [MOMENT, "row-7"], bound_to=("acct-1", "open"))
    refused(pages, token, "svc.ListOtherThings", bound_to=("acct-1", "open"))
    message = refused(pages, token, bound_to=("acct-2", "open"))
    assert "other filters" in message
    refused(pages, token, bound_to=("acct-1", "closed"))
    refused(pages, token, bound_to=("acct-1",))
    # The same listing and filters with another shape of position (a changed release).
    refused(pages, token, shape=(int, str), bound_to=("acct-1", "open"))
    refused(pages, token, shape=(datetime,), bound_to=("acct-1", "open"))


def test_a_tampered_or_foreign_token_is_refused(keyring: TokenKeyring) -> None:
    pages = PageTokens(keyring)
    token = pages.issue("svc.ListThings", [MOMENT, "row-7"])
    version, kid, payload, mac = token.split(".")
    forged_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b"row-7", b"row-9")
    ).decode().rstrip("=")  # fmt: skip
    for bad in (
        f"{version}.{kid}.{forged_payload}.{mac}",
        f"{version}.{kid}.{payload}.{mac[:-2]}AA",
        token[:-1],
        "not a token",
        "²",
        base64.urlsafe_b64encode(b"12345").decode(),  # an old unsigned token
        "v1." + "A" * 5000,
    ):
        refused(pages, bad)
    # Another service's keyring, and the keyring's own link tokens, are not page tokens.
    refused(PageTokens(TokenKeyring.generate()), token)
    link = keyring.sign("page:svc.ListThings", {"k": [MOMENT.isoformat(), "row-7"], "b": ""})
    refused(pages, link)


def test_a_rotated_keyring_still_reads_the_older_tokens(keyring: TokenKeyring) -> None:
    token = PageTokens(keyring).issue("svc.ListThings", [MOMENT, "row-7"])
    rotated = keyring.rotate()
    assert PageTokens(rotated).read(token, "svc.ListThings", (datetime, str)) == [MOMENT, "row-7"]
    retired = rotated.retire(keyring.primary_kid)
    refused(PageTokens(retired), token)


def test_a_missing_keyring_fails_only_when_a_token_is_needed() -> None:
    def missing() -> TokenKeyring:
        raise FailedPrecondition("TOKEN_KEYRING_FILE is not set")

    pages = PageTokens(missing)
    assert pages.read("", "svc.ListThings", (str,)) is None
    with pytest.raises(FailedPrecondition, match="TOKEN_KEYRING_FILE"):
        pages.issue("svc.ListThings", ["x"])


def test_page_size() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000, cap=200) == 200
    with pytest.raises(InvalidArgument):
        page_size(-1)
