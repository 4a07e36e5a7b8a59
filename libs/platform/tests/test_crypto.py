"""Behaviour of the platform's crypto: link tokens, field encryption, person keys, IP hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from missiva_platform.crypto import (
    DecryptionError,
    EmailHasher,
    FieldCipher,
    InvalidToken,
    IpPseudonymiser,
    TokenKeyring,
    generate_salt,
    normalise_email,
    reencrypt_column,
)

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def _flip(text: str, index: int) -> str:
    """Replace one character by another of the base64url alphabet."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


# --------------------------------------------------------------------------- tokens


def test_token_round_trips_its_claims() -> None:
    ring = TokenKeyring.generate()
    token = ring.sign("unsubscribe", {"contact": "c-1", "list": 7}, now=NOW)

    assert ring.verify(token, "unsubscribe", now=NOW) == {"contact": "c-1", "list": 7}


def test_token_has_the_documented_compact_shape() -> None:
    ring = TokenKeyring.generate()
    token = ring.sign("confirm", {"c": 1})

    version, kid, payload, mac = token.split(".")
    assert (version, kid) == ("v1", ring.primary_kid)
    assert all(c.isalnum() or c in "-_" for c in payload + mac)


def test_token_signed_under_retired_primary_still_verifies() -> None:
    old = TokenKeyring.generate()
    token = old.sign("preferences", {"contact": "c-1"}, now=NOW)

    rotated = old.rotate()

    assert rotated.primary_kid != old.primary_kid
    assert old.primary_kid in rotated
    assert rotated.verify(token, "preferences", now=NOW) == {"contact": "c-1"}


def test_new_tokens_are_signed_with_the_newest_key() -> None:
    rotated = TokenKeyring.generate().rotate()

    token = rotated.sign("preferences", {"contact": "c-1"})

    assert token.split(".")[1] == rotated.primary_kid


def test_token_with_a_flipped_payload_character_is_refused_as_bad_signature() -> None:
    ring = TokenKeyring.generate()
    version, kid, payload, mac = ring.sign("unsubscribe", {"contact": "c-1"}).split(".")
    tampered = ".".join((version, kid, _flip(payload, len(payload) // 2), mac))

    with pytest.raises(InvalidToken) as refused:
        ring.verify(tampered, "unsubscribe")
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("position", [0, 21, 42])
def test_token_with_a_flipped_mac_character_is_refused_as_bad_signature(position: int) -> None:
    ring = TokenKeyring.generate()
    version, kid, payload, mac = ring.sign("unsubscribe", {"contact": "c-1"}).split(".")
    tampered = ".".join((version, kid, payload, _flip(mac, position)))

    with pytest.raises(InvalidToken) as refused:
        ring.verify(tampered, "unsubscribe")
    assert refused.value.reason == "bad_signature"


def test_expired_token_is_refused_as_expired() -> None:
    ring = TokenKeyring.generate()
    token = ring.sign("confirm", {"contact": "c-1"}, ttl=timedelta(hours=1), now=NOW)

    assert ring.verify(token, "confirm", now=NOW + timedelta(minutes=59)) == {"contact": "c-1"}
    with pytest.raises(InvalidToken) as refused:
        ring.verify(token, "confirm", now=NOW + timedelta(hours=1))
    assert refused.value.reason == "expired"


def test_token_without_ttl_does_not_expire() -> None:
    ring = TokenKeyring.generate()
    token = ring.sign("unsubscribe", {"contact": "c-1"}, now=NOW)

    assert ring.verify(token, "unsubscribe", now=NOW + timedelta(days=3650))


def test_token_for_another_purpose_is_refused_as_wrong_purpose() -> None:
    ring = TokenKeyring.generate()
    token = ring.sign("preferences", {"contact": "c-1"})

    with pytest.raises(InvalidToken) as refused:
        ring.verify(token, "unsubscribe")
    assert refused.value.reason == "wrong_purpose"


def test_token_naming_a_retired_key_is_refused_as_unknown_key() -> None:
    old = TokenKeyring.generate()
    token = old.sign("unsubscribe", {"contact": "c-1"})

    current = old.rotate().retire(old.primary_kid)

    with pytest.raises(InvalidToken) as refused:
        current.verify(token, "unsubscribe")
    assert refused.value.reason == "unknown_key"


def test_token_from_another_keyring_is_refused_as_unknown_key() -> None:
    token = TokenKeyring.generate().sign("unsubscribe", {"contact": "c-1"})

    with pytest.raises(InvalidToken) as refused:
        TokenKeyring.generate().verify(token, "unsubscribe")
    assert refused.value.reason == "unknown_key"


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v1.a.b", "v2.k.e30.AAAA", "v1.k.e30.AAAA.extra", "v1.bad kid.e30.AAAA", "ü" * 10],
)
def test_garbage_is_refused_as_malformed(token: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        TokenKeyring.generate().verify(token, "unsubscribe")
    assert refused.value.reason == "malformed"


def test_claims_may_not_override_the_reserved_fields() -> None:
    with pytest.raises(ValueError, match="reserved"):
        TokenKeyring.generate().sign("unsubscribe", {"p": "admin"})


def test_primary_key_cannot_be_retired() -> None:
    ring = TokenKeyring.generate()

    with pytest.raises(ValueError, match="rotate first"):
        ring.retire(ring.primary_kid)


def test_token_keyring_survives_json_and_file_round_trips(tmp_path: Path) -> None:
    ring = TokenKeyring.generate().rotate()
    token = ring.sign("unsubscribe", {"contact": "c-1"})
    path = tmp_path / "ring.json"
    path.write_bytes(ring.to_json())

    loaded = TokenKeyring.from_file(path)

    assert loaded.primary_kid == ring.primary_kid
    assert loaded.key_ids == ring.key_ids
    assert loaded.verify(token, "unsubscribe") == {"contact": "c-1"}
    assert TokenKeyring.from_json(ring.to_json().decode()).key_ids == ring.key_ids


def test_keyring_json_with_a_short_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenKeyring.from_json('{"primary": "k1", "keys": {"k1": "c2hvcnQ="}}')


def test_keyring_repr_shows_key_ids_but_never_keys() -> None:
    ring = TokenKeyring.generate()

    assert ring.primary_kid in repr(ring)
    assert ring.to_json().decode().split('"')[-2] not in repr(ring)


# --------------------------------------------------------------------------- field encryption


def test_ciphertext_round_trips_with_the_same_associated_data() -> None:
    cipher = FieldCipher.generate()

    blob = cipher.encrypt("IT01234567890", aad="account-1")

    assert cipher.decrypt(blob, "account-1") == b"IT01234567890"
    assert b"IT01234567890" not in blob


def test_encrypting_the_same_value_twice_gives_different_blobs() -> None:
    cipher = FieldCipher.generate()

    assert cipher.encrypt(b"x", b"a") != cipher.encrypt(b"x", b"a")


def test_ciphertext_written_under_key_1_decrypts_after_key_2_becomes_primary() -> None:
    key1 = FieldCipher.generate()
    blob = key1.encrypt(b"secret", b"account-1")

    key2 = key1.rotate()

    assert key2.key_id(blob) == key1.primary_kid
    assert key2.needs_rotation(blob)
    assert key2.decrypt(blob, b"account-1") == b"secret"


def test_reencrypt_moves_a_blob_to_the_primary_key() -> None:
    key1 = FieldCipher.generate()
    key2 = key1.rotate()
    blob = key1.encrypt(b"secret", b"account-1")

    moved = key2.reencrypt(blob, b"account-1")

    assert key2.key_id(moved) == key2.primary_kid
    assert not key2.needs_rotation(moved)
    assert key2.decrypt(moved, b"account-1") == b"secret"


def test_wrong_associated_data_fails_to_decrypt() -> None:
    cipher = FieldCipher.generate()
    blob = cipher.encrypt(b"secret", "account-1")

    with pytest.raises(DecryptionError) as refused:
        cipher.decrypt(blob, "account-2")
    assert refused.value.reason == "auth_failed"


def test_tampered_ciphertext_fails_to_decrypt() -> None:
    cipher = FieldCipher.generate()
    blob = bytearray(cipher.encrypt(b"secret", "account-1"))
    blob[-1] ^= 0x01

    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), "account-1")


def test_blob_under_a_retired_key_fails_as_unknown_key() -> None:
    key1 = FieldCipher.generate()
    blob = key1.encrypt(b"secret", "account-1")
    current = key1.rotate().retire(key1.primary_kid)

    with pytest.raises(DecryptionError) as refused:
        current.decrypt(blob, "account-1")
    assert refused.value.reason == "unknown_key"


@pytest.mark.parametrize("blob", [b"", b"\x02\x01k" + bytes(40), b"\x01\x08short"])
def test_malformed_blob_fails_as_malformed(blob: bytes) -> None:
    with pytest.raises(DecryptionError) as refused:
        FieldCipher.generate().decrypt(blob, "account-1")
    assert refused.value.reason == "malformed"


def test_field_cipher_keys_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        FieldCipher({"k1": os.urandom(48)}, "k1")


def test_field_cipher_survives_a_json_round_trip() -> None:
    cipher = FieldCipher.generate().rotate()
    blob = cipher.encrypt(b"secret", "account-1")

    assert FieldCipher.from_json(cipher.to_json()).decrypt(blob, "account-1") == b"secret"


# --------------------------------------------------------------------------- rotation helper


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection to this module's fresh database (from the shared pytest plugin)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        yield c


async def _make_table(conn: psycopg.AsyncConnection, name: str) -> None:
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    await conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint PRIMARY KEY, account_id uuid NOT NULL, vat bytea)"
        ).format(sql.Identifier(name))
    )


async def _rows(conn: psycopg.AsyncConnection, name: str) -> list[tuple[int, uuid.UUID, bytes]]:
    cur = await conn.execute(
        sql.SQL("SELECT id, account_id, vat FROM {} ORDER BY id").format(sql.Identifier(name))
    )
    return await cur.fetchall()


async def test_rotation_helper_rewrites_rows_under_old_keys_to_the_primary(
    conn: psycopg.AsyncConnection,
) -> None:
    key1 = FieldCipher.generate()
    key2 = key1.rotate()
    await _make_table(conn, "tax_ids")
    accounts = {i: uuid.uuid4() for i in range(1, 12)}
    async with conn.cursor() as cur:
        for i, account in accounts.items():
            # 1-7 under key 1, 8-10 already under key 2, 11 has no value.
            cipher = key1 if i <= 7 else key2
            blob = cipher.encrypt(f"VAT-{i}", str(account)) if i <= 10 else None
            await cur.execute(
                "INSERT INTO tax_ids (id, account_id, vat) VALUES (%s, %s, %s)",
                (i, account, blob),
            )
    before = {i: blob for i, _, blob in await _rows(conn, "tax_ids")}

    rewritten = await reencrypt_column(
        conn,
        key2,
        table="tax_ids",
        key_column="id",
        value_column="vat",
        aad_column="account_id",
        batch_size=3,
    )

    assert rewritten == 7
    for i, account, blob in await _rows(conn, "tax_ids"):
        if i == 11:
            assert blob is None
            continue
        assert key2.key_id(blob) == key2.primary_kid
        assert key2.decrypt(blob, str(account)) == f"VAT-{i}".encode()
        assert (blob == before[i]) == (i > 7)


async def test_rotation_helper_has_nothing_left_to_do_on_a_second_run(
    conn: psycopg.AsyncConnection,
) -> None:
    key1 = FieldCipher.generate()
    key2 = key1.rotate()
    await _make_table(conn, "tax_ids_twice")
    await conn.execute(
        "INSERT INTO tax_ids_twice VALUES (1, %s, %s)",
        (uuid.UUID(int=1), key1.encrypt(b"VAT", str(uuid.UUID(int=1)))),
    )
    arguments = {
        "table": "tax_ids_twice",
        "key_column": "id",
        "value_column": "vat",
        "aad_column": "account_id",
    }

    assert await reencrypt_column(conn, key2, **arguments) == 1
    assert await reencrypt_column(conn, key2, **arguments) == 0


async def test_rotation_helper_quotes_identifiers_rather_than_formatting_them(
    conn: psycopg.AsyncConnection,
) -> None:
    key1 = FieldCipher.generate()
    key2 = key1.rotate()
    await conn.execute('CREATE SCHEMA IF NOT EXISTS "Billing"')
    await conn.execute(
        'CREATE TABLE "Billing"."Tax IDs" ("Row Id" text PRIMARY KEY, "Owner" bytea, "V" bytea)'
    )
    await conn.execute(
        'INSERT INTO "Billing"."Tax IDs" VALUES (%s, %s, %s)',
        ("a", b"owner-a", key1.encrypt(b"VAT", b"owner-a")),
    )

    rewritten = await reencrypt_column(
        conn,
        key2,
        table="Billing.Tax IDs",
        key_column="Row Id",
        value_column="V",
        aad_column="Owner",
    )

    cur = await conn.execute('SELECT "V" FROM "Billing"."Tax IDs"')
    (blob,) = await cur.fetchone()
    assert rewritten == 1
    assert key2.decrypt(blob, b"owner-a") == b"VAT"


# --------------------------------------------------------------------------- person key


HASH_KEY = bytes(range(32))


def test_case_and_surrounding_whitespace_give_the_same_person_key() -> None:
    hasher = EmailHasher(HASH_KEY)

    assert hasher.person_key("  Ada.Lovelace@Example.COM\n") == hasher.person_key(
        "ada.lovelace@example.com"
    )


def test_unicode_composed_and_decomposed_forms_give_the_same_person_key() -> None:
    hasher = EmailHasher(HASH_KEY)
    composed = "José@example.com"

    assert hasher.person_key(unicodedata.normalize("NFD", composed)) == hasher.person_key(composed)


def test_international_domain_is_encoded_to_ascii() -> None:
    assert normalise_email("Jürgen@Bücher.Example") == "jürgen@xn--bcher-kva.example"
    assert EmailHasher(HASH_KEY).person_key("j@bücher.example") == EmailHasher(HASH_KEY).person_key(
        "j@xn--bcher-kva.example"
    )


def test_different_addresses_give_different_person_keys() -> None:
    hasher = EmailHasher(HASH_KEY)

    assert hasher.person_key("ada@example.com") != hasher.person_key("ada@example.org")


def test_different_hash_keys_give_different_person_keys() -> None:
    email = "ada@example.com"

    assert EmailHasher(HASH_KEY).person_key(email) != EmailHasher(os.urandom(32)).person_key(email)


def test_person_key_is_a_hex_sha256_that_does_not_contain_the_address() -> None:
    email = "ada@example.com"
    key = EmailHasher(HASH_KEY).person_key(email)

    assert re.fullmatch(r"[0-9a-f]{64}", key)
    # Keyed: neither the address nor its plain (unkeyed) hashes can be read off the key.
    for part in (email, "ada", "example.com", email.encode().hex()):
        assert part not in key
    assert key != hashlib.sha256(email.encode()).hexdigest()
    assert key != hmac.new(b"", email.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "ada",
        "ada@@example.com",
        "a@b@example.com",
        "@example.com",
        "ada@",
        "ada@.example.com",
    ],
)
def test_malformed_addresses_are_rejected(email: str) -> None:
    with pytest.raises(ValueError):
        normalise_email(email)


def test_short_email_hash_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        EmailHasher(b"too short")


# --------------------------------------------------------------------------- IP pseudonyms


@pytest.fixture
def ips() -> IpPseudonymiser:
    return IpPseudonymiser({2024: generate_salt(), 2025: generate_salt()})


def test_addresses_in_the_same_slash_24_share_a_network_hash_but_not_a_full_hash(
    ips: IpPseudonymiser,
) -> None:
    assert ips.hash_network("203.0.113.7", at=NOW) == ips.hash_network("203.0.113.200", at=NOW)
    assert ips.hash_ip("203.0.113.7", at=NOW) != ips.hash_ip("203.0.113.200", at=NOW)
    assert ips.hash_network("203.0.113.7", at=NOW) != ips.hash_network("203.0.114.7", at=NOW)


def test_addresses_in_the_same_slash_64_share_a_network_hash_but_not_a_full_hash(
    ips: IpPseudonymiser,
) -> None:
    a, b = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"

    assert ips.hash_network(a, at=NOW) == ips.hash_network(b, at=NOW)
    assert ips.hash_ip(a, at=NOW) != ips.hash_ip(b, at=NOW)
    assert ips.hash_network(a, at=NOW) != ips.hash_network("2001:db8:1:3::1", at=NOW)


def test_ipv4_mapped_ipv6_hashes_like_the_ipv4_address(ips: IpPseudonymiser) -> None:
    assert ips.hash_ip("::ffff:203.0.113.7", at=NOW) == ips.hash_ip("203.0.113.7", at=NOW)
    assert ips.hash_network("::ffff:203.0.113.7", at=NOW) == ips.hash_network("203.0.113.9", at=NOW)


def test_another_years_salt_gives_a_different_hash(ips: IpPseudonymiser) -> None:
    last_year = NOW.replace(year=2024)

    assert ips.hash_ip("203.0.113.7", at=NOW) != ips.hash_ip("203.0.113.7", at=last_year)
    assert ips.hash_network("203.0.113.7", at=NOW) != ips.hash_network("203.0.113.7", at=last_year)


def test_same_address_and_year_give_a_stable_hash(ips: IpPseudonymiser) -> None:
    later = NOW + timedelta(days=100)

    assert ips.hash_ip("203.0.113.7", at=NOW) == ips.hash_ip("203.0.113.7", at=later)


def test_a_year_without_salt_raises_key_error_naming_the_year(ips: IpPseudonymiser) -> None:
    with pytest.raises(KeyError, match="2023"):
        ips.hash_ip("203.0.113.7", at=NOW.replace(year=2023))


@pytest.mark.parametrize("ip", ["", "999.1.1.1", "203.0.113", "not-an-ip", "2001:db8::g"])
def test_invalid_ip_is_rejected(ips: IpPseudonymiser, ip: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ips.hash_ip(ip, at=NOW)
