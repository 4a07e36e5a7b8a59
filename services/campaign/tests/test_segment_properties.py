"""Property tests of the segment compiler (hypothesis), against real PostgreSQL.

Random trees with hostile field names and values either are refused with INVALID_ARGUMENT
or compile to SQL that PostgreSQL runs; no value or attribute key ever appears in the SQL
text (every user string carries a marker that must not be found there); and the rows a tree
matches always belong to the account it was compiled for, with another account's look-alike
contacts, lists and consent states in the same tables.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from missiva_campaign import segments
from missiva_campaign.__main__ import build
from missiva_campaign.config import CampaignSettings
from missiva_platform.errors import InvalidArgument

MARK = "QZXJ"
ACCOUNT, OTHER = "acct-mine", "acct-theirs"
LIST_MINE, LIST_THEIRS = str(uuid.uuid4()), str(uuid.uuid4())
PURPOSE = "purpose-1"

HOSTILE = st.sampled_from(
    ["'", '"', ";", "--", "/*", "*/", "%s", "%(x)s", "{}", "{0}", "$$", "\\", " OR 1=1",
     "') OR ('1'='1", "c.account_id", "); DROP TABLE contacts; --", "ñ", "💥", "\n", ""]
)  # fmt: skip
MARKED = st.builds(lambda a, b, c: f"{a}{MARK}{b}{c}", HOSTILE, st.text(max_size=6), HOSTILE)
ATTR_KEYS = st.sampled_from(["city", "age", "langs", f"k{MARK}", "vip"])
FIELD_NAMES = st.one_of(
    st.sampled_from(list(segments.FIELDS)),
    ATTR_KEYS.map(lambda k: f"attributes.{k}"),
    MARKED,
    MARKED.map(lambda s: f"attributes.{s}"),
)
SCALARS = st.one_of(
    MARKED,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["2026-01-01", "2026-01-01T10:00:00Z", f"2026{MARK}"]),
)
OPS = st.sampled_from([*segments.OPS, f"eq{MARK}", ""])


@st.composite
def leaves(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["field", "field", "field", "tag", "list", "time", "consent"]))
    if kind == "field":
        node: dict[str, Any] = {"field": draw(FIELD_NAMES), "op": draw(OPS)}
        if node["op"] == "in":
            node["value"] = draw(st.lists(SCALARS, max_size=4))
        elif node["op"] != "exists" or draw(st.booleans()):
            node["value"] = draw(SCALARS)
        return node
    if kind == "tag":
        return {"has_tag": draw(st.one_of(MARKED, st.sampled_from(["vip"])))}
    if kind == "list":
        return {"in_list": draw(st.sampled_from([LIST_MINE, LIST_THEIRS, f"l{MARK}"]))}
    if kind == "time":
        which = draw(st.sampled_from(["created_before", "created_after"]))
        return {which: draw(st.sampled_from(["2020-01-01", "2999-01-01", f"{MARK}"]))}
    state = draw(st.sampled_from([*segments.CONSENT_STATES, f"x{MARK}"]))
    purpose = draw(st.sampled_from([PURPOSE, f"p{MARK}", f"'{MARK}"]))
    return {"consent": {"purpose_id": purpose, "state": state}}


TREES = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=4).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def conn(make_database, nats_url) -> Iterator[psycopg.Connection]:
    probe = build(CampaignSettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, __name__)
    with psycopg.connect(url, autocommit=True) as connection:
        seed(connection)
        yield connection


def seed(conn: psycopg.Connection) -> None:
    """Look-alike contacts in two accounts: the same names, attributes, tags and states."""
    for account, list_id in ((ACCOUNT, LIST_MINE), (OTHER, LIST_THEIRS)):
        conn.execute(
            "INSERT INTO contact_lists (id, account_id, name, purpose_id) VALUES (%s, %s, 'L', %s)",
            (list_id, account, PURPOSE),
        )
        for i, attributes in enumerate(
            [{"city": "Rome", "age": 30}, {"city": f"x{MARK}"}, {"langs": ["it", "en"]}, {}]
        ):
            contact_id = str(uuid.uuid4())
            key = f"p{i}-{account}"
            conn.execute(
                "INSERT INTO contacts (id, account_id, email, email_key, person_key, first_name,"
                " attributes, tags, source, actor_kind, actor_id) VALUES (%s, %s, %s, %s, %s,"
                " %s, %s, %s, 'manual', 'user', 'u')",
                (contact_id, account, f"p{i}@example.org", f"p{i}@example.org", key,
                 f"Name{i}", json.dumps(attributes), ["vip"] if i % 2 else []),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO list_members (list_id, contact_id) VALUES (%s, %s)",
                (list_id, contact_id),
            )
            conn.execute(
                "INSERT INTO consent_states (account_id, person_key, purpose_id, status,"
                " aggregate_version, changed_at) VALUES (%s, %s, %s, %s, 1, now())",
                (account, key, PURPOSE, ["granted", "withdrawn", "pending", "objected"][i]),
            )


def render(conn: psycopg.Connection, compiled: segments.Compiled) -> str:
    return segments.count_query(compiled).as_string(conn)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=TREES)
def test_random_trees_compile_to_valid_sql_without_values_and_stay_in_the_account(
    conn: psycopg.Connection, tree: Any
) -> None:
    try:
        compiled = segments.compile_tree(tree, ACCOUNT)
    except InvalidArgument as exc:
        refused = exc.violations
    else:
        refused = []
    if refused:
        assert refused[0][0].startswith(segments.ROOT)  # the field at fault is named
        return
    text = render(conn, compiled)
    assert MARK not in text, text
    assert text.count("%s") == len(compiled.params)
    query = f"SELECT c.account_id FROM contacts c WHERE {text.split(' WHERE ', 1)[1]}"
    rows = conn.execute(query, compiled.params).fetchall()  # PostgreSQL accepts it
    assert {r[0] for r in rows} <= {ACCOUNT}
    assert conn.execute(segments.count_query(compiled), compiled.params).fetchone()[0] == len(rows)


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(MARKED, st.text(max_size=30)), value=SCALARS)
def test_hostile_field_names_are_refused_naming_the_field_and_the_allowed_ones(
    name: str, value: Any
) -> None:
    if name in segments.FIELDS or (
        name.startswith("attributes.") and segments.domain.ATTRIBUTE_KEY.match(name[11:])
    ):
        return
    with pytest.raises(InvalidArgument) as caught:
        segments.compile_tree({"field": name, "op": "eq", "value": value}, ACCOUNT)
    field, problem = caught.value.violations[0]
    if field == "rule_tree_json.field":
        assert "unknown field" in problem or "letter" in problem
        if not name.startswith("attributes."):
            assert "allowed fields: " + ", ".join(segments.ALLOWED_FIELDS) in problem


def test_the_account_filter_is_outside_the_tree(conn: psycopg.Connection) -> None:
    # An "any" at the top cannot widen the account filter: it is ANDed outside the tree.
    compiled = segments.compile_tree(
        {"any": [{"has_tag": "vip"}, {"field": "first_name", "op": "exists"}]}, ACCOUNT
    )
    text = render(conn, compiled)
    assert text.startswith(
        "SELECT count(*) FROM contacts c WHERE c.account_id = %s AND c.deleted_at IS NULL AND ("
    )
    assert compiled.params[0] == ACCOUNT
    assert conn.execute(segments.count_query(compiled), compiled.params).fetchone()[0] == 4
