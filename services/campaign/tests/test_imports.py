"""Contact imports: a CSV streamed in small pieces, mapped, validated and merged by chunks;
every bad row reported with its line; re-running, resuming after the stream died and
cancelling; the consent proofs sent to consent; bad options named; other accounts; scopes."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import nats
import pytest
import pytest_asyncio
from campaign_testkit import violated_fields

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva_campaign.import_events import RECORD_IMPORTED_CONSENTS
from missiva_campaign.retention import RULES
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.retention import run_retention, travel

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"import_chunk_rows": 3}
PURPOSE = "0195a3d0-1111-7abc-8def-0123456789ab"
WRITE = ("contacts:write",)
READ = ("contacts:read",)


def proof(**extra: Any) -> pb.ImportOptions:
    options = pb.ImportOptions(
        purpose_id=PURPOSE,
        consent_proof=pb.ImportConsentProof(
            collected_by="Acme Srl, trade fair stand",
            consent_text="Yes, send me the Acme newsletter.",
        ),
        **extra,
    )
    options.consent_proof.given_at.FromDatetime(datetime.now(UTC) - timedelta(days=30))
    return options


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


async def chunks(
    options: pb.ImportOptions, data: bytes, size: int = 7, *, hold: asyncio.Event | None = None,
    hold_after: int = 0,
) -> AsyncIterator[pb.ImportContactsRequest]:  # fmt: skip
    """The options, then the file in ``size``-byte pieces; with ``hold``, waits for it after
    ``hold_after`` bytes."""
    yield pb.ImportContactsRequest(options=options)
    for start in range(0, len(data), size):
        if hold is not None and start >= hold_after:
            await hold.wait()
            hold = None
        yield pb.ImportContactsRequest(csv_chunk=data[start : start + size])


async def run(campaign, tenant, options, data, *, scopes=WRITE, **kw) -> pb.ImportContactsResponse:
    return await campaign.stub.ImportContacts(
        chunks(options, data, **kw), metadata=campaign.md(tenant, scopes=scopes), timeout=30
    )


async def get(campaign, tenant, import_id) -> pb.ContactImport:
    reply = await campaign.stub.GetImport(
        pb.GetImportRequest(import_id=import_id), metadata=campaign.md(tenant, scopes=READ)
    )
    return getattr(reply, "import")


async def report(campaign, tenant, import_id) -> list[list[str]]:
    data = b""
    async for piece in campaign.stub.DownloadImportReport(
        pb.DownloadImportReportRequest(import_id=import_id),
        metadata=campaign.md(tenant, scopes=READ),
    ):
        data += piece.csv_chunk
    return list(csv.reader(io.StringIO(data.decode())))


async def emails(campaign, tenant) -> list[str]:
    rows = await campaign.sql(
        "SELECT email_key FROM contacts WHERE account_id = %s AND deleted_at IS NULL"
        " ORDER BY email_key",
        tenant,
    )
    return [r[0] for r in rows]


@pytest_asyncio.fixture(loop_scope="module")
async def consents(campaign) -> AsyncIterator[Any]:
    """Consent's work queue of imported consents, read by the test."""
    js = campaign.nc.jetstream()
    durable = f"campaign-import-tests-{uuid.uuid4().hex[:8]}"
    sub = await js.pull_subscribe(
        RECORD_IMPORTED_CONSENTS, durable=durable, stream="CONSENT_COMMANDS"
    )
    seen: list[EventEnvelope] = []

    async def read(tenant: str, want: int) -> list[events_pb2.RecordImportedConsentsCommand]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
                for msg in await sub.fetch(50, timeout=0.3):
                    seen.append(EventEnvelope.FromString(msg.data))
                    await msg.ack()
            found = [
                unpack(e, events_pb2.RecordImportedConsentsCommand)
                for e in seen
                if e.tenant_id == tenant
            ]
            if sum(len(c.consents) for c in found) >= want or loop.time() > deadline:
                return found

    yield read
    await sub.unsubscribe()
    await js.delete_consumer("CONSENT_COMMANDS", durable)


async def test_a_csv_is_mapped_validated_and_merged_with_every_bad_row_reported(
    campaign, consents
) -> None:
    tenant = campaign.tenant()
    listed = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="Fair", purpose_id=PURPOSE)),
        metadata=campaign.md(tenant, scopes=["lists:write"]),
    )
    list_id = listed.list.list_id
    data = csv_file(
        [
            ["E-mail", "First Name", "city", "age", "Tags", "ignored"],
            ["ada@example.org", "Ada", "Rome", "36", "vip;fair", "x"],  # line 2
            ["not-an-address", "Bad", "", "", "", ""],  # line 3
            ["bea@example.org", "Bea", "Milan", "old", "", ""],  # line 4: age not a number
            ["", "", "", "", "", ""],  # line 5: blank, not a row
            ["cloe@example.org", "Cloe", "Turin", "41", "", "two\nlines"],  # lines 6-7
            ["ADA@example.org", "Ada again", "", "", "", ""],  # line 8: same chunk? no: dup
            ["dora@example.org", "Dora", "", "", "", ""],  # line 9
            ["eva@example.org", "Eva", "", "3.5", "", "", "extra"],  # line 10: too many cells
            ["fay@example.org", "Fay", "", "", "", ""],  # line 11
        ]
    )
    options = proof(
        list_id=list_id,
        tags=["imported"],
        column_mapping={
            "E-mail": "email",
            "First Name": "first_name",
            "city": "attributes.city",
            "age": "attributes.age",
            "ignored": "",
        },
        attribute_types={"age": "number"},
        total_rows=9,
    )
    options.ClearField("purpose_id")  # the list's purpose applies
    reply = await run(campaign, tenant, options, data)
    assert (reply.created, reply.updated, reply.skipped, reply.rejected) == (4, 0, 0, 4)
    assert reply.received == 8
    state = getattr(reply, "import")
    assert state.status == pb.IMPORT_STATUS_COMPLETED
    assert (state.rows_read, state.total_rows, state.good, state.bad) == (8, 9, 4, 4)
    assert [(e.row_number, e.field) for e in reply.errors] == [
        (3, "E-mail"), (4, "age"), (8, "email"), (10, ""),
    ]  # fmt: skip
    assert "duplicate" in reply.errors[2].message
    assert await emails(campaign, tenant) == [
        "ada@example.org", "cloe@example.org", "dora@example.org", "fay@example.org",
    ]  # fmt: skip
    ada = (
        await campaign.stub.ListContacts(
            pb.ListContactsRequest(query="ada"), metadata=campaign.md(tenant, scopes=READ)
        )
    ).contacts[0]
    assert ada.first_name == "Ada"
    assert dict(ada.attributes) == {"city": "Rome", "age": 36}
    assert list(ada.tags) == ["fair", "imported", "vip"]
    assert list(ada.list_ids) == [list_id]
    assert ada.provenance.source == pb.CONTACT_SOURCE_IMPORT
    assert ada.provenance.detail == reply.import_id
    cloe = await campaign.sql(
        "SELECT first_name, attributes FROM contacts WHERE account_id = %s AND email_key = %s",
        tenant, "cloe@example.org",
    )  # fmt: skip
    assert cloe == [("Cloe", {"city": "Turin", "age": 41})]  # the quoted newline was one cell

    lines = await report(campaign, tenant, reply.import_id)
    assert lines[0] == ["line", "field", "reason"]
    assert [row[:2] for row in lines[1:]] == [["3", "E-mail"], ["4", "age"], ["8", "email"],
                                             ["10", ""]]  # fmt: skip
    assert all("example.org" not in row[2] for row in lines[1:])  # reasons, not the rows

    commands = await consents(tenant, 4)
    keys = {c.person_key for cmd in commands for c in cmd.consents}
    assert keys == {campaign.key(e) for e in await emails(campaign, tenant)}
    first = commands[0]
    assert first.import_id == reply.import_id
    assert first.purpose_id == PURPOSE
    assert not first.double_opt_in
    assert first.collected_by == "Acme Srl, trade fair stand"
    assert first.consent_text == "Yes, send me the Acme newsletter."
    assert first.HasField("given_at")
    assert all(c.email == "" for cmd in commands for c in cmd.consents)  # proof: no address


async def test_running_the_file_again_creates_no_duplicates(campaign, consents) -> None:
    tenant = campaign.tenant()
    data = csv_file([["email", "first_name"], *[[f"p{i}@example.org", f"P{i}"] for i in range(7)]])
    first = await run(campaign, tenant, proof(idempotency_key="file-1"), data)
    again = await run(campaign, tenant, proof(idempotency_key="file-1"), data)
    assert again.import_id == first.import_id
    assert (again.created, again.received) == (7, 7)
    by_id = await run(campaign, tenant, proof(import_id=first.import_id), data)
    assert by_id.created == 7
    skipped = await run(campaign, tenant, proof(), data)
    assert (skipped.created, skipped.skipped, skipped.updated) == (0, 7, 0)
    renamed = csv_file([["email", "first_name"], ["p1@example.org", "New"]])
    updated = await run(campaign, tenant, proof(update_existing=True), renamed)
    assert (updated.created, updated.updated) == (0, 1)
    assert len(await emails(campaign, tenant)) == 7
    names = await campaign.sql(
        "SELECT first_name FROM contacts WHERE account_id = %s AND email_key = 'p1@example.org'",
        tenant,
    )
    assert names == [("New",)]
    # Only the first run's contacts got their consents recorded (skipped ones did not);
    # the update records the proof again for the one contact it touched.
    commands = await consents(tenant, 8)
    assert sum(len(c.consents) for c in commands) == 8


async def test_resuming_after_the_stream_died_mid_import_creates_no_duplicates(campaign) -> None:
    tenant = campaign.tenant()
    data = csv_file([["email"], *[[f"r{i}@example.org"] for i in range(10)]])
    hold = asyncio.Event()
    # Everything but the last rows is sent; then the stream stalls and the call is killed.
    call = campaign.stub.ImportContacts(
        chunks(proof(), data, size=20, hold=hold, hold_after=len(data) - 40),
        metadata=campaign.md(tenant, scopes=WRITE),
        timeout=30,
    )
    task = asyncio.ensure_future(call)
    import_id = ""
    for _ in range(200):
        await asyncio.sleep(0.05)
        rows = await campaign.sql(
            "SELECT id::text, good FROM contact_imports WHERE account_id = %s", tenant
        )
        if rows and rows[0][1] >= 6:
            import_id = rows[0][0]
            break
    assert import_id, "the first chunks were never merged"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        state = await get(campaign, tenant, import_id)
        if state.status == pb.IMPORT_STATUS_INTERRUPTED:
            break
        await asyncio.sleep(0.05)
    assert state.status == pb.IMPORT_STATUS_INTERRUPTED
    merged = len(await emails(campaign, tenant))
    assert 6 <= merged < 10
    assert state.good == merged

    reply = await run(campaign, tenant, proof(import_id=import_id), data)
    assert getattr(reply, "import").status == pb.IMPORT_STATUS_COMPLETED
    assert await emails(campaign, tenant) == sorted(f"r{i}@example.org" for i in range(10))
    assert (reply.created, reply.received, reply.rejected) == (10, 10, 0)
    count = await campaign.scalar("SELECT count(*) FROM contacts WHERE account_id = %s", tenant)
    assert count == 10


async def test_a_cancelled_import_keeps_what_it_merged(campaign) -> None:
    tenant = campaign.tenant()
    data = csv_file([["email"], *[[f"c{i}@example.org"] for i in range(12)]])
    hold = asyncio.Event()
    task = asyncio.ensure_future(
        run(campaign, tenant, proof(), data, size=20, hold=hold, hold_after=len(data) // 2)
    )
    import_id = ""
    for _ in range(200):
        await asyncio.sleep(0.05)
        rows = await campaign.sql(
            "SELECT id::text, good FROM contact_imports WHERE account_id = %s", tenant
        )
        if rows and rows[0][1] >= 3:
            import_id = rows[0][0]
            break
    assert import_id
    running = await get(campaign, tenant, import_id)  # progress, readable while it runs
    assert running.status == pb.IMPORT_STATUS_RUNNING
    assert running.good >= 3
    assert running.rows_read == running.good + running.bad
    assert not running.HasField("finished_at")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.CancelImport(
            pb.CancelImportRequest(import_id=import_id), metadata=campaign.md(tenant, scopes=READ)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    cancelled = await campaign.stub.CancelImport(
        pb.CancelImportRequest(import_id=import_id), metadata=campaign.md(tenant, scopes=WRITE)
    )
    assert getattr(cancelled, "import").status == pb.IMPORT_STATUS_CANCELLED
    hold.set()
    reply = await task
    assert getattr(reply, "import").status == pb.IMPORT_STATUS_CANCELLED
    kept = len(await emails(campaign, tenant))
    assert 3 <= kept < 12
    assert reply.created == kept
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(campaign, tenant, proof(import_id=import_id), data)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_csv_without_an_email_column_is_refused_at_its_header(campaign) -> None:
    tenant = campaign.tenant()
    never = asyncio.Event()  # the rest of the file never comes: the answer cannot wait for it
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(
            campaign, tenant, proof(), b"name,city\nAda,Rome\n" * 50, size=10, hold=never,
            hold_after=20,
        )  # fmt: skip
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["csv_chunk"]
    assert "no email column" in caught.value.details()


async def test_a_double_opt_in_import_asks_everyone_and_records_no_grant(
    campaign, consents
) -> None:
    tenant = campaign.tenant()
    withdrawn = "gone@example.org"
    await campaign.sql(
        "INSERT INTO consent_states (account_id, person_key, purpose_id, status,"
        " aggregate_version, changed_at) VALUES (%s, %s, %s, 'withdrawn', 3, now())",
        tenant, campaign.key(withdrawn), PURPOSE,
    )  # fmt: skip
    data = csv_file([["email", "first_name", "locale"], ["a@example.org", "Ann", "it-it"],
                     [withdrawn, "Gone", ""]])  # fmt: skip
    options = pb.ImportOptions(purpose_id=PURPOSE, require_double_opt_in=True)
    reply = await run(campaign, tenant, options, data)
    assert reply.created == 2
    assert getattr(reply, "import").consent_mode == "double_opt_in"
    commands = await consents(tenant, 1)
    assert len(commands) == 1
    assert commands[0].double_opt_in
    [only] = commands[0].consents  # the person who withdrew is not asked again
    assert (only.email, only.locale, only.display_name) == ("a@example.org", "it-IT", "Ann")


async def test_rows_can_be_sent_as_messages(campaign) -> None:
    tenant = campaign.tenant()

    async def requests() -> AsyncIterator[pb.ImportContactsRequest]:
        yield pb.ImportContactsRequest(options=proof())
        yield pb.ImportContactsRequest(
            rows=[
                pb.ContactImportRow(
                    row_number=1,
                    email="m1@example.org",
                    first_name="M",
                    attributes={"city": "Rome"},
                    tags=["t"],
                ),
                pb.ContactImportRow(row_number=2, email="bad"),
            ]
        )

    reply = await campaign.stub.ImportContacts(
        requests(), metadata=campaign.md(tenant, scopes=WRITE), timeout=30
    )
    assert (reply.created, reply.rejected) == (1, 1)
    assert [(e.row_number, e.field) for e in reply.errors] == [(2, "email")]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (pb.ImportOptions(purpose_id=PURPOSE), "options.consent_proof"),
        (proof(require_double_opt_in=True), "options.consent_proof"),
        (pb.ImportOptions(require_double_opt_in=True), "options.purpose_id"),
        (proof(column_mapping={"email": "password"}), "options.column_mapping['email']"),
        (proof(attribute_types={"age": "float"}), "options.attribute_types['age']"),
        (proof(list_id="nope"), "options.list_id"),
        (proof(tags=[""]), "options.tags[0]"),
    ],
)
async def test_bad_options_are_named(campaign, options, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(campaign, campaign.tenant(), options, b"email\na@example.org\n")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == [field]


async def test_bad_proof_fields_are_named(campaign) -> None:
    tenant = campaign.tenant()
    for mutate, field in [
        (lambda o: setattr(o.consent_proof, "collected_by", ""), "collected_by"),
        (lambda o: setattr(o.consent_proof, "consent_text", " "), "consent_text"),
        (lambda o: o.consent_proof.ClearField("given_at"), "given_at"),
        (lambda o: o.consent_proof.given_at.FromDatetime(datetime.now(UTC) + timedelta(days=2)),
         "given_at"),
    ]:  # fmt: skip
        options = proof()
        mutate(options)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await run(campaign, tenant, options, b"email\na@example.org\n")
        assert violated_fields(caught.value) == [f"options.consent_proof.{field}"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await campaign.stub.ImportContacts(
            chunks(pb.ImportOptions(), b""), metadata=campaign.md(tenant, scopes=WRITE)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await emails(campaign, tenant) == []


async def test_other_accounts_imports_and_lists_are_not_found(campaign) -> None:
    mine, theirs = campaign.tenant(), campaign.tenant()
    listed = await campaign.stub.CreateList(
        pb.CreateListRequest(list=pb.ContactList(name="Mine", purpose_id=PURPOSE)),
        metadata=campaign.md(mine, scopes=["lists:write"]),
    )
    reply = await run(campaign, mine, proof(), b"email\na@example.org\n")
    calls = [
        run(campaign, theirs, proof(list_id=listed.list.list_id), b"email\nb@example.org\n"),
        run(campaign, theirs, proof(import_id=reply.import_id), b"email\nb@example.org\n"),
        get(campaign, theirs, reply.import_id),
        report(campaign, theirs, reply.import_id),
        campaign.stub.CancelImport(
            pb.CancelImportRequest(import_id=reply.import_id),
            metadata=campaign.md(theirs, scopes=WRITE),
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await emails(campaign, theirs) == []


async def test_least_scopes_work_and_one_less_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    reply = await run(campaign, tenant, proof(), b"email\na@example.org\n", scopes=WRITE)
    assert (await get(campaign, tenant, reply.import_id)).good == 1
    assert (await report(campaign, tenant, reply.import_id)) == [["line", "field", "reason"]]
    for call in (
        run(campaign, tenant, proof(), b"email\nb@example.org\n", scopes=READ),
        campaign.stub.GetImport(
            pb.GetImportRequest(import_id=reply.import_id),
            metadata=campaign.md(tenant, scopes=["lists:read"]),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_import_and_its_report_are_purged_after_90_days_its_contacts_stay(
    campaign,
) -> None:
    tenant = campaign.tenant()
    reply = await run(campaign, tenant, proof(), b"email\na@example.org\nnope\n")
    assert reply.rejected == 1
    await run_retention(campaign.url, RULES, now=travel(days=89))
    assert await campaign.scalar(
        "SELECT count(*) FROM import_errors WHERE import_id = %s", reply.import_id
    )
    await run_retention(campaign.url, RULES, now=travel(days=91))
    for table, column in (("contact_imports", "id"), ("import_errors", "import_id")):
        assert not await campaign.scalar(
            f"SELECT count(*) FROM {table} WHERE {column} = %s", reply.import_id
        )
    assert await emails(campaign, tenant) == ["a@example.org"]
