"""Behaviour of platform secret files: created once, private, and loadable."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc import jwt

from missiva_platform.secrets import (
    EMAIL_HASH_KEY_FILE,
    FIELD_KEYS_FILE,
    IP_SALTS_FILE,
    JWT_SIGNING_KEYS_FILE,
    SERVICE_CREDENTIALS_FILE,
    SERVICES,
    TOKEN_KEYRING_FILE,
    PlatformSecrets,
    generate_secrets,
    load_email_hasher,
    load_field_cipher,
    load_ip_pseudonymiser,
    load_jwt_signing_keys,
    load_service_credentials,
    load_token_keyring,
    own_credential_files,
)

ALL_FILES = {
    TOKEN_KEYRING_FILE,
    FIELD_KEYS_FILE,
    EMAIL_HASH_KEY_FILE,
    IP_SALTS_FILE,
    JWT_SIGNING_KEYS_FILE,
    SERVICE_CREDENTIALS_FILE,
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_files_are_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "secrets"

    paths = generate_secrets(directory)

    assert set(paths) == ALL_FILES
    assert _mode(directory) == 0o700
    for name, path in paths.items():
        assert path == directory / name
        assert _mode(path) == 0o600, name
    assert sorted(os.listdir(directory)) == sorted(ALL_FILES)  # no temporary files left


def test_an_existing_loose_directory_is_tightened_to_0700(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)

    generate_secrets(tmp_path)

    assert _mode(tmp_path) == 0o700


def test_a_second_call_leaves_every_file_byte_identical(tmp_path: Path) -> None:
    first = {name: path.read_bytes() for name, path in generate_secrets(tmp_path).items()}

    second = {name: path.read_bytes() for name, path in generate_secrets(tmp_path).items()}

    assert second == first


def test_a_missing_file_is_recreated_without_touching_the_others(tmp_path: Path) -> None:
    paths = generate_secrets(tmp_path)
    keyring = paths[TOKEN_KEYRING_FILE].read_bytes()
    paths[FIELD_KEYS_FILE].unlink()

    generate_secrets(tmp_path)

    assert paths[FIELD_KEYS_FILE].exists()
    assert paths[TOKEN_KEYRING_FILE].read_bytes() == keyring


def test_a_new_year_adds_its_ip_salt_and_keeps_the_old_ones(tmp_path: Path) -> None:
    last_year = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    paths = generate_secrets(tmp_path, now=last_year)
    old_hash = load_ip_pseudonymiser(paths[IP_SALTS_FILE]).hash_ip("203.0.113.7", at=last_year)

    generate_secrets(tmp_path, now=datetime(2026, 1, 1, tzinfo=UTC))

    ips = load_ip_pseudonymiser(paths[IP_SALTS_FILE])
    assert ips.years == (2025, 2026)
    assert ips.hash_ip("203.0.113.7", at=last_year) == old_hash
    assert _mode(paths[IP_SALTS_FILE]) == 0o600


def test_loaders_round_trip_what_was_generated(tmp_path: Path) -> None:
    paths = generate_secrets(tmp_path)
    now = datetime.now(UTC)

    keyring = load_token_keyring(paths[TOKEN_KEYRING_FILE])
    cipher = load_field_cipher(paths[FIELD_KEYS_FILE])
    hasher = load_email_hasher(paths[EMAIL_HASH_KEY_FILE])
    ips = load_ip_pseudonymiser(paths[IP_SALTS_FILE])

    token = keyring.sign("unsubscribe", {"contact": "c-1"})
    assert load_token_keyring(paths[TOKEN_KEYRING_FILE]).verify(token, "unsubscribe") == {
        "contact": "c-1"
    }
    blob = cipher.encrypt(b"VAT", b"account-1")
    assert load_field_cipher(paths[FIELD_KEYS_FILE]).decrypt(blob, b"account-1") == b"VAT"
    assert hasher.person_key("ada@example.com") == load_email_hasher(
        paths[EMAIL_HASH_KEY_FILE]
    ).person_key("Ada@Example.com")
    assert ips.years == (now.year,)
    assert len(ips.hash_ip("203.0.113.7", at=now)) == 64


def test_jwt_signing_keys_are_an_ed25519_jwk_set_with_a_kid(tmp_path: Path) -> None:
    paths = generate_secrets(tmp_path)

    keys = load_jwt_signing_keys(paths[JWT_SIGNING_KEYS_FILE])

    (key,) = keys.keys
    assert key.kid
    assert key.as_dict()["crv"] == "Ed25519"
    token = jwt.encode({"alg": "Ed25519", "kid": key.kid}, {"sub": "u-1"}, keys, ["Ed25519"])
    assert jwt.decode(token, keys, algorithms=["Ed25519"]).claims == {"sub": "u-1"}


def test_every_service_gets_its_own_client_credentials(tmp_path: Path) -> None:
    paths = generate_secrets(tmp_path)

    credentials = load_service_credentials(paths[SERVICE_CREDENTIALS_FILE])

    assert set(credentials) == set(SERVICES)
    assert len({c.client_id for c in credentials.values()}) == len(SERVICES)
    assert len({c.client_secret for c in credentials.values()}) == len(SERVICES)
    assert all(len(c.client_secret) >= 32 for c in credentials.values())
    assert credentials["billing"].client_secret not in repr(credentials)


def test_each_service_can_be_given_a_file_with_only_its_own_credential(tmp_path: Path) -> None:
    paths = generate_secrets(tmp_path)
    everyone = load_service_credentials(paths[SERVICE_CREDENTIALS_FILE])

    own = own_credential_files(paths[SERVICE_CREDENTIALS_FILE])

    assert set(own) == set(SERVICES)
    for name, path in own.items():
        assert load_service_credentials(path) == {name: everyone[name]}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        others = [c.client_secret for n, c in everyone.items() if n != name]
        assert not any(secret in path.read_text() for secret in others)
    again = own_credential_files(paths[SERVICE_CREDENTIALS_FILE])
    assert again == own  # same paths, and the files are rewritten only when they differ


def test_platform_secrets_load_from_the_directory(tmp_path: Path) -> None:
    generate_secrets(tmp_path)

    loaded = PlatformSecrets.load(tmp_path)

    assert loaded.token_keyring.primary_kid
    assert loaded.field_cipher.primary_kid
    assert repr(loaded) == "PlatformSecrets(<hidden>)"


def test_a_corrupt_email_hash_key_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / EMAIL_HASH_KEY_FILE
    path.write_text("not base64!")

    with pytest.raises(ValueError, match=EMAIL_HASH_KEY_FILE):
        load_email_hasher(path)
