"""Campaign: a million-contact import, a segment count and a contact search, in one account.

On embedded PostgreSQL and NATS, with the campaign service started in this process (gRPC on
a local port; the client only reads the file and sends 64 KiB pieces):

- (a) a bare ``COPY ... FROM STDIN (FORMAT csv)`` of the generated file into a table of six
  text columns: the floor an import is compared with;
- (b) ``ImportContacts`` of the same file (1,000,000 rows, email, names, two attributes, tags)
  with a declared consent proof: CSV split and parse, every address through email-validator,
  typed attributes, the person key, COPY into staging and one merge per chunk of
  ``IMPORT_CHUNK_ROWS``, the rejected-row report, one ``ContactsImported`` and the consent
  commands (split under 512 KiB each) per chunk in the outbox (the relay publishing them
  meanwhile; the bench then waits for the outbox to be empty, outside the timing);
- (c) the peak resident memory of the process during (b) (``VmHWM`` after ``clear_refs``);
- (d) ``PreviewSegment`` of a tree of three predicates (an attribute equality, a numeric
  attribute comparison, a tag), median of runs;
- (e) ``ListContacts`` by an address prefix that matches one contact among a million, median
  of runs;
- (f) a plain ``INSERT ... SELECT`` of every contact's id and person key into a table of two
  columns: the floor a snapshot is compared with;
- (g) the recipient snapshot of a campaign to a list holding every contact, each with consent
  granted in the projection (``store.recipients.snapshot``: audience, consent, suppressions,
  caps, local times, written to ``campaign_recipients``), median of runs, each rolled back.
"""

from __future__ import annotations

import asyncio
import csv
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg

from bench import Result
from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_campaign.__main__ import build
from missiva_campaign.config import CampaignSettings
from missiva_campaign.store import recipients
from missiva_platform.db import migrate
from missiva_platform.devstack.ports import free_port
from missiva_platform.devstack.processes import NatsServer, PostgresServer
from missiva_platform.secrets import EMAIL_HASH_KEY_FILE, generate_secrets
from missiva_platform.testing.tokens import TestIssuer

ROWS = int(os.environ.get("BENCH_CAMPAIGN_ROWS", "1000000"))
# ``IMPORT_CHUNK_ROWS`` for the import (0: the setting's default), and only (a)-(c) with
# ``BENCH_CAMPAIGN_IMPORT_ONLY=1`` (to compare chunk sizes in alternating runs).
CHUNK_ROWS = int(os.environ.get("BENCH_CAMPAIGN_CHUNK_ROWS", "0"))
IMPORT_ONLY = os.environ.get("BENCH_CAMPAIGN_IMPORT_ONLY") == "1"
PIECE = 64 * 1024
RUNS = 7
ACCOUNT = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d"
PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
CITIES = ("Rome", "Milan", "Turin", "Naples", "Bologna", "Florence", "Genoa", "Bari", "Pisa",
          "Verona")  # fmt: skip
DOMAINS = tuple(f"mail{i}.example.org" for i in range(20))
SEGMENT = (
    '{"all":[{"field":"attributes.city","op":"eq","value":"Rome"},'
    '{"field":"attributes.age","op":"gt","value":40},{"has_tag":"vip"}]}'
)


def _generate(path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "first_name", "last_name", "city", "age", "tags"])
        for i in range(ROWS):
            writer.writerow(
                [
                    f"user{i:07d}@{DOMAINS[i % len(DOMAINS)]}",
                    f"First{i % 5000}",
                    f"Last{i % 7919}",
                    CITIES[i % len(CITIES)],
                    18 + i % 70,
                    "vip;news" if i % 3 == 0 else "news",
                ]
            )


def _peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _bare_copy(url: str, path: Path) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE bare_copy (email text, first_name text, last_name text, city text,"
            " age text, tags text)"
        )
        started = time.perf_counter()
        async with (
            conn.cursor() as cur,
            cur.copy("COPY bare_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            with path.open("rb") as source:
                while piece := source.read(PIECE):
                    await copy.write(piece)
        seconds = time.perf_counter() - started
        cur = await conn.execute("SELECT count(*) FROM bare_copy")
        row = await cur.fetchone()
        if row is None or row[0] != ROWS:
            raise RuntimeError(f"the bare COPY stored {row} rows of {ROWS}")
    return ROWS / seconds


async def _requests(path: Path) -> AsyncIterator[pb.ImportContactsRequest]:
    options = pb.ImportOptions(
        purpose_id=PURPOSE,
        attribute_types={"age": "number"},
        column_mapping={"city": "attributes.city", "age": "attributes.age"},
        consent_proof=pb.ImportConsentProof(
            collected_by="Bench Srl, sign-up desk", consent_text="Yes, send me the newsletter."
        ),
        total_rows=ROWS,
        idempotency_key="bench-import",  # a stream cut by the server's connection age resumes
    )
    options.consent_proof.given_at.FromDatetime(datetime.now(UTC) - timedelta(days=10))
    yield pb.ImportContactsRequest(options=options)
    with path.open("rb") as source:
        while piece := source.read(PIECE):
            yield pb.ImportContactsRequest(csv_chunk=piece)


async def _timed(call: Any) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def _measure(pg: PostgresServer, nats_url: str, folder: Path) -> list[Result]:
    path = folder / "contacts.csv"
    await asyncio.to_thread(_generate, path)
    size_mib = path.stat().st_size / 2**20
    probe = build(CampaignSettings(database_url="postgresql://x@127.0.0.1/x"))
    url = pg.create_database("bench_campaign")
    await migrate(url, probe.migration_sets)
    bare = await _bare_copy(url, path)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DROP TABLE bare_copy")

    secrets = generate_secrets(folder / "secrets")
    settings = CampaignSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_port=free_port(),
        http_port=free_port(),
        email_hash_key_file=str(secrets[EMAIL_HASH_KEY_FILE]),
        **({"import_chunk_rows": CHUNK_ROWS} if CHUNK_ROWS else {}),
    )
    issuer = TestIssuer()
    app = build(settings, jwks=issuer.source())
    await app.start()
    token = issuer.token(
        tenant_id=ACCOUNT, roles=("member",), scopes=("contacts:read", "contacts:write",
        "segments:read"), subject="bench-user", audience="campaign",
    )  # fmt: skip
    md = (("authorization", f"Bearer {token}"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            before = _rss_mib()
            _peak_reset()
            started = time.perf_counter()
            streams = 0
            while True:
                streams += 1
                try:
                    reply = await stub.ImportContacts(_requests(path), metadata=md, timeout=3600)
                    break
                except grpc.aio.AioRpcError as exc:
                    # The server ends every connection after 5 minutes (+30 s for calls in
                    # flight): a longer import resumes, skipping the lines already merged.
                    if exc.code() != grpc.StatusCode.UNAVAILABLE or streams > 10:
                        raise
            seconds = time.perf_counter() - started
            peak = _peak_mib()
            if reply.created != ROWS or reply.rejected:
                raise RuntimeError(f"imported {reply.created} rows, {reply.rejected} rejected")
            drained = await _drain(url)
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute("VACUUM ANALYZE contacts")

            async def segment() -> None:
                await stub.PreviewSegment(
                    pb.PreviewSegmentRequest(rule_tree_json=SEGMENT, sample_size=10),
                    metadata=md,
                    timeout=30,
                )

            async def search() -> None:
                found = await stub.ListContacts(
                    pb.ListContactsRequest(query=f"user{ROWS * 3 // 4 + 7:07d}@", page_size=50),
                    metadata=md,
                    timeout=30,
                )
                assert len(found.contacts) == 1, found

            if IMPORT_ONLY:
                return _import_results(
                    bare, size_mib, seconds, streams, reply, peak, before, drained,
                    settings.import_chunk_rows,
                )  # fmt: skip
            counted = await stub.PreviewSegment(
                pb.PreviewSegmentRequest(rule_tree_json=SEGMENT), metadata=md, timeout=30
            )
            segment_ms = statistics.median([await _timed(segment) for _ in range(RUNS)])
            search_ms = statistics.median([await _timed(search) for _ in range(RUNS)])
    finally:
        await app.stop()
    bare_ms, snapshot_ms, written = await _snapshot(url)
    return [
        *_import_results(
            bare,
            size_mib,
            seconds,
            streams,
            reply,
            peak,
            before,
            drained,
            settings.import_chunk_rows,
        ),
        Result(
            "(d) PreviewSegment, 3 predicates (goal ≤ 300 ms)",
            segment_ms,
            "ms",
            higher_is_better=False,
            note=f"median of {RUNS}; {counted.matching_count:,} of {ROWS:,} match; count + sample",
        ),
        Result(
            "(e) ListContacts by address prefix (goal ≤ 50 ms)",
            search_ms,
            "ms",
            higher_is_better=False,
            note=f"median of {RUNS}; one match among {ROWS:,}",
        ),
        Result(
            "(f) bare INSERT ... SELECT of the contacts",
            bare_ms,
            "ms",
            higher_is_better=False,
            note=f"{ROWS:,} (id, person key) rows into an unindexed table, median of"
            f" {SNAPSHOT_RUNS}",
        ),
        Result(
            "(g) recipient snapshot (goal ≤ 5 s)",
            snapshot_ms,
            "ms",
            "(f) bare INSERT ... SELECT of the contacts",
            bare_ms,
            higher_is_better=False,
            note=f"{written:,} recipients written, median of {SNAPSHOT_RUNS}, each rolled back",
        ),
    ]


def _import_results(
    bare: float, size_mib: float, seconds: float, streams: int, reply: Any, peak: float,
    before: float, drained: float, chunk_rows: int,
) -> list[Result]:  # fmt: skip
    a = "(a) bare COPY of the CSV"
    return [
        Result(a, bare, "rows/s", note=f"{ROWS:,} rows, {size_mib:.0f} MiB, one COPY"),
        Result(
            "(b) ImportContacts (goal ≥ 100,000 rows/s)",
            ROWS / seconds,
            "rows/s",
            a,
            bare,
            note=f"{ROWS:,} rows in {seconds:.1f} s through gRPC ({streams} streams: the server"
            " ends a connection after 5.5 min and the import resumes),"
            f" {reply.created:,} created, chunks of {chunk_rows:,} rows; the outbox published"
            f" to NATS {drained:.1f} s after the reply",
        ),
        Result(
            "(c) peak RSS during the import",
            peak,
            "MiB",
            higher_is_better=False,
            note=f"whole process (service, client, relay); {before:.0f} MiB before the import",
        ),
    ]


async def _drain(url: str) -> float:
    """Seconds until the relay has published the whole outbox (every consents command
    accepted by NATS, none over its ``max_payload``)."""
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT count(*) FROM kit_outbox")
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                return time.perf_counter() - started
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"{row} events still in the outbox after 300 s")
            await asyncio.sleep(0.2)


SNAPSHOT_RUNS = 3
LIST_ID = "0195a4e2-9999-7234-b567-89abcdef0123"
CAMPAIGN_ID = "0195a4e2-8888-7234-b567-89abcdef0123"


async def _snapshot(url: str) -> tuple[float, float, int]:
    """(bare INSERT ... SELECT ms, snapshot ms, recipients): medians, each run rolled back."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO contact_lists (id, account_id, name, purpose_id)"
            " VALUES (%s, %s, 'everyone', %s)",
            (LIST_ID, ACCOUNT, PURPOSE),
        )
        await conn.execute(
            "INSERT INTO list_members (list_id, contact_id) SELECT %s, id FROM contacts"
            " WHERE account_id = %s",
            (LIST_ID, ACCOUNT),
        )
        await conn.execute(
            "INSERT INTO consent_states (account_id, person_key, purpose_id, status, kind,"
            " aggregate_version, changed_at) SELECT account_id, person_key, %s, 'granted',"
            " 'email', 1, now() FROM contacts WHERE account_id = %s ON CONFLICT DO NOTHING",
            (PURPOSE, ACCOUNT),
        )
        await conn.execute(
            "INSERT INTO campaigns (id, account_id, name, category, purpose_id)"
            " VALUES (%s, %s, 'bench', 'marketing', %s)",
            (CAMPAIGN_ID, ACCOUNT, PURPOSE),
        )
        await conn.execute("CREATE TABLE bare_snapshot (contact_id uuid, person_key text)")
        for table in ("list_members", "consent_states", "contacts"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    bare, taken, written = [], [], 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for _ in range(SNAPSHOT_RUNS):
            started = time.perf_counter()
            await conn.execute(
                "INSERT INTO bare_snapshot SELECT id, person_key FROM contacts"
                " WHERE account_id = %s",
                (ACCOUNT,),
            )
            bare.append((time.perf_counter() - started) * 1000)
            await conn.rollback()
            now = datetime.now(UTC)
            started = time.perf_counter()
            _, written = await recipients.snapshot(
                conn,
                account_id=ACCOUNT,
                campaign_id=CAMPAIGN_ID,
                purpose_id=PURPOSE,
                marketing=True,
                list_ids=[LIST_ID],
                excluded_list_ids=[],
                send_at=now,
                zone="Europe/Rome",
                local=False,
                now=now,
            )
            taken.append((time.perf_counter() - started) * 1000)
            await conn.rollback()
    if written != ROWS:
        raise RuntimeError(f"the snapshot wrote {written} recipients of {ROWS}")
    return statistics.median(bare), statistics.median(taken), written


def run() -> list[Result]:
    """Start throwaway PostgreSQL and NATS, measure, stop them."""
    with tempfile.TemporaryDirectory(prefix="missiva-bench-") as name:
        folder = Path(name)
        pg = PostgresServer(folder / "pg", free_port(), durable=False)
        nats_server = NatsServer(folder / "nats", free_port())
        pg.start()
        nats_server.start()
        try:
            return asyncio.run(_measure(pg, nats_server.url, folder))
        finally:
            nats_server.stop()
            pg.stop()
