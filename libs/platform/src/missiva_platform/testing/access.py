"""Table tests of a service's access rules: every scope and role a rule asks for is enforced.

``scope_denials`` calls every method of a service whose rule names a scope with an API-key
token holding every scope of the table except that one; ``role_denials`` calls every method
whose rule names roles as a user (scope ``*``) holding only a role outside them. Both return
the methods that did not answer PERMISSION_DENIED (the test asserts the list is empty). The
request is empty: the interceptor refuses the caller before the handler reads it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from missiva_platform.auth import ALL_ROLES, Access, CallerKind, MethodRule

TokenFor = Callable[..., Any]  # TestIssuer.token with the tenant chosen (may be async)


async def resolve_token(token_for: TokenFor, **kw: Any) -> str:
    """The token ``token_for`` makes for ``kw`` (it may be a coroutine function)."""
    token = token_for(**kw)
    return str(await token if inspect.isawaitable(token) else token)


def vocabulary(rules: Mapping[str, MethodRule]) -> set[str]:
    """Every scope the table names."""
    return {scope for r in rules.values() for scope in r.scopes}


async def call_code(
    channel: grpc.aio.Channel,
    full_name: str,
    method: Any,
    token: str,
    body: bytes = b"",
    *,
    seconds: float = 10,
) -> Any:
    """The status code of one call of ``method`` with a serialised request ``body``, whatever
    its streaming shape, within ``seconds`` (no token: no authorization metadata)."""
    path = f"/{full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    raw: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if method.client_streaming:
            call: Any = channel.stream_unary(path, raw, raw)
            await call(iter([body]), metadata=metadata, timeout=seconds)
        elif method.server_streaming:
            stream = channel.unary_stream(path, raw, raw)(body, metadata=metadata, timeout=seconds)
            async for _ in stream:
                pass
        else:
            await channel.unary_unary(path, raw, raw)(body, metadata=metadata, timeout=seconds)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _methods(full_name: str) -> list[Any]:
    return list(descriptor_pool.Default().FindServiceByName(full_name).methods)


async def scope_denials(
    channel: grpc.aio.Channel,
    full_name: str,
    rules: Mapping[str, MethodRule],
    token_for: TokenFor,
    *,
    kind: CallerKind = CallerKind.API_KEY,
    **token_args: Any,
) -> list[str]:
    """Methods that answered something other than PERMISSION_DENIED to a token with every
    scope but the one their rule asks for (one call per required scope)."""
    everything = vocabulary(rules)
    wrong = []
    for method in _methods(full_name):
        rule_ = rules[method.name]
        kind_used = CallerKind.SERVICE if rule_.access is Access.SERVICE else kind
        for scope in sorted(rule_.scopes):
            token = await resolve_token(
                token_for,
                kind=kind_used,
                scopes=sorted(everything - {scope}),
                roles=ALL_ROLES,
                **token_args,
            )
            code = await call_code(channel, full_name, method, token)
            if code is not grpc.StatusCode.PERMISSION_DENIED:
                wrong.append(f"{method.name} without {scope}: {code.name}")
    return wrong


async def role_denials(
    channel: grpc.aio.Channel,
    full_name: str,
    rules: Mapping[str, MethodRule],
    token_for: TokenFor,
    **token_args: Any,
) -> list[str]:
    """Methods that answered something other than PERMISSION_DENIED to a user with scope
    ``*`` and each member role their rule does not list."""
    wrong = []
    for method in _methods(full_name):
        rule_ = rules[method.name]
        if not rule_.roles:
            continue
        for role in sorted(set(ALL_ROLES) - rule_.roles):
            token = await resolve_token(
                token_for, kind=CallerKind.USER, scopes=("*",), roles=(role,), **token_args
            )
            code = await call_code(channel, full_name, method, token)
            if code is not grpc.StatusCode.PERMISSION_DENIED:
                wrong.append(f"{method.name} as {role}: {code.name}")
    return wrong
