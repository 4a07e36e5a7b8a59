"""VERP return paths: each names its ledger row, survives case changes and key rotation,
and nothing forged, truncated or foreign is taken for one of ours."""

from __future__ import annotations

import uuid

import pytest

from missiva_delivery.verp import Verp
from missiva_platform.crypto import TokenKeyring


@pytest.fixture
def keyring() -> TokenKeyring:
    return TokenKeyring.generate()


def test_an_address_names_its_message_and_fits_a_local_part(keyring: TokenKeyring) -> None:
    verp = Verp(keyring, "Bounces.Example.org")
    message_id = str(uuid.uuid4())
    address = verp.address(message_id)
    local, _, domain = address.partition("@")
    assert domain == "bounces.example.org"
    assert local.startswith("bounce+")
    assert len(local) <= 64
    assert verp.message_id(address) == message_id
    assert verp.message_id(f"<{address.upper()}>") == message_id


def test_an_address_still_reads_after_the_keyring_rotates(keyring: TokenKeyring) -> None:
    message_id = str(uuid.uuid4())
    address = Verp(keyring, "b.example.org").address(message_id)
    assert Verp(keyring.rotate(), "b.example.org").message_id(address) == message_id


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a.replace("@b.example.org", "@other.example.org"),
        lambda a: a.replace("bounce+", "bounces+"),
        lambda a: a[:20] + a[21:],
        lambda a: a.replace(a.split(".")[0][-1], "a" if a.split(".")[0][-1] != "a" else "b"),
        lambda a: "someone@b.example.org",
        lambda a: "",
    ],
)
def test_forged_or_foreign_addresses_find_nothing(keyring: TokenKeyring, mangle) -> None:  # type: ignore[no-untyped-def]
    verp = Verp(keyring, "b.example.org")
    address = verp.address(str(uuid.uuid4()))
    assert verp.message_id(mangle(address)) is None


def test_another_keyring_does_not_read_our_addresses(keyring: TokenKeyring) -> None:
    address = Verp(keyring, "b.example.org").address(str(uuid.uuid4()))
    assert Verp(TokenKeyring.generate(), "b.example.org").message_id(address) is None
