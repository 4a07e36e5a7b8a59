"""Out-of-order events: the kit's version check applies only what is newer."""

import psycopg
from google.protobuf import wrappers_pb2

from missiva_platform.db import kit_migrations
from missiva_platform.events import envelope
from missiva_platform.retention import KIT_RULES, run_retention, travel
from missiva_platform.versions import aggregate_of, is_newer


def event(version: int, aggregate: str = "purpose-1", subject: str = "consent.purpose.updated"):
    return envelope(
        wrappers_pb2.StringValue(value=f"v{version}"),
        subject=subject,
        tenant_id="tenant-1",
        producer="test",
        aggregate_id=aggregate,
        aggregate_version=version,
    )


async def test_a_version_older_than_one_applied_is_skipped_and_others_apply(make_database):
    url = make_database([kit_migrations()], "versions")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        arrivals = [event(1), event(3), event(2), event(3), event(4)]
        applied = [await is_newer(conn, "projection", e) for e in arrivals]
        assert applied == [True, True, False, False, True]
        # Another consumer, another aggregate, another kind of aggregate: counted apart.
        assert await is_newer(conn, "other-projection", event(2))
        assert await is_newer(conn, "projection", event(1, aggregate="purpose-2"))
        assert await is_newer(conn, "projection", event(1, subject="consent.document.published"))
        # Unversioned events always apply.
        assert await is_newer(conn, "projection", event(0))
        assert await is_newer(conn, "projection", event(0))


async def test_the_check_commits_or_rolls_back_with_the_handler(make_database):
    url = make_database([kit_migrations()], "versions_tx")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction(force_rollback=True):
            assert await is_newer(conn, "projection", event(5))
        # The handler failed and its transaction rolled back: version 5 was never applied.
        async with conn.transaction():
            assert await is_newer(conn, "projection", event(5))
        assert not await is_newer(conn, "projection", event(5))


def test_aggregates_of_different_entities_never_share_a_key():
    assert aggregate_of(event(1)) == "consent.purpose:purpose-1"
    assert aggregate_of(event(1, subject="consent.document.published")) == (
        "consent.document:purpose-1"
    )


async def test_versions_are_forgotten_once_no_older_event_can_arrive(make_database):
    url = make_database([kit_migrations()], "versions_retention")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        assert await is_newer(conn, "projection", event(2))
    await run_retention(url, KIT_RULES, now=travel(days=44))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        assert not await is_newer(conn, "projection", event(1))
    await run_retention(url, KIT_RULES, now=travel(days=46))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM kit_aggregate_versions")
        assert await cur.fetchone() == (0,)
