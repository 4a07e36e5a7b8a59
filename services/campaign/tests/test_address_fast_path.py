"""The import's fast address check gives the kit's answer exactly: for random addresses (plain,
odd, too long, non-ASCII, broken) both accept with the same normalised address and key, or
both refuse."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from missiva_campaign import domain
from missiva_platform import validation
from missiva_platform.errors import InvalidArgument

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
LOCAL = st.text(alphabet=ATEXT + '.."@ \\(),:;<>[]éü', min_size=0, max_size=70)
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-_é", min_size=0, max_size=65)
TLD = st.sampled_from(["org", "COM", "it", "x", "local", "localhost", "test", "invalid", "onion",
                       "xn--p1ai", "123", "co.uk", "a" * 70, ""])  # fmt: skip
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, max_size=4), TLD)


def outcome(check, text: str):
    try:
        found = check("email", text)
    except InvalidArgument:
        return "refused"
    return (found.email, found.key)


@settings(max_examples=3000, deadline=None)
@given(local=LOCAL, host=DOMAIN, pad=st.sampled_from(["", " ", "\t"]))
def test_the_fast_path_agrees_with_the_kit(local: str, host: str, pad: str) -> None:
    text = f"{pad}{local}@{host}{pad}"
    assert outcome(domain.email_address, text) == outcome(validation.email_address, text), text


def test_common_and_edge_addresses_agree() -> None:
    for text in (
        "user0000001@mail1.example.org", "Ada.Lovelace@Example.ORG", "a.b@c.d.example.com",
        ".a@example.org", "a.@example.org", "a..b@example.org", "a@example", "a@localhost",
        "a@-bad.example.org", "a@bad-.example.org", "a@exa_mple.org", "x" * 64 + "@example.org",
        "x" * 65 + "@example.org", "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".org",
        "a@" + ("b" * 60 + ".") * 4 + "org", "ü@example.org", "a@bücher.example", "@example.org",
        "a@", "a@@example.org", "a@example.org.",
    ):  # fmt: skip
        assert outcome(domain.email_address, text) == outcome(validation.email_address, text), text
