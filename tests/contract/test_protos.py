"""The contracts in proto/: lint, compatibility, generated code and naming rules.

These run buf and protoc for real. The breaking-change check is also exercised in a
throwaway git repository, so a check that could never fail would be caught here.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf.message import Message

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PROTO_FILES = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
EVENT_FILES = [p for p in PROTO_FILES if p.endswith("/events.proto")]
SERVICE_FILES = [p for p in PROTO_FILES if p.endswith("_service.proto")]
PACKAGES = ["common", "identity", "consent", "campaign", "delivery", "billing", "privacy"]


def _load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py under a private module name (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"_missiva_script_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


buf_script = _load_script("buf")
proto_script = _load_script("proto")


def _module_name(proto_path: str, suffix: str = "_pb2") -> str:
    return proto_path.removesuffix(".proto").replace("/", ".") + suffix


def _pb2(proto_path: str) -> ModuleType:
    return importlib.import_module(_module_name(proto_path))


def _file_descriptor(proto_path: str) -> pb_descriptor.FileDescriptor:
    return _pb2(proto_path).DESCRIPTOR


def _all_methods() -> list[pb_descriptor.MethodDescriptor]:
    return [
        method
        for path in SERVICE_FILES
        for service in _file_descriptor(path).services_by_name.values()
        for method in service.methods
    ]


# --- buf -------------------------------------------------------------------------------


def test_every_service_package_has_a_service_file_and_an_events_file() -> None:
    assert "missiva/common/v1/envelope.proto" in PROTO_FILES
    for package in PACKAGES[1:]:
        assert f"missiva/{package}/v1/{package}_service.proto" in PROTO_FILES
        assert f"missiva/{package}/v1/events.proto" in PROTO_FILES


def test_buf_lint_reports_no_findings(capfd: pytest.CaptureFixture[str]) -> None:
    returncode = buf_script.lint(ROOT)
    out, err = capfd.readouterr()
    assert returncode == 0, out + err


def test_proto_changes_are_compatible_with_the_previous_commit(
    capfd: pytest.CaptureFixture[str],
) -> None:
    returncode = buf_script.breaking(ROOT)
    out, err = capfd.readouterr()
    assert returncode == 0, out + err


# --- buf breaking, in a throwaway repository ---------------------------------------------

DEMO_PROTO = """\
syntax = "proto3";

package missiva.demo.v1;

// Thing is a demo message.
message Thing {
  // First field.
  string name = 1;
  // Second field.
  string note = 2;
}
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c", "user.name=Contract Test",
            "-c", "user.email=contract-test@example.invalid",
            "-c", "commit.gpgsign=false",
            "-C", str(repo),
            *args,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    """A git repository with the real buf.yaml and a one-message proto, committed once."""
    repo = tmp_path / "repo"
    (repo / "proto" / "missiva" / "demo" / "v1").mkdir(parents=True)
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    (repo / "proto" / "missiva" / "demo" / "v1" / "demo.proto").write_text(DEMO_PROTO)
    _git(repo, "init", "--quiet")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "first contract")
    return repo


def _commit_demo(repo: Path, text: str) -> None:
    (repo / "proto" / "missiva" / "demo" / "v1" / "demo.proto").write_text(text)
    _git(repo, "commit", "--quiet", "--all", "--message", "change the contract")


def test_breaking_check_skips_when_there_is_no_previous_commit(
    demo_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert buf_script.breaking(demo_repo) == 0
    assert "skipped" in capfd.readouterr().out


def test_breaking_check_skips_when_the_previous_commit_has_no_protos(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("before the contracts\n")
    _git(repo, "init", "--quiet")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "no contracts yet")
    (repo / "proto" / "missiva" / "demo" / "v1").mkdir(parents=True)
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    (repo / "proto" / "missiva" / "demo" / "v1" / "demo.proto").write_text(DEMO_PROTO)
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "add the contracts")

    assert buf_script.breaking(repo) == 0
    assert "has no proto/" in capfd.readouterr().out


def test_removing_a_field_without_reserving_it_is_breaking(
    demo_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _commit_demo(demo_repo, DEMO_PROTO.replace("  // Second field.\n  string note = 2;\n", ""))

    assert buf_script.main(["breaking", "--root", str(demo_repo)]) != 0
    out, err = capfd.readouterr()
    assert 'field "2" with name "note"' in out + err


def test_removing_a_reserved_field_is_still_breaking_under_file_rules(demo_repo: Path) -> None:
    # FILE rules protect generated code too: deprecate a field instead, or start a v2 package.
    _commit_demo(
        demo_repo,
        DEMO_PROTO.replace(
            "  // Second field.\n  string note = 2;\n", '  reserved 2;\n  reserved "note";\n'
        ),
    )

    assert buf_script.breaking(demo_repo) != 0


def test_adding_a_field_is_not_breaking(demo_repo: Path) -> None:
    _commit_demo(
        demo_repo,
        DEMO_PROTO.replace(
            "  string note = 2;\n", "  string note = 2;\n  // Third field.\n  int64 count = 3;\n"
        ),
    )

    assert buf_script.breaking(demo_repo) == 0


def test_uncommitted_breaking_changes_are_caught_too(demo_repo: Path) -> None:
    _commit_demo(demo_repo, DEMO_PROTO + "\n// Other is a second demo message.\nmessage Other {}\n")
    (demo_repo / "proto" / "missiva" / "demo" / "v1" / "demo.proto").write_text(
        DEMO_PROTO.replace("string name = 1;", "int64 name = 1;")
    )

    assert buf_script.breaking(demo_repo) != 0


# --- generated code --------------------------------------------------------------------


def test_generated_code_matches_the_protos() -> None:
    stale = proto_script.check()
    assert stale == [], f"stale generated files {stale}: run make proto"


@pytest.mark.parametrize("proto_path", PROTO_FILES)
def test_every_proto_has_an_importable_generated_module(proto_path: str) -> None:
    module = _pb2(proto_path)
    assert module.DESCRIPTOR.name == proto_path
    package_dir = proto_path.rsplit("/", 1)[0]
    assert module.DESCRIPTOR.package == package_dir.replace("/", ".")


@pytest.mark.parametrize("proto_path", PROTO_FILES)
def test_protos_import_only_missiva_and_well_known_types(proto_path: str) -> None:
    for dependency in _file_descriptor(proto_path).dependencies:
        assert dependency.name.startswith(("missiva/", "google/protobuf/")), dependency.name


@pytest.mark.parametrize("proto_path", SERVICE_FILES)
def test_each_service_has_a_stub_a_servicer_and_a_registration_function(
    proto_path: str,
) -> None:
    grpc_module = importlib.import_module(_module_name(proto_path, "_pb2_grpc"))
    services = _file_descriptor(proto_path).services_by_name
    assert services, f"{proto_path} defines no service"
    channel = grpc.insecure_channel("localhost:1")  # never connected: stubs are lazy
    try:
        for name, service in services.items():
            assert name.endswith("Service")
            # consent_service.proto holds ConsentService.
            assert proto_path.endswith(
                f"/{service.name.removesuffix('Service').lower()}_service.proto"
            )
            stub = getattr(grpc_module, f"{name}Stub")(channel)
            servicer = getattr(grpc_module, f"{name}Servicer")
            assert callable(getattr(grpc_module, f"add_{name}Servicer_to_server"))
            for method in service.methods:
                assert callable(getattr(stub, method.name))
                assert callable(getattr(servicer, method.name))
    finally:
        channel.close()


def test_event_files_define_no_services() -> None:
    for path in EVENT_FILES:
        assert not _file_descriptor(path).services_by_name, path


def test_every_rpc_has_its_own_request_and_response_messages() -> None:
    methods = _all_methods()
    assert methods
    for method in methods:
        assert method.input_type.name == f"{method.name}Request", method.full_name
        assert method.output_type.name == f"{method.name}Response", method.full_name
        assert method.input_type.file.name == method.containing_service.file.name
        assert method.output_type.file.name == method.containing_service.file.name
    uses = Counter(message.full_name for m in methods for message in (m.input_type, m.output_type))
    assert [name for name, count in uses.items() if count > 1] == []


def test_privacy_service_offers_export_and_erase() -> None:
    privacy = _file_descriptor("missiva/privacy/v1/privacy_service.proto")
    service = privacy.services_by_name["PrivacyService"]
    assert [m.name for m in service.methods] == ["ExportPersonData", "ErasePersonData"]


def test_enums_start_with_an_unspecified_zero_value() -> None:
    for path in PROTO_FILES:
        descriptor = _file_descriptor(path)
        enums = list(descriptor.enum_types_by_name.values())
        enums += [e for m in _messages(descriptor) for e in m.enum_types]
        for enum in enums:
            assert enum.values[0].number == 0
            assert enum.values[0].name.endswith("_UNSPECIFIED"), enum.full_name


def _messages(file: pb_descriptor.FileDescriptor) -> list[pb_descriptor.Descriptor]:
    found: list[pb_descriptor.Descriptor] = []
    pending = list(file.message_types_by_name.values())
    while pending:
        message = pending.pop()
        if message.GetOptions().map_entry:
            continue
        found.append(message)
        pending.extend(message.nested_types)
    return found


# --- events in the envelope ------------------------------------------------------------


def _populate(message: Message, depth: int = 0) -> Message:
    """Set every field of ``message`` to a non-default value (nested messages to depth 3)."""
    fd = pb_descriptor.FieldDescriptor
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue  # one member of each oneof is enough
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            target = getattr(message, field.name)
            key = _scalar(key_field)
            if value_field.message_type is not None:
                if depth < 3:
                    _populate(target[key], depth + 1)
            else:
                target[key] = _scalar(value_field)
        elif field.message_type is not None:
            if depth >= 3:
                continue
            if field.is_repeated:
                _populate(getattr(message, field.name).add(), depth + 1)
            else:
                _populate(getattr(message, field.name), depth + 1)
                if not message.HasField(field.name):  # an empty nested message
                    getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).append(_scalar(field))
        else:
            setattr(message, field.name, _scalar(field))
        assert field.type != fd.TYPE_GROUP
    return message


def _scalar(field: pb_descriptor.FieldDescriptor) -> object:
    fd = pb_descriptor.FieldDescriptor
    if field.type == fd.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type == fd.TYPE_STRING:
        return f"{field.name}-value"
    if field.type == fd.TYPE_BYTES:
        return f"{field.name}-bytes".encode()
    if field.type == fd.TYPE_BOOL:
        return True
    if field.type in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        return 1.5
    # Every integer type; 7 also fits a Timestamp's or Duration's nanos.
    return 7


def _event_messages() -> list[type[Message]]:
    classes = []
    for path in EVENT_FILES:
        module = _pb2(path)
        for name in module.DESCRIPTOR.message_types_by_name:
            classes.append(getattr(module, name))
    return classes


EVENT_MESSAGES = _event_messages()


def test_every_service_package_publishes_events() -> None:
    packages = {cls.DESCRIPTOR.file.package for cls in EVENT_MESSAGES}
    assert packages == {f"missiva.{p}.v1" for p in PACKAGES[1:]}


@pytest.mark.parametrize("message_class", EVENT_MESSAGES, ids=lambda c: c.DESCRIPTOR.full_name)
def test_every_event_and_command_round_trips_through_the_envelope(
    message_class: type[Message],
) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    from missiva.common.v1.envelope_pb2 import EventEnvelope

    event = _populate(message_class())
    assert event.ListFields(), f"{message_class.DESCRIPTOR.full_name} carries nothing"
    envelope = EventEnvelope(
        event_id="0190d5e2-7c00-7000-8000-000000000001",
        occurred_at=Timestamp(seconds=1_735_689_600),
        tenant_id="tenant-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        event_type="demo.thing.happened",
        producer=message_class.DESCRIPTOR.file.package.split(".")[1],
        aggregate_version=3,
        aggregate_id="aggregate-1",
    )
    envelope.payload.Pack(event)

    received = EventEnvelope.FromString(envelope.SerializeToString())

    assert received == envelope
    assert received.payload.TypeName() == message_class.DESCRIPTOR.full_name
    assert received.payload.Is(message_class.DESCRIPTOR)
    unpacked = message_class()
    assert received.payload.Unpack(unpacked)
    assert unpacked == event


def test_a_break_hidden_behind_a_later_commit_without_protos_is_still_found(
    demo_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The break lands first, then an unrelated commit: HEAD~1 alone would not see it.
    _commit_demo(demo_repo, DEMO_PROTO.replace("  // Second field.\n  string note = 2;\n", ""))
    (demo_repo / "README").write_text("docs only\n")
    _git(demo_repo, "add", "--all")
    _git(demo_repo, "commit", "--quiet", "--message", "docs")

    assert buf_script.breaking(demo_repo) == 0  # against HEAD~1 only: blind
    assert buf_script.main(["breaking", "--root", str(demo_repo)]) != 0  # recent baselines
    out, err = capfd.readouterr()
    assert 'field "2" with name "note"' in out + err
