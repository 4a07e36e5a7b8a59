"""Administrative commands: ``python -m missiva_identity <command> ...``.

They run without the service (no gRPC, no bus): each opens its own database pool from
``DATABASE_URL``. What they write to the outbox is published by the running service.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from missiva_identity import store
from missiva_identity.config import IdentitySettings
from missiva_identity.core import IdentityCore, new_id
from missiva_identity.domain import password_problem, valid_email, valid_name, valid_scopes
from missiva_identity.legal_notices import send_legal_notices_command
from missiva_identity.servicer import create_api_key
from missiva_identity.vault import IdentityVault
from missiva_platform.db import make_pool
from missiva_platform.errors import DomainError, InvalidArgument


@contextlib.asynccontextmanager
async def _core(app: Any) -> AsyncIterator[IdentityCore]:
    settings: IdentitySettings = app.settings
    missing = [
        variable
        for variable, value in (
            ("EMAIL_HASH_KEY_FILE", settings.email_hash_key_file),
            ("FIELD_KEYS_FILE", settings.field_keys_file),
        )
        if not value
    ]
    if missing:
        # A throwaway key here would write hashes and blobs the service can never read.
        raise SystemExit(f"identity: set {' and '.join(missing)} (the service's own files)")
    pool: AsyncConnectionPool = make_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True, timeout=30)
    try:
        yield IdentityCore(settings, IdentityVault.load(settings), lambda: pool)
    finally:
        await pool.close()


async def create_api_key_command(app: Any, argv: list[str]) -> int:
    """Create an API key for the account of a primary admin and print it once."""
    parser = argparse.ArgumentParser(prog="python -m missiva_identity create-api-key")
    parser.add_argument("--account", required=True, help="email of the account's primary admin")
    parser.add_argument("--scopes", nargs="+", required=True, help="scopes, e.g. consent:read")
    parser.add_argument("--name", default="platform team", help="a name to recognise the key")
    parser.add_argument("--expires-in-days", type=int, default=0, help="0: never expires")
    args = parser.parse_args(argv)
    try:
        email = valid_email("--account", args.account)
        scopes = valid_scopes("--scopes", args.scopes)
        name = valid_name("--name", args.name, required=True)
    except DomainError as exc:
        print(f"create-api-key: {exc.message}")
        return 2
    expires = (
        datetime.now(UTC) + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    )
    async with _core(app) as core, core.pool.connection() as conn, conn.transaction():
        user = await store.user_by_email(conn, email)
        if user is None or user.role != "primary_admin" or user.status != "active":
            print("create-api-key: no primary admin with that address")
            return 1
        if user.account_status != "active":
            print("create-api-key: the account is not active (is the address verified?)")
            return 1
        response, secret = await create_api_key(
            conn,
            core,
            account_id=user.account_id,
            created_by=user.id,
            name=name,
            scopes=scopes,
            expires_at=expires,
            audit=store.AuditEntry("api_key.created", details={"via": "command"}),
        )
    print(f"api key id: {response.api_key.api_key_id}")
    print(f"scopes:     {' '.join(scopes)}")
    print("secret (shown once, keep it safe):")
    print(secret)
    return 0


async def rotate_signing_key_command(app: Any, argv: list[str]) -> int:
    """Make a fresh key the signer; the old one verifies until its tokens have expired."""
    parser = argparse.ArgumentParser(prog="python -m missiva_identity rotate-signing-key")
    parser.add_argument(
        "--publish-seconds",
        type=int,
        default=None,
        help="how long the new key is published before it signs "
        "(default: SIGNING_KEY_PUBLISH_SECONDS)",
    )
    args = parser.parse_args(argv)
    lead = None if args.publish_seconds is None else timedelta(seconds=args.publish_seconds)
    async with _core(app) as core, core.pool.connection() as conn:
        await core.keys.seed(conn)
        new, old = await core.keys.rotate(conn, lead=lead)
    seconds = (
        args.publish_seconds
        if args.publish_seconds is not None
        else core.settings.signing_key_publish_seconds
    )
    print(
        f"signing key {new} is published and signs in {seconds} s"
        + (f"; {old} retires then and is dropped once its tokens have expired" if old else "")
    )
    return 0


async def create_account_command(app: Any, argv: list[str]) -> int:
    """Create a verified account and its primary admin (an operator's tool, e.g. for the
    platform's own teams); the password is read from standard input, or asked for."""
    parser = argparse.ArgumentParser(prog="python -m missiva_identity create-account")
    parser.add_argument("--email", required=True, help="the primary admin's address")
    parser.add_argument("--account-name", required=True, help="name of the account")
    parser.add_argument("--name", default="", help="the primary admin's display name")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    args = parser.parse_args(argv)
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    )
    try:
        email = valid_email("--email", args.email)
        account_name = valid_name("--account-name", args.account_name, required=True)
        name = valid_name("--name", args.name, required=False)
        problem = password_problem(password)
        if problem:
            raise InvalidArgument.field("password", problem)
    except DomainError as exc:
        print(f"create-account: {exc.message}")
        return 2
    async with _core(app) as core:
        if await core.breached.is_breached(password):
            print("create-account: password: a common or breached password; choose another")
            return 2
        password_hash = await core.hashing.hash(password)
        async with core.pool.connection() as conn, conn.transaction():
            if await store.email_taken(conn, email):
                print("create-account: that address already has an account")
                return 1
            account_id, user_id = new_id(), new_id()
            await store.create_account(conn, account_id, account_name)
            await store.create_user(
                conn,
                store.NewUser(
                    id=user_id,
                    account_id=account_id,
                    email=args.email.strip(),
                    email_normalised=email,
                    person_key=core.vault.person_key(email),
                    display_name=name,
                    locale="en",
                    role="primary_admin",
                    password_hash=password_hash,
                ),
            )
            await store.mark_verified(conn, user_id)  # activates the account
            await store.audit(
                conn,
                store.AuditEntry(
                    "account.created",
                    account_id=account_id,
                    target=account_id,
                    details={"via": "command"},
                ),
            )
    print(f"account {account_id} with primary admin {user_id} created (verified)")
    return 0


COMMANDS = {
    "create-account": create_account_command,
    "create-api-key": create_api_key_command,
    "rotate-signing-key": rotate_signing_key_command,
    "send-legal-notices": send_legal_notices_command,
}
