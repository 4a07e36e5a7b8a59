"""Hostile text in every string field of every RPC: a service answers, it never breaks.

``hostile_failures`` calls each method of a service once per string field (nested messages,
repeated fields and string maps included) and hostile value, with only that field set, as a
caller the method's rule admits, and returns the calls answered INTERNAL or UNKNOWN. A
control character must be INVALID_ARGUMENT (the kit's interceptor); anything else may be
refused or accepted as the method sees fit, but never by crashing. The values are what users,
scripts and attackers really send: superscript digits, numbers past bigint, SQL and format
strings, bidirectional and zero-width marks, very long text, malformed ids and page tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from missiva_platform.auth import ALL_ROLES, Access, CallerKind, MethodRule
from missiva_platform.testing.access import call_code, resolve_token

HOSTILE: tuple[str, ...] = (
    "²",
    "9" * 40,
    "-1",
    "' OR '1'='1' --",
    "%s%n{0}{}",
    "\u202eevil\u200b",
    "😀" * 64,
    "x" * 5000,
    " ",
    "../../etc/passwd",
    "not-a-uuid",
    "00000000-0000-0000-0000-000000000000",
    "ab" * 32,
    "a@b.c",
    "x@[127.0.0.1]",
)
CONTROL = "a\x00b"  # must be INVALID_ARGUMENT everywhere

TokenFor = Callable[..., Any]
BROKEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def text_paths(descriptor: Descriptor, depth: int = 0) -> list[tuple[str, ...]]:
    """Paths to every string field of ``descriptor`` (through nested and repeated messages
    and string maps), e.g. ``("person", "email")``."""
    paths: list[tuple[str, ...]] = []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            paths.append((field.name,))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
            sub = field.message_type
            if sub.GetOptions().map_entry:
                key, item = sub.fields_by_name["key"], sub.fields_by_name["value"]
                if {key.type, item.type} == {FieldDescriptor.TYPE_STRING}:
                    paths.append((field.name,))
            elif not sub.full_name.startswith("google.protobuf."):  # typed values, not text
                paths += [(field.name, *rest) for rest in text_paths(sub, depth + 1)]
    return paths


def with_text(descriptor: Descriptor, path: tuple[str, ...], value: str) -> Message:
    """A message of ``descriptor`` with ``value`` at ``path`` and nothing else set."""
    message = GetMessageClass(descriptor)()
    _set(message, path, value)
    return message


def _set(message: Message, path: tuple[str, ...], value: str) -> None:
    field = message.DESCRIPTOR.fields_by_name[path[0]]
    target = getattr(message, field.name)
    if field.type == FieldDescriptor.TYPE_STRING:
        if field.is_repeated:
            target.append(value)
        else:
            setattr(message, field.name, value)
    elif field.message_type.GetOptions().map_entry:
        target[value] = value
    elif field.is_repeated:
        _set(target.add(), path[1:], value)
    else:
        _set(target, path[1:], value)


async def _token(token_for: TokenFor, rule_: MethodRule, services: Iterable[str]) -> str:
    if rule_.access is Access.SERVICE:
        subject = sorted(rule_.services)[0] if rule_.services else next(iter(services))
        kw: dict[str, Any] = {"kind": CallerKind.SERVICE, "subject": subject, "roles": ()}
    else:
        kw = {"kind": CallerKind.USER, "roles": ALL_ROLES}
    return await resolve_token(token_for, scopes=sorted({"*", *rule_.scopes}), **kw)


async def hostile_failures(
    channel: grpc.aio.Channel,
    full_name: str,
    rules: Mapping[str, MethodRule],
    token_for: TokenFor,
    *,
    values: Iterable[str] = HOSTILE,
    calling_services: Iterable[str] = ("consent",),
) -> list[str]:
    """Calls that broke (INTERNAL/UNKNOWN), and control characters not refused as such."""
    service = descriptor_pool.Default().FindServiceByName(full_name)
    problems = []
    for method in service.methods:
        rule_ = rules[method.name]
        token = (
            ""
            if rule_.access is Access.ANONYMOUS
            else await _token(token_for, rule_, calling_services)
        )
        for field_path in text_paths(method.input_type):
            name = ".".join(field_path)
            for value in values:
                body = with_text(method.input_type, field_path, value).SerializeToString()
                code = await call_code(channel, full_name, method, token, body, seconds=15)
                if code in BROKEN:
                    problems.append(f"{method.name} {name}={value[:20]!r}: {code.name}")
            if not method.client_streaming:
                body = with_text(method.input_type, field_path, CONTROL).SerializeToString()
                code = await call_code(channel, full_name, method, token, body, seconds=15)
                if code is not grpc.StatusCode.INVALID_ARGUMENT:
                    problems.append(f"{method.name} {name}=<control character>: {code.name}")
    return problems
