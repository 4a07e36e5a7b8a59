"""The segment builder's form and campaign's rule tree, both ways.

The builder is rows of (field, operator, value) joined by *all* or *any*, optionally negated;
it becomes campaign's JSON rule tree (``{"all": [{"field", "op", "value"}, ...]}``, wrapped
in ``{"not": ...}``). ``builder_of`` reads a saved tree back into rows for editing; a tree the
rows cannot hold as it is (nested groups, consent rules, written over the API) is ``None``,
and the edit page then changes only the name.

The fields and operators offered are campaign's (``ListSegmentFields``, the compiler's
whitelist); only their labels are here, and a field without a label shows as its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from missiva_gateway.errors import problem_of
from missiva_gateway.web.problems import FormProblem, form_problem

N_ = str
FIELD_LABELS = {
    "email": N_("Email address"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "locale": N_("Language (locale)"),
    "timezone": N_("Time zone"),
    "source": N_("Source"),
    "created_at": N_("Created"),
    "updated_at": N_("Updated"),
    "last_interaction_at": N_("Last interaction"),
    "inactive_since": N_("Inactive since"),
}
OP_LABELS = {
    "equals": N_("is"),
    "differs": N_("is not"),
    "greater": N_("is greater than"),
    "less": N_("is less than"),
    "contains": N_("contains"),
    "exists": N_("is set"),
    "in": N_("is one of (comma-separated)"),
}
ATTRIBUTE = "attributes"
ATTRIBUTE_FIELD = "attributes.<key>"  # campaign's name for any attribute
TAG = "has_tag"
LIST = "in_list"
MAX_ROWS = 30
_ROW_PATH = re.compile(r"^(?:segment\.)?rule_tree_json(?:\.not)?\.(?:all|any)\[(\d+)\]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def choices(
    described: Any, _: Callable[[str], str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The builder's (field, label) and (operator, label) options from ``ListSegmentFields``."""
    fields: list[tuple[str, str]] = []
    for f in described.fields:
        if f.name == ATTRIBUTE_FIELD:
            fields.append((ATTRIBUTE, _("Attribute…")))
        elif f.name in FIELD_LABELS:
            fields.append((f.name, _(FIELD_LABELS[f.name])))
        else:
            fields.append((f.name, f.name))
    if TAG in described.rules:
        fields.append((TAG, _("Has the tag")))
    if LIST in described.rules:
        fields.append((LIST, _("Is on the list")))
    ops = [
        (o.name, _(OP_LABELS[o.name]) if o.name in OP_LABELS else o.name)
        for o in described.operators
    ]
    return fields, ops


def aliases_of(described: Any) -> dict[str, str]:
    """Every operator name campaign accepts → its canonical name."""
    found = {o.name: o.name for o in described.operators}
    for o in described.operators:
        found |= {a: o.name for a in o.aliases}
    return found


@dataclass
class Row:
    field: str = "email"
    key: str = ""  # the attribute's key, for field == "attributes"
    list_id: str = ""  # for field == "in_list"
    op: str = "equals"
    value: str = ""


@dataclass
class Builder:
    """The form as posted: a name, the rows, how they combine."""

    name: str
    rows: list[Row]
    combine: str = "all"
    negate: bool = False

    @classmethod
    def of(cls, form: dict[str, str]) -> Builder:
        try:
            count = min(max(int(form.get("rows", "1")), 0), MAX_ROWS)
        except ValueError:
            count = 1
        rows = [
            Row(
                field=form.get(f"field_{i}", "email"),
                key=form.get(f"key_{i}", "").strip(),
                list_id=form.get(f"list_{i}", "").strip(),
                op=form.get(f"op_{i}", "equals"),
                value=form.get(f"value_{i}", ""),
            )
            for i in range(count)
        ]
        return cls(
            name=form.get("name", ""),
            rows=rows or [Row()],
            combine="any" if form.get("combine") == "any" else "all",
            negate=form.get("negate") == "1",
        )

    def act(self, action: str) -> None:
        """Add a row, or remove one (the last one left is emptied, not removed)."""
        if action == "add" and len(self.rows) < MAX_ROWS:
            self.rows.append(Row())
        elif action.startswith("remove-") and action[7:].isdigit():
            index = int(action[7:])
            if 0 <= index < len(self.rows):
                del self.rows[index]
            if not self.rows:
                self.rows.append(Row())

    def tree(self) -> dict[str, Any]:
        tree: dict[str, Any] = {self.combine: [rule(r) for r in self.rows]}
        return {"not": tree} if self.negate else tree

    def tree_json(self) -> str:
        return json.dumps(self.tree(), ensure_ascii=False, separators=(",", ":"))


def rule(row: Row) -> dict[str, Any]:
    """One row as a node of the tree."""
    if row.field == TAG:
        return {"has_tag": row.value.strip()}
    if row.field == LIST:
        return {"in_list": row.list_id}
    name = f"attributes.{row.key}" if row.field == ATTRIBUTE else row.field
    node: dict[str, Any] = {"field": name, "op": row.op}
    if row.op == "exists":
        return node
    typed = row.field == ATTRIBUTE
    if row.op == "in":
        node["value"] = [value_of(v.strip(), typed) for v in row.value.split(",") if v.strip()]
    else:
        node["value"] = value_of(row.value.strip() if typed else row.value, typed)
    return node


def value_of(text: str, typed: bool) -> Any:
    """A value as typed; for an attribute, a number or true/false is that, not text."""
    if typed:
        if _NUMBER.match(text):
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
    return text


# ------------------------------------------------------------------ a saved tree → the rows


def _text_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return value if isinstance(value, str) else json.dumps(value)
    return None


def _row_of(node: Any, aliases: dict[str, str]) -> tuple[Row, Any] | None:
    """A node as a row and the node as the row writes it (canonical operator), or None."""
    if not isinstance(node, dict):
        return None
    if set(node) == {TAG} and isinstance(node[TAG], str):
        return Row(field=TAG, value=node[TAG]), node
    if set(node) == {LIST} and isinstance(node[LIST], str):
        return Row(field=LIST, list_id=node[LIST]), node
    if not set(node) <= {"field", "op", "value"} or not isinstance(node.get("field"), str):
        return None
    op = aliases.get(str(node.get("op")))
    if op is None:
        return None
    name: str = node["field"]
    row = Row(field=name, op=op)
    if name.startswith("attributes."):
        row.field, row.key = ATTRIBUTE, name.removeprefix("attributes.")
    value = node.get("value")
    if op == "in" and isinstance(value, list):
        texts = [_text_of(v) for v in value]
        if any(t is None for t in texts):
            return None
        row.value = ", ".join(t for t in texts if t is not None)
    elif op != "exists":
        text = _text_of(value)
        if text is None:
            return None
        row.value = text
    return row, {**node, "op": op}


def builder_of(name: str, tree: Any, aliases: dict[str, str]) -> Builder | None:
    """The rows of a saved tree, or None when they cannot hold it exactly."""
    negate = isinstance(tree, dict) and set(tree) == {"not"}
    inner = tree["not"] if negate else tree
    combine = "all"
    children: Any = [inner]
    if isinstance(inner, dict) and len(inner) == 1 and set(inner) <= {"all", "any"}:
        combine = next(iter(inner))
        children = inner[combine]
    if not isinstance(children, list) or not 0 < len(children) <= MAX_ROWS:
        return None
    read = [_row_of(child, aliases) for child in children]
    if any(r is None for r in read):
        return None
    pairs = [r for r in read if r is not None]
    builder = Builder(name=name, rows=[r for r, _ in pairs], combine=combine, negate=negate)
    expected: dict[str, Any] = {combine: [n for _, n in pairs]}
    if negate:
        expected = {"not": expected}
    return builder if builder.tree() == expected else None


# ----------------------------------------------------------------------- campaign's refusals


def row_problems(raw: list[tuple[str, str]]) -> dict[int, str]:
    """Violations by row index (``raw``: the backend's (path, description) pairs)."""
    found: dict[int, str] = {}
    for path, description in raw:
        matched = _ROW_PATH.match(path)
        if matched:
            found.setdefault(int(matched.group(1)), description)
    return found


def split_problem(exc: grpc.aio.AioRpcError) -> tuple[FormProblem, dict[int, str]]:
    """The refusal as the form's problem (the name, the general message) and per row."""
    raw = [(v.field, v.description) for v in problem_of(exc).fields]
    rows = row_problems(raw)
    problem = form_problem(exc, {"segment.name": "name"})
    unplaced = [f"{p}: {d}" for p, d in raw if not _ROW_PATH.match(p) and p != "segment.name"]
    problem.other = bool(unplaced) or not (rows or problem.fields)
    if unplaced:
        problem.message = "; ".join(unplaced)
    problem.fields = {k: v for k, v in problem.fields.items() if k == "name"}
    return problem, rows
