"""Access rules: every RPC of a service has one, checked before the service starts."""

import pytest

from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_platform.auth import (
    Access,
    AccessRulesError,
    CallerKind,
    Principal,
    authorize,
    check_rules,
    rule,
)
from missiva_platform.config import ServiceSettings
from missiva_platform.errors import PermissionDenied
from missiva_platform.privacy import PRIVACY_RULES, SERVICE_FULL_NAME
from missiva_platform.service import ServiceApp
from missiva_platform.testing.tokens import TestIssuer

IDENTITY = "missiva.identity.v1.IdentityService"


def app() -> ServiceApp:
    return ServiceApp("testsvc", ServiceSettings(database_url="postgresql://x@127.0.0.1/x"))


def test_a_complete_rule_table_passes():
    check_rules(SERVICE_FULL_NAME, PRIVACY_RULES)


def test_a_method_without_a_rule_refuses_to_register_naming_it():
    rules = dict(PRIVACY_RULES)
    del rules["ErasePersonData"]
    with pytest.raises(AccessRulesError) as err:
        app().add_service(lambda s, srv: None, object(), SERVICE_FULL_NAME, rules)
    message = str(err.value)
    assert "ErasePersonData" in message
    assert "no access rule" in message
    assert "\n" not in message


def test_a_rule_for_a_method_that_does_not_exist_refuses_to_register_naming_it():
    rules = {**PRIVACY_RULES, "ErasePersonDatta": rule(Access.SERVICE, services=("consent",))}
    with pytest.raises(AccessRulesError) as err:
        app().add_service(lambda s, srv: None, object(), SERVICE_FULL_NAME, rules)
    assert "ErasePersonDatta" in str(err.value)
    assert "do not exist" in str(err.value)


def test_a_service_the_descriptor_pool_does_not_know_is_refused():
    with pytest.raises(AccessRulesError, match=r"no\.such\.Service"):
        check_rules("no.such.Service", {})


def test_a_rule_open_to_keys_or_services_must_name_a_scope():
    assert identity_service_pb2_grpc  # the descriptor is loaded
    with pytest.raises(AccessRulesError, match="GetAccount"):
        check_rules(IDENTITY, {"GetAccount": rule(Access.AUTHENTICATED)}, complete=False)
    check_rules(
        IDENTITY, {"GetAccount": rule(Access.AUTHENTICATED, scopes=("account:read",))},
        complete=False,
    )  # fmt: skip


def test_the_cli_prints_one_line_and_exits_when_rules_are_incomplete(capsys, monkeypatch):
    from missiva_platform import service

    def build(settings):
        built = ServiceApp("testsvc", settings)
        built.add_service(lambda s, srv: None, object(), SERVICE_FULL_NAME, {})
        return built

    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    with pytest.raises(SystemExit) as exit_:
        service.run_cli(build, ServiceSettings, ["serve"])
    assert exit_.value.code == 5
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "ExportPersonData" in err
    assert "ErasePersonData" in err


def _principal(kind: CallerKind, scopes=(), roles=()) -> Principal:
    return Principal(kind, "x", "acme", roles=frozenset(roles), scopes=frozenset(scopes))


def test_roles_gate_users_and_scopes_gate_keys():
    write = rule(Access.USER, scopes=("consent:write",), roles=("admin",))
    authorize(write, _principal(CallerKind.USER, ("*",), ("admin",)), "M")
    authorize(write, _principal(CallerKind.API_KEY, ("consent:write",)), "M")
    with pytest.raises(PermissionDenied, match="roles"):
        authorize(write, _principal(CallerKind.USER, ("*",), ("billing",)), "M")
    with pytest.raises(PermissionDenied, match="consent:write"):
        authorize(write, _principal(CallerKind.API_KEY, ("consent:read",)), "M")


def test_a_person_rule_refuses_api_keys_and_services():
    person = rule(Access.PERSON, roles=("admin",))
    authorize(person, _principal(CallerKind.USER, ("*",), ("admin",)), "M")
    for kind in (CallerKind.API_KEY, CallerKind.SERVICE):
        with pytest.raises(PermissionDenied, match="signed-in"):
            authorize(person, _principal(kind, ("*",), ("admin",)), "M")


async def test_the_test_issuer_gives_no_scope_unless_asked():
    from missiva_platform.auth import TokenVerifier

    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    principal = await verifier.verify(issuer.token())
    assert principal.scopes == frozenset()
    assert not principal.has_scope("consent:read")
