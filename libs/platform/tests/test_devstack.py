import asyncio
import smtplib
import socket
from email.message import EmailMessage

import nats
import psycopg
import pytest

from missiva_platform.db import (
    MigrationError,
    MigrationSet,
    check_migrated,
    kit_migrations,
    migrate,
)
from missiva_platform.devstack.ports import PortInUse, ensure_port_free


def test_each_module_gets_a_fresh_database_on_a_real_postgresql(database_url):
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
    assert version.startswith("16")
    assert tables == 0


async def test_jetstream_is_enabled_on_the_embedded_nats(nats_url):
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        assert info.limits is not None
    finally:
        await nc.close()


def test_smtp_sink_keeps_every_message(smtp_sink):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.test", "b@example.test", "Hello"
    msg.set_content("body")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as client:
        client.send_message(msg)
    (received,) = smtp_sink.handler.wait_for(1)
    assert received.message["Subject"] == "Hello"
    assert received.rcpt_tos == ("b@example.test",)
    assert list(smtp_sink.handler.folder.glob("*.eml"))


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} .* already taken"):
            ensure_port_free(port, "NATS")


async def test_migrations_apply_once_and_a_service_refuses_to_start_while_pending(
    database_factory, tmp_path
):
    url = database_factory.empty("migrations")
    (tmp_path / "0001_things.sql").write_text("CREATE TABLE things (id int primary key);")
    sets = [kit_migrations(), MigrationSet("svc", tmp_path)]
    with pytest.raises(MigrationError, match="pending"):
        await check_migrated(url, sets)
    applied = await migrate(url, sets)
    names = [m.name for m in applied]
    assert names[0] == "outbox_inbox"
    assert names[-1] == "things"
    assert await migrate(url, sets) == []
    await check_migrated(url, sets)
    (tmp_path / "0002_more.sql").write_text("ALTER TABLE things ADD COLUMN name text;")
    with pytest.raises(MigrationError, match="svc/0002_more"):
        await check_migrated(url, sets)


async def test_an_edited_migration_is_refused(database_factory, tmp_path):
    url = database_factory.empty("edited")
    script = tmp_path / "0001_a.sql"
    script.write_text("CREATE TABLE a (id int);")
    await migrate(url, [MigrationSet("svc", tmp_path)])
    script.write_text("CREATE TABLE a (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(url, [MigrationSet("svc", tmp_path)])


async def test_concurrent_migrators_apply_each_migration_once(database_factory, tmp_path):
    url = database_factory.empty("concurrent")
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id int);")
    sets = [MigrationSet("svc", tmp_path)]
    results = await asyncio.gather(*(migrate(url, sets) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]


def test_missiva_up_gives_each_service_its_own_credential_and_the_gateways_url(tmp_path):
    from missiva_platform.devstack.platform import SERVICES, Platform
    from missiva_platform.secrets import (
        SERVICE_CREDENTIALS_FILE,
        generate_secrets,
        load_service_credentials,
        own_credential_files,
    )
    from missiva_platform.secrets import SERVICES as CLIENTS

    databases = {f"{s.upper()}_DATABASE_URL": f"postgresql://x@db/{s}" for s in SERVICES}
    platform = Platform(tmp_path, env=databases)
    platform.secret_files = generate_secrets(tmp_path / "secrets")
    platform.credential_files = own_credential_files(
        platform.secret_files[SERVICE_CREDENTIALS_FILE]
    )
    for service in SERVICES:
        path = platform.service_env(service)["SERVICE_CREDENTIALS_FILE"]
        held = set(load_service_credentials(path))
        assert held == (set(CLIENTS) if service == "identity" else {service}), service
        # The links services put in mail lead to this platform's gateway.
        gateway = f"http://127.0.0.1:{platform.ports.gateway}"
        assert platform.service_env(service)["PUBLIC_BASE_URL"] == gateway
    # Delivery verifies sender domains against the loopback DNS server, port base + 43.
    delivery = platform.service_env("delivery")
    assert delivery["DNS_RESOLVER"] == f"127.0.0.1:{platform.ports.base + 43}"
    assert delivery["DNS_ZONE_FILE"] == str(tmp_path / "dns" / "zone.json")
    assert "DNS_RESOLVER" not in platform.service_env("campaign")
    # Its outbound webhooks may reach a receiver on this machine (loopback only).
    assert delivery["WEBHOOK_ALLOW_LOOPBACK_HTTP"] == "true"
    assert "WEBHOOK_ALLOW_LOOPBACK_HTTP" not in platform.service_env("campaign")
    assert (platform.ports.dns, "the loopback DNS server") in platform.planned_ports()


def test_delivery_processes_share_its_database_and_queue_on_ports_of_their_own(tmp_path):
    from missiva_platform.config import ConfigError
    from missiva_platform.devstack.platform import SERVICES, Platform
    from missiva_platform.secrets import (
        SERVICE_CREDENTIALS_FILE,
        generate_secrets,
        own_credential_files,
    )

    databases = {f"{s.upper()}_DATABASE_URL": f"postgresql://x@db/{s}" for s in SERVICES}
    assert Platform(tmp_path, env=databases).replica_envs() == {}
    platform = Platform(tmp_path, env={**databases, "DELIVERY_PROCESSES": "3"})
    platform.secret_files = generate_secrets(tmp_path / "secrets")
    platform.credential_files = own_credential_files(
        platform.secret_files[SERVICE_CREDENTIALS_FILE]
    )
    replicas = platform.replica_envs()
    assert set(replicas) == {"delivery-2", "delivery-3"}
    first = platform.service_env("delivery")
    for env in replicas.values():
        assert env["DATABASE_URL"] == first["DATABASE_URL"]
        assert env["NATS_URL"] == first["NATS_URL"]
        assert (env["GRPC_PORT"], env["HTTP_PORT"]) == ("0", "0")
    for bad in ("0", "x", "99"):
        with pytest.raises(ConfigError, match="DELIVERY_PROCESSES"):
            Platform(tmp_path, env={**databases, "DELIVERY_PROCESSES": bad})


def test_a_process_that_keeps_crashing_is_restarted_with_backoff_then_stops_the_platform(
    tmp_path, monkeypatch
):
    import io
    import sys

    from missiva_platform.devstack import platform as devstack

    monkeypatch.setattr(devstack, "RESTART_BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(devstack, "MAX_CRASHES", 2)
    out = io.StringIO()
    platform = devstack.Platform(tmp_path / "data", env={}, out=out)
    platform.layout.logs.mkdir(parents=True)
    crashing = devstack.Child(
        "campaign",
        [sys.executable, "-c", "import sys; print('boom', flush=True); sys.exit(3)"],
        platform.layout.log("campaign"),
        {},
    )
    platform.services["campaign"] = crashing
    crashing.start()

    with pytest.raises(devstack.PlatformError, match="crashed 3 times in 10 minutes") as caught:
        platform.watch(interval=0.02)

    said = out.getvalue()
    assert said.count("missiva: campaign exited with status 3; restarting it in") == 2
    assert said.count("missiva: campaign restarted") == 2
    assert "restarting it in 0s (crash 1" in said
    assert "(crash 2" in said
    assert caught.value.args[1].strip() == "boom"  # this run's lines only
    assert platform.layout.log("campaign").read_text().count("boom") == 3


def test_a_folder_the_postgresql_user_cannot_enter_is_named_with_the_fix():
    import os
    import pwd
    import shutil
    import tempfile
    from pathlib import Path

    from missiva_platform.devstack.processes import check_reachable, unreachable_folder

    # Under /tmp itself: pytest's own folders are closed to others.
    root = Path(tempfile.mkdtemp(prefix="missiva-reach-", dir="/tmp"))
    root.chmod(0o755)
    locked = root / "locked"
    binary = locked / "venv" / "bin" / "initdb"
    binary.parent.mkdir(parents=True)
    binary.touch()
    locked.chmod(0o700)
    # "nobody" owns none of these folders and is in none of their groups.
    user = pwd.getpwuid(65534).pw_name
    assert os.geteuid() != 65534
    try:
        assert unreachable_folder(binary, user) == locked
        with pytest.raises(RuntimeError) as caught:
            check_reachable(binary, user)
        message = str(caught.value)
        assert "\n" not in message
        assert f"cannot enter {locked} (mode 0700)" in message
        assert f"chmod o+x {locked}" in message
        locked.chmod(0o711)
        assert unreachable_folder(binary, user) is None
        check_reachable(binary, user)
    finally:
        shutil.rmtree(root)


def test_each_service_runs_as_a_role_that_can_write_rows_but_not_change_the_schema(pg_server):
    import uuid

    name = f"roles_{uuid.uuid4().hex[:8]}"
    other = f"other_{uuid.uuid4().hex[:8]}"
    pg_server.create_database(name)
    pg_server.create_database(other)
    # A table made before the roles existed (a data folder from an older version).
    with psycopg.connect(pg_server.url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE old_rows (id serial PRIMARY KEY, v text)")
    roles = pg_server.service_roles(name)
    assert pg_server.service_roles(name) == roles  # idempotent, same passwords
    pg_server.service_roles(other)  # another service's database, as missiva up sets it up

    with psycopg.connect(roles.owner_url, autocommit=True) as conn:  # migrations run as owner
        conn.execute(
            "CREATE TABLE ledger (id bigserial PRIMARY KEY, v text);"
            " CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'append-only'; END $$;"
            " CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger"
            " FOR EACH ROW EXECUTE FUNCTION refuse();"
        )
    with psycopg.connect(roles.app_url, autocommit=True) as conn:
        conn.execute("INSERT INTO ledger (v) VALUES ('a')")
        conn.execute("INSERT INTO old_rows (v) VALUES ('b')")
        assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (1,)
        for statement in (
            "ALTER TABLE ledger DISABLE TRIGGER ledger_append_only",
            "SET session_replication_role = replica",
            "DROP TABLE ledger",
            "CREATE TABLE sneaky (v text)",
            "UPDATE ledger SET v = 'changed'",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert row.fetchone() == (False, False)
    other_url = roles.app_url.rsplit("/", 1)[0] + f"/{other}"
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(other_url)


def test_missiva_publish_dns_runs_delivery_with_the_running_platforms_environment(
    pg_server, tmp_path, monkeypatch
):
    """``missiva publish-dns`` in a data folder as ``missiva up`` leaves it (state, secrets,
    database roles): delivery's own command runs as delivery's role on its database and
    writes the domain's records into the folder's zone file."""
    import io
    import json
    import os
    import subprocess
    import sys
    import uuid

    from missiva_platform.devstack import cli
    from missiva_platform.devstack.platform import Platform
    from missiva_platform.devstack.publish import run_publish_dns
    from missiva_platform.devstack.state import process_start_time

    for name in list(os.environ):
        if name.endswith("_DATABASE_URL"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    out = io.StringIO()
    assert run_publish_dns(data, "news.example.com", out=out) == 3
    assert "no platform has run" in out.getvalue()

    # The folder as missiva up leaves it, with this cluster as its PostgreSQL (base + 40).
    base = pg_server.port - 40
    platform = Platform(data, base, env={})
    pg_server.create_database("delivery")
    roles = pg_server.service_roles("delivery")
    platform.layout.postgres.mkdir(parents=True)
    (platform.layout.postgres / "role-passwords.json").write_text(
        (pg_server.data_dir / "role-passwords.json").read_text()
    )
    platform.attach(services=("delivery",))
    env = platform.service_env("delivery")
    assert env["DATABASE_URL"] == roles.app_url
    assert env["DNS_ZONE_FILE"] == str(data / "dns" / "zone.json")
    migrated = subprocess.run(
        [sys.executable, "-m", "missiva_delivery", "migrate"],
        env={**env, "DATABASE_URL": roles.owner_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    state = {
        "supervisor": {"pid": os.getpid(), "start": process_start_time(os.getpid())},
        "base_port": base,
    }
    platform.layout.state_file.write_text(json.dumps(state))

    name, tenant = f"news-{uuid.uuid4().hex[:8]}.example.com", "acct-1"
    out = io.StringIO()
    assert run_publish_dns(data, name, tenant, out=out) == 1
    assert f"delivery: {name} is not a sender domain of account {tenant}" in out.getvalue()

    domain_id = uuid.uuid4()
    with psycopg.connect(roles.app_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sender_domains (id, tenant_id, domain, return_path)"
            " VALUES (%s, %s, %s, %s)",
            (domain_id, tenant, name, f"bounces.{name}"),
        )
        conn.execute(
            "INSERT INTO dkim_keys (sender_domain_id, selector, tenant_id, algorithm, state,"
            " private_key_enc, dns_value) VALUES (%s, 'mv1-ed25519', %s, 'ed25519-sha256',"
            " 'active', '\\x00', 'v=DKIM1; k=ed25519; p=AAAA')",
            (domain_id, tenant),
        )
    with pytest.raises(SystemExit) as done:
        cli.main(["publish-dns", name, "--tenant", tenant, "--data-dir", str(data)])
    assert done.value.code == 0
    zone = json.loads((data / "dns" / "zone.json").read_text())
    text = json.dumps(zone)
    assert f"mv1-ed25519._domainkey.{name}" in text
    assert "v=DKIM1; k=ed25519; p=AAAA" in text
    assert f"_dmarc.{name}" in text
    assert f"bounces.{name}" in text
