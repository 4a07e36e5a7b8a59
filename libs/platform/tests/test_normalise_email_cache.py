"""``normalise_email``'s ASCII path (the domain's IDNA form from a cache) gives the uncached
answer exactly, refusals included, and the person key is the HMAC-SHA256 it always was."""

from __future__ import annotations

import hashlib
import hmac
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from missiva_platform.crypto import (
    _PERSON_KEY_DOMAIN,
    EmailHasher,
    _normalise_email,
    normalise_email,
)

KEY = b"k" * 32
ASCII = st.text(alphabet=string.ascii_letters + string.digits + ".-_@ \t+\x1f", max_size=80)
LABELS = st.lists(st.text(alphabet="aB9-", min_size=0, max_size=70), min_size=1, max_size=4)


def outcome(normalise, text: str) -> str:
    try:
        return normalise(text)
    except ValueError:
        return "refused"


@settings(max_examples=2000, deadline=None)
@given(text=ASCII)
def test_any_ascii_text_gets_the_uncached_answer(text: str) -> None:
    assert outcome(normalise_email, text) == outcome(_normalise_email, text)


@settings(max_examples=2000, deadline=None)
@given(local=st.text(alphabet="aZ.+", min_size=0, max_size=5), labels=LABELS)
def test_addresses_with_odd_labels_get_the_uncached_answer(local: str, labels: list[str]) -> None:
    text = f" {local}@{'.'.join(labels)} "
    assert outcome(normalise_email, text) == outcome(_normalise_email, text)


def test_non_ascii_addresses_still_go_the_whole_way() -> None:
    assert normalise_email("José@Bücher.Example") == _normalise_email("José@Bücher.Example")
    assert normalise_email("Jose\u0301@example.org") == "jos\u00e9@example.org"


def test_the_person_key_is_the_hmac_of_the_normalised_address() -> None:
    address = "Ada.Lovelace@Example.ORG"
    message = _PERSON_KEY_DOMAIN + b"ada.lovelace@example.org"
    expected = hmac.new(KEY, message, hashlib.sha256).hexdigest()
    assert EmailHasher(KEY).person_key(address) == expected
    assert EmailHasher(KEY).person_key("ada.lovelace@example.org") == expected
