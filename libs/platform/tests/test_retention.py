from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from missiva_platform.retention import Action, RetentionRule, run_retention, travel


@pytest.fixture
def url(database_factory):
    url = database_factory.empty("retention")
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE send_log (id int primary key, email text, ip text, at timestamptz)"
        )
        now = datetime.now(UTC)
        conn.cursor().executemany(
            "INSERT INTO send_log VALUES (%s, %s, %s, %s)",
            [(i, f"p{i}@example.test", "203.0.113.9", now - timedelta(days=i)) for i in range(10)],
        )
    return url


def rows(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, email, ip FROM send_log ORDER BY id").fetchall()


async def test_delete_rule_removes_only_rows_older_than_the_maximum_age(url):
    rule = RetentionRule("send_log", "at", timedelta(days=90), batch_size=3)
    assert await run_retention(url, [rule]) == {"send_log.delete": 0}
    # Travel 85 days and an hour: rows 5 or more days old are now past 90 days.
    result = await run_retention(url, [rule], now=travel(days=85, hours=1))
    assert result == {"send_log.delete": 5}  # ages 5..9 days, in batches of 3 + 2
    assert [r[0] for r in rows(url)] == [0, 1, 2, 3, 4]


async def test_anonymise_rule_clears_personal_columns_and_keeps_the_row(url):
    rule = RetentionRule(
        "send_log",
        "at",
        timedelta(days=180),
        Action.ANONYMISE,
        anonymise={"email": None, "ip": "'203.0.113.0'"},
        batch_size=2,
    )
    result = await run_retention(url, [rule], now=travel(days=175, minutes=1))
    assert result == {"send_log.anonymise": 5}
    kept = rows(url)
    assert len(kept) == 10
    assert [r for r in kept if r[1] is None] == [(i, None, "203.0.113.0") for i in range(5, 10)]
    # Running again changes nothing: anonymised rows are not counted twice.
    assert await run_retention(url, [rule], now=travel(days=175, minutes=2)) == {
        "send_log.anonymise": 0
    }


async def test_custom_rule_receives_the_cutoff(url):
    seen = []

    async def archive(conn, cutoff):
        seen.append(cutoff)
        cur = await conn.execute("DELETE FROM send_log WHERE at < %s AND id %% 2 = 0", (cutoff,))
        return cur.rowcount

    rule = RetentionRule("send_log", "at", timedelta(days=1), Action.CUSTOM, custom=archive)
    now = travel()
    assert await run_retention(url, [rule], now=now) == {"send_log.custom": 4}
    assert seen == [now - timedelta(days=1)]


def test_a_rule_that_cannot_act_is_refused_when_declared():
    with pytest.raises(ValueError, match="needs columns"):
        RetentionRule("t", "at", timedelta(days=1), Action.ANONYMISE)
    with pytest.raises(ValueError, match="custom function"):
        RetentionRule("t", "at", timedelta(days=1), Action.CUSTOM)
