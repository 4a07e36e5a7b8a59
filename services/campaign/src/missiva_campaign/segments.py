"""The segment compiler: a JSON rule tree → one parameterised SQL condition over contacts.

A tree is a node:

- ``{"all": [node, ...]}``, ``{"any": [node, ...]}``, ``{"not": node}``;
- ``{"field": F, "op": OP, "value": V}`` with OP one of ``equals`` (``eq``), ``differs``
  (``ne``), ``greater`` (``gt``), ``less`` (``lt``), ``contains``, ``exists`` (no value),
  ``in`` (a list of values), and F one of ``FIELDS`` or ``attributes.<key>``;
- ``{"has_tag": "vip"}``, ``{"in_list": "<list id>"}``;
- ``{"created_before": "2026-01-01T00:00:00Z"}``, ``{"created_after": ...}``;
- ``{"consent": {"purpose_id": P, "state": S}}``: the state in the consent projection
  (``granted``, ``pending``, ``withdrawn``, ``objected``, ``restricted``, ``not_recorded``:
  no entry for the purpose counts as ``not_recorded``);
- ``{"engaged": {"days": N}}`` (opened or clicked in the last N days) is refused until the
  statistics read model exists.

Safety: column names come from the ``FIELDS`` whitelist only (never from the tree's text),
every value and attribute key is a bound parameter, and the account filter is added here,
by ``compile_tree``, outside the tree's parenthesised condition: no tree can widen it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from missiva_campaign import domain
from missiva_platform.errors import InvalidArgument

ROOT = "rule_tree_json"
MAX_DEPTH = 12
MAX_NODES = 200
MAX_VALUE_CHARS = 1000
MAX_IN_VALUES = 1000
MAX_TREE_BYTES = 64 * 1024

# Whitelisted contact columns: name in a tree → (column, kind).
FIELDS: dict[str, tuple[str, str]] = {
    "email": ("email_key", "text"),
    "first_name": ("first_name", "text"),
    "last_name": ("last_name", "text"),
    "locale": ("locale", "text"),
    "timezone": ("timezone", "text"),
    "source": ("source", "text"),
    "created_at": ("created_at", "time"),
    "updated_at": ("updated_at", "time"),
    "last_interaction_at": ("last_interaction_at", "time"),
    "inactive_since": ("inactive_since", "time"),
}
ALLOWED_FIELDS = (*FIELDS, "attributes.<key>")
OPS = {
    "equals": "equals",
    "eq": "equals",
    "differs": "differs",
    "ne": "differs",
    "greater": "greater",
    "gt": "greater",
    "less": "less",
    "lt": "less",
    "contains": "contains",
    "exists": "exists",
    "in": "in",
}
CONSENT_STATES = ("granted", "pending", "withdrawn", "objected", "restricted", "not_recorded")
NODE_KINDS = (
    "all",
    "any",
    "not",
    "field",
    "has_tag",
    "in_list",
    "created_before",
    "created_after",
    "consent",
    "engaged",
)
ENGAGEMENT_UNAVAILABLE = "not available until statistics exist"
# Operators a time column refuses (the others compare moments).
TIME_REFUSES = ("contains", "in")
# Node kinds refused whatever they hold (described as unavailable, not offered).
UNAVAILABLE_KINDS = ("engaged",)
ATTRIBUTE_FIELD = ALLOWED_FIELDS[-1]  # any custom attribute


@dataclass(frozen=True)
class FieldInfo:
    """A field a rule may compare: its name in a tree, its kind, the operators it takes."""

    name: str
    kind: str
    operators: tuple[str, ...]


@dataclass(frozen=True)
class OperatorInfo:
    name: str
    aliases: tuple[str, ...]
    no_value: bool
    list_value: bool


def operators() -> list[OperatorInfo]:
    """The canonical operators in ``OPS`` order, each with its other names."""
    names = list(dict.fromkeys(OPS.values()))
    return [
        OperatorInfo(
            name=n,
            aliases=tuple(a for a, c in OPS.items() if c == n and a != n),
            no_value=n == "exists",
            list_value=n == "in",
        )
        for n in names
    ]


def fields() -> list[FieldInfo]:
    """The whitelist as the compiler applies it: ``FIELDS``, then any attribute."""
    every = tuple(o.name for o in operators())
    found = [
        FieldInfo(name, kind, tuple(o for o in every if kind != "time" or o not in TIME_REFUSES))
        for name, (_, kind) in FIELDS.items()
    ]
    return [*found, FieldInfo(ATTRIBUTE_FIELD, "any", every)]


def rule_kinds() -> list[str]:
    """The node kinds besides ``field`` the compiler accepts."""
    return [k for k in NODE_KINDS if k != "field" and k not in UNAVAILABLE_KINDS]


@dataclass
class Compiled:
    """A condition over ``contacts c`` and its parameters, in placeholder order."""

    condition: sql.Composable
    params: list[Any] = field(default_factory=list)
    # (path, list id) of every in_list rule, for the caller to check they are the account's.
    list_ids: list[tuple[str, str]] = field(default_factory=list)
    # The placeholders' names when compiled with a prefix (``named``), else positional.
    prefix: str = ""

    def named(self) -> dict[str, Any]:
        """The parameters by placeholder name (a tree compiled with a ``prefix``)."""
        return {f"{self.prefix}{i}": value for i, value in enumerate(self.params)}


@dataclass
class _State:
    nodes: int = 0
    params: list[Any] = field(default_factory=list)
    list_ids: list[tuple[str, str]] = field(default_factory=list)
    prefix: str = ""

    def bind(self, value: Any) -> sql.Composable:
        name = f"{self.prefix}{len(self.params)}"
        self.params.append(value)
        return sql.Placeholder(name) if self.prefix else sql.Placeholder()


def parse(text: str, root: str = ROOT) -> Any:
    """The tree of ``rule_tree_json`` (JSON, at most 64 KiB)."""
    if not text.strip():
        raise InvalidArgument.field(root, "is required: a JSON rule tree")
    if len(text.encode()) > MAX_TREE_BYTES:
        raise InvalidArgument.field(root, f"is longer than {MAX_TREE_BYTES} bytes")
    try:
        tree = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument.field(root, f"is not JSON: {exc}") from None
    return tree


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def compile_tree(tree: Any, account_id: str, root: str = ROOT, *, prefix: str = "") -> Compiled:
    """The full condition: the account's live contacts matching ``tree``. With a ``prefix``
    (letters, digits, ``_``) the placeholders are named ``<prefix><n>``, so several trees
    can join one statement with named parameters (``Compiled.named``)."""
    if prefix and not prefix.replace("_", "").isalnum():
        raise ValueError("a placeholder prefix is letters, digits and _")
    state = _State(prefix=prefix)
    account = state.bind(account_id)
    inner = _node(tree, root, 0, state)
    condition = sql.SQL("c.account_id = {a} AND c.deleted_at IS NULL AND ({t})").format(
        a=account, t=inner
    )
    return Compiled(condition, state.params, state.list_ids, prefix)


def count_query(compiled: Compiled) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM contacts c WHERE {w}").format(w=compiled.condition)


def check(tree: Any, root: str = ROOT) -> None:
    """Validate a tree (the compiler's checks) without an account."""
    compile_tree(tree, "", root)


# ------------------------------------------------------------------------------ nodes


def _node(node: Any, path: str, depth: int, state: _State) -> sql.Composable:
    state.nodes += 1
    if state.nodes > MAX_NODES:
        raise InvalidArgument.field(path, f"the tree has more than {MAX_NODES} nodes")
    if depth > MAX_DEPTH:
        raise InvalidArgument.field(path, f"the tree is nested deeper than {MAX_DEPTH}")
    if not isinstance(node, dict):
        raise InvalidArgument.field(path, "must be an object (a rule or all/any/not)")
    kinds = [k for k in NODE_KINDS if k in node]
    if len(kinds) != 1:
        raise InvalidArgument.field(
            path, f"must hold exactly one of {', '.join(NODE_KINDS)}; it holds {len(kinds)}"
        )
    kind = kinds[0]
    allowed = {"field", "op", "value"} if kind == "field" else {kind}
    extra = sorted(str(k) for k in node if k not in allowed)
    if extra:
        raise InvalidArgument.field(path, f"unexpected key {extra[0]!r}")
    handler = _HANDLERS[kind]
    return handler(node, path, depth, state)


def _group(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    kind = "all" if "all" in node else "any"
    children = node[kind]
    here = f"{path}.{kind}"
    if not isinstance(children, list) or not children:
        raise InvalidArgument.field(here, "must be a non-empty list of rules")
    parts = [_node(child, f"{here}[{i}]", depth + 1, state) for i, child in enumerate(children)]
    joiner = sql.SQL(" AND ") if kind == "all" else sql.SQL(" OR ")
    return sql.SQL("({})").format(joiner.join(parts))


def _not(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    # A NULL inside (a missing attribute) counts as false, so NOT keeps those contacts.
    inner = _node(node["not"], f"{path}.not", depth + 1, state)
    return sql.SQL("(NOT coalesce({}, false))").format(inner)


def _scalar(path: str, value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        if not math.isfinite(float(value)):
            raise InvalidArgument.field(path, "is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidArgument.field(path, f"is longer than {MAX_VALUE_CHARS} characters")
        if "\x00" in value:
            raise InvalidArgument.field(path, "contains a NUL character")
        return value
    raise InvalidArgument.field(path, "must be text, a number, true/false or null")


def _time(path: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidArgument.field(path, "must be an ISO 8601 date or time, as text")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument.field(path, "is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _field(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    name = node["field"]
    if not isinstance(name, str):
        raise InvalidArgument.field(f"{path}.field", "must be a field name (text)")
    op_name = node.get("op")
    if not isinstance(op_name, str) or op_name not in OPS:
        raise InvalidArgument.field(
            f"{path}.op", f"must be one of {', '.join(sorted(set(OPS.values())))}"
        )
    op = OPS[op_name]
    vpath = f"{path}.value"
    if op == "exists":
        if "value" in node:
            raise InvalidArgument.field(vpath, "exists takes no value")
        value: Any = None
    elif "value" not in node:
        raise InvalidArgument.field(vpath, "is required")
    elif op == "in":
        value = node["value"]
        if not isinstance(value, list) or not value:
            raise InvalidArgument.field(vpath, "must be a non-empty list for in")
        if len(value) > MAX_IN_VALUES:
            raise InvalidArgument.field(vpath, f"has more than {MAX_IN_VALUES} values")
        value = [_scalar(f"{vpath}[{i}]", v) for i, v in enumerate(value)]
    else:
        value = _scalar(vpath, node["value"])
    if name.startswith("attributes."):
        key = domain.attribute_key(f"{path}.field", name.removeprefix("attributes."))
        return _attribute(key, op, value, vpath, state)
    if name not in FIELDS:
        raise InvalidArgument.field(
            f"{path}.field",
            f"unknown field {name[:100]!r}; allowed fields: {', '.join(ALLOWED_FIELDS)}",
        )
    column, kind = FIELDS[name]
    ident = sql.SQL("c.{}").format(sql.Identifier(column))
    if kind == "time":
        return _time_column(ident, op, value, vpath, state)
    return _text_column(ident, op, value, vpath, state, lower=name == "email")


def _text_value(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument.field(path, "must be text for this field")
    return value


def _text_column(
    ident: sql.Composable, op: str, value: Any, path: str, state: _State, *, lower: bool
) -> sql.Composable:
    fold: Callable[[str], str] = str.lower if lower else str
    if op == "exists":
        return sql.SQL("({} <> '')").format(ident)
    if op == "in":
        values = [fold(_text_value(f"{path}[{i}]", v)) for i, v in enumerate(value)]
        return sql.SQL("({} = ANY({}::text[]))").format(ident, state.bind(values))
    text = fold(_text_value(path, value))
    if op == "contains":
        return sql.SQL("(strpos(lower({}), lower({}::text)) > 0)").format(ident, state.bind(text))
    symbol = {"equals": "=", "differs": "<>", "greater": ">", "less": "<"}[op]
    return sql.SQL("({} " + symbol + " {}::text)").format(ident, state.bind(text))


def _time_column(
    ident: sql.Composable, op: str, value: Any, path: str, state: _State
) -> sql.Composable:
    if op == "exists":
        return sql.SQL("({} IS NOT NULL)").format(ident)
    if op in TIME_REFUSES:
        raise InvalidArgument.field(path, f"{op} does not apply to a time field")
    symbol = {"equals": "=", "differs": "<>", "greater": ">", "less": "<"}[op]
    return sql.SQL("({} " + symbol + " {}::timestamptz)").format(
        ident, state.bind(_time(path, value))
    )


def _attribute(key: str, op: str, value: Any, path: str, state: _State) -> sql.Composable:
    if op == "exists":
        return sql.SQL("(c.attributes ? {}::text)").format(state.bind(key))
    if op == "equals":
        # Containment uses the GIN index (jsonb_path_ops).
        return sql.SQL("(c.attributes @> {}::jsonb)").format(state.bind(json.dumps({key: value})))
    if op == "differs":
        return sql.SQL("(NOT c.attributes @> {}::jsonb)").format(
            state.bind(json.dumps({key: value}))
        )
    if op == "in":
        return sql.SQL("((c.attributes -> {}::text) = ANY({}::jsonb[]))").format(
            state.bind(key), state.bind([json.dumps(v) for v in value])
        )
    if op == "contains":
        if isinstance(value, str):
            # Text: a case-insensitive substring; a list: holds the value.
            return sql.SQL(
                "(CASE jsonb_typeof(c.attributes -> {k}::text)"
                " WHEN 'string' THEN"
                " strpos(lower(c.attributes ->> {k2}::text), lower({v}::text)) > 0"
                " WHEN 'array' THEN (c.attributes -> {k3}::text) @> {j}::jsonb ELSE false END)"
            ).format(
                k=state.bind(key),
                k2=state.bind(key),
                v=state.bind(value),
                k3=state.bind(key),
                j=state.bind(json.dumps([value])),
            )
        return sql.SQL("(coalesce((c.attributes -> {}::text) @> {}::jsonb, false))").format(
            state.bind(key), state.bind(json.dumps([value]))
        )
    # greater / less: numbers compare as numbers, text as text; other types never match.
    symbol = ">" if op == "greater" else "<"
    if isinstance(value, bool) or value is None:
        raise InvalidArgument.field(path, f"{op} needs a number or text")
    if isinstance(value, int | float):
        return sql.SQL(
            "(CASE WHEN jsonb_typeof(c.attributes -> {k}::text) = 'number'"
            " THEN (c.attributes ->> {k2}::text)::numeric " + symbol + " {v}::numeric"
            " ELSE false END)"
        ).format(k=state.bind(key), k2=state.bind(key), v=state.bind(value))
    return sql.SQL(
        "(CASE WHEN jsonb_typeof(c.attributes -> {k}::text) = 'string'"
        " THEN (c.attributes ->> {k2}::text) " + symbol + " {v}::text ELSE false END)"
    ).format(k=state.bind(key), k2=state.bind(key), v=state.bind(value))


def _has_tag(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    value = node["has_tag"]
    if not isinstance(value, str):
        raise InvalidArgument.field(f"{path}.has_tag", "must be a tag (text)")
    tag = domain.tag(f"{path}.has_tag", value)
    return sql.SQL("(c.tags @> ARRAY[{}::text])").format(state.bind(tag))


def _in_list(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    value = node["in_list"]
    here = f"{path}.in_list"
    if not isinstance(value, str):
        raise InvalidArgument.field(here, "must be a list id")
    try:
        list_id = str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(here, "is not a list id") from None
    state.list_ids.append((here, list_id))
    return sql.SQL(
        "EXISTS (SELECT 1 FROM list_members m JOIN contact_lists l ON l.id = m.list_id"
        " WHERE m.contact_id = c.id AND m.list_id = {}::uuid AND l.account_id = c.account_id)"
    ).format(state.bind(list_id))


def _created(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    kind = "created_before" if "created_before" in node else "created_after"
    moment = _time(f"{path}.{kind}", node[kind])
    symbol = "<" if kind == "created_before" else ">"
    return sql.SQL("(c.created_at " + symbol + " {}::timestamptz)").format(state.bind(moment))


def _consent(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    value = node["consent"]
    here = f"{path}.consent"
    if not isinstance(value, dict) or set(value) - {"purpose_id", "state"}:
        raise InvalidArgument.field(here, 'must be {"purpose_id": ..., "state": ...}')
    purpose = value.get("purpose_id")
    if not isinstance(purpose, str):
        raise InvalidArgument.field(f"{here}.purpose_id", "is required (text)")
    purpose = domain.purpose_id(f"{here}.purpose_id", purpose)
    wanted = value.get("state")
    if wanted not in CONSENT_STATES:
        raise InvalidArgument.field(f"{here}.state", f"must be one of {', '.join(CONSENT_STATES)}")
    found = (
        "SELECT 1 FROM consent_states s WHERE s.account_id = c.account_id"
        " AND s.purpose_id = {p}::text AND s.person_key = c.person_key"
    )
    if wanted == "not_recorded":
        return sql.SQL("(NOT EXISTS (" + found + " AND s.status <> 'not_recorded'))").format(
            p=state.bind(purpose)
        )
    return sql.SQL("EXISTS (" + found + " AND s.status = {s}::text)").format(
        p=state.bind(purpose), s=state.bind(wanted)
    )


def _engaged(node: dict[str, Any], path: str, depth: int, state: _State) -> sql.Composable:
    raise InvalidArgument.field(f"{path}.engaged", ENGAGEMENT_UNAVAILABLE)


_HANDLERS: dict[str, Callable[[dict[str, Any], str, int, _State], sql.Composable]] = {
    "all": _group,
    "any": _group,
    "not": _not,
    "field": _field,
    "has_tag": _has_tag,
    "in_list": _in_list,
    "created_before": _created,
    "created_after": _created,
    "consent": _consent,
    "engaged": _engaged,
}
