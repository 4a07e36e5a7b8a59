"""Identity: password hashing and sign-in throughput, access-token signing and verification.

Sign-in is bound by argon2id at the ASVS parameters (19 MiB, 2 passes, 1 lane): each hash
costs tens of milliseconds of CPU and 19 MiB of memory, which is the point. The figures:

- argon2id hashes per second on one thread (the unit a sign-in costs), and on every CPU;
- whole ``Login`` RPCs per second against a running identity service (embedded PostgreSQL
  and NATS), sequential and concurrent, against the raw hash rate as baseline: the gap is
  what gRPC, the throttle tables, the session and the token add;
- access-token verification through the kit's ``TokenVerifier`` (every token fresh, then
  the same token again, served from the memo), against raw ``joserfc`` decoding;
- token signing by identity's key store.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from argon2 import PasswordHasher, Type
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from bench import Result
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_platform.auth import ALGORITHM, AUDIENCE, ISSUER, StaticJwks, TokenVerifier
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer

HASHES = 40
LOGINS = 40
CONCURRENT_LOGINS = 80
TOKENS = 3_000
PASSWORD = "a bench passphrase nobody uses"


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


def _hash_rate(threads: int) -> float:
    hasher = _hasher()
    stored = hasher.hash(PASSWORD)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(HASHES * threads)))
    return HASHES * threads / (time.perf_counter() - started)


def _claims(i: int) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"user-{i}",
        "tid": "tenant",
        "typ": "user",
        "roles": ["admin"],
        "scope": "*",
        "mfa": False,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
    }


async def _token_rates() -> list[Result]:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "bench"})
    header = {"alg": ALGORITHM, "kid": "bench", "typ": "JWT"}
    started = time.perf_counter()
    tokens = [jwt.encode(header, _claims(i), key, algorithms=[ALGORITHM]) for i in range(TOKENS)]
    sign_rate = TOKENS / (time.perf_counter() - started)

    keys = KeySet([key])
    started = time.perf_counter()
    for token in tokens:
        jwt.JWTClaimsRegistry(aud={"essential": True, "value": AUDIENCE}).validate(
            jwt.decode(token, keys, algorithms=[ALGORITHM]).claims
        )
    raw_rate = TOKENS / (time.perf_counter() - started)

    verifier = TokenVerifier(StaticJwks({"keys": [key.as_dict(private=False)]}))
    await verifier.verify(tokens[0])  # fetch the key set once
    started = time.perf_counter()
    for token in tokens:
        await verifier.verify(token)
    fresh_rate = TOKENS / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(TOKENS):
        await verifier.verify(tokens[0])
    memo_rate = TOKENS / (time.perf_counter() - started)
    raw = "raw joserfc decode + claims check"
    return [
        Result(raw, raw_rate, "tokens/s", note=f"{TOKENS:,} Ed25519 tokens, one CPU"),
        Result("kit TokenVerifier, every token new", fresh_rate, "tokens/s", raw, raw_rate),
        Result(
            "kit TokenVerifier, same token again (memo)",
            memo_rate,
            "tokens/s",
            raw,
            raw_rate,
            note="verified tokens are memoised until they expire or the key set changes",
        ),
        Result("Ed25519 JWT signing", sign_rate, "tokens/s", raw, raw_rate),
    ]


async def _login_rates(pg: PostgresServer, nats_url: str, one_thread: float) -> list[Result]:
    from missiva_identity.__main__ import build
    from missiva_identity.config import IdentitySettings
    from missiva_platform.db import migrate
    from missiva_platform.secrets import (
        EMAIL_HASH_KEY_FILE,
        FIELD_KEYS_FILE,
        IP_SALTS_FILE,
        generate_secrets,
    )

    folder = Path(tempfile.mkdtemp(prefix="missiva-bench-secrets-"))
    files = generate_secrets(folder)
    url = pg.create_database("identity_bench")
    settings = IdentitySettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=0,
        http_port=0,
        email_hash_key_file=str(files[EMAIL_HASH_KEY_FILE]),
        field_keys_file=str(files[FIELD_KEYS_FILE]),
        ip_salts_file=str(files[IP_SALTS_FILE]),
        argon2_max_concurrency=os.cpu_count() or 1,
        login_max_failures_per_hour=100,
    )
    app = build(settings)
    await migrate(url, app.migration_sets)
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    stub = identity_service_pb2_grpc.IdentityServiceStub(channel)
    try:
        terms = pb.DocumentAcceptance(
            document_id="terms", version="1", checkbox_text="I accept", accepted=True
        )
        privacy = pb.DocumentAcceptance(
            document_id="privacy", version="1", checkbox_text="I have read", accepted=True
        )
        emails = [f"bench{i}@example.org" for i in range(8)]
        for email in emails:
            await stub.SignUp(
                pb.SignUpRequest(
                    email=email,
                    password=PASSWORD,
                    account_name="Bench",
                    acceptances=[terms, privacy],
                    age_confirmed=True,
                ),
                timeout=30,
            )

        async def login(i: int) -> None:
            request = pb.LoginRequest(email=emails[i % len(emails)], password=PASSWORD)
            reply = await stub.Login(request, timeout=60)
            assert reply.tokens.access_token

        await login(0)
        started = time.perf_counter()
        for i in range(LOGINS):
            await login(i)
        sequential = LOGINS / (time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(login(i) for i in range(CONCURRENT_LOGINS)))
        concurrent = CONCURRENT_LOGINS / (time.perf_counter() - started)
    finally:
        await channel.close()
        await app.stop()
    base = "argon2id verify, 1 thread"
    return [
        Result(
            "Login RPC, sequential",
            sequential,
            "logins/s",
            base,
            one_thread,
            note=f"{LOGINS} sign-ins one after another: hash, throttle rows, session, token",
        ),
        Result(
            "Login RPC, concurrent",
            concurrent,
            "logins/s",
            base,
            one_thread,
            note=f"{CONCURRENT_LOGINS} sign-ins at once over {len(emails)} accounts; "
            f"ARGON2_MAX_CONCURRENCY={os.cpu_count()}",
        ),
    ]


def run() -> list[Result]:
    cpus = os.cpu_count() or 1
    one = _hash_rate(1)
    every = _hash_rate(cpus)
    results = [
        Result(
            "argon2id verify, 1 thread",
            one,
            "hashes/s",
            note="m=19456 KiB, t=2, p=1 (the ASVS minimum and identity's default)",
        ),
        Result(
            f"argon2id verify, {cpus} threads", every, "hashes/s", "argon2id verify, 1 thread", one
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as folder:
        pg = PostgresServer(Path(folder) / "pg", free_port(), durable=False)
        nats_server = NatsServer(Path(folder) / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            results += asyncio.run(_login_rates(pg, nats_server.url, one))
        finally:
            nats_server.stop()
            pg.stop()
    results += asyncio.run(_token_rates())
    return results
