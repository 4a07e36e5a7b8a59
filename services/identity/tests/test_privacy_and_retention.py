"""Privacy contract (export, erase) and every retention rule, by travelling in time."""

import json

import grpc
from identity_testkit import events_of, rpc_error

from missiva.common.v1 import types_pb2
from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva.privacy.v1 import privacy_service_pb2_grpc
from missiva_platform import secrets
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention, travel


async def consent_token(identity) -> tuple[tuple[str, str], ...]:
    own = secrets.load_service_credentials(identity.settings.service_credentials_file)["consent"]
    reply = await identity.stub.IssueServiceToken(
        pb.IssueServiceTokenRequest(
            client_id=own.client_id, client_secret=own.client_secret, audience="identity"
        )
    )
    return (("authorization", f"Bearer {reply.access_token}"),)


async def person_key(identity, user_id: str) -> str:
    [(key,)] = await identity.sql("SELECT person_key FROM users WHERE id = %s", user_id)
    return key


async def test_export_holds_the_profile_acceptances_sessions_and_log_but_no_secrets(identity):
    user = await identity.user()
    await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", scopes=["*"]), metadata=user.md
    )
    stub = privacy_service_pb2_grpc.PrivacyServiceStub(identity.channel)
    reply = await stub.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id="dsar-1",
            person=types_pb2.PersonRef(person_key=await person_key(identity, user.user_id)),
            all_accounts=True,
        ),
        metadata=await consent_token(identity),
    )
    sections = {s.name: json.loads(s.content) for s in reply.sections}
    assert sections["profile"][0]["email"] == user.email
    assert {a["document_id"] for a in sections["legal_acceptances"]} == {"terms", "privacy"}
    assert sections["sessions"]
    assert sections["security_log"]
    assert sections["api_keys"]
    text = b"".join(s.content for s in reply.sections)
    for secret_word in (b"password_hash", b"$argon2", b"secret_hash", b"totp"):
        assert secret_word not in text
    err = await rpc_error(
        stub.ExportPersonData(
            ppb.ExportPersonDataRequest(
                request_id="x", person=types_pb2.PersonRef(person_key="pk")
            ),
            metadata=user.md,
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_erasing_the_only_member_erases_the_account_and_says_so(identity):
    user = await identity.user()
    stub = privacy_service_pb2_grpc.PrivacyServiceStub(identity.channel)
    reply = await stub.ErasePersonData(
        ppb.ErasePersonDataRequest(
            request_id="dsar-2",
            person=types_pb2.PersonRef(person_key=await person_key(identity, user.user_id)),
            all_accounts=True,
        ),
        metadata=await consent_token(identity),
    )
    assert {e.category: e.count for e in reply.erased} == {"accounts": 1, "users": 1}
    assert [r.category for r in reply.retained] == ["security_audit_log"]
    assert await identity.sql("SELECT * FROM users") == []
    erased = [
        unpack(e, events_pb2.AccountErased)
        for e in await events_of(identity.js, "identity.account.erased")
        if e.tenant_id == user.account_id
    ]
    assert list(erased[0].user_ids) == [user.user_id]
    err = await rpc_error(identity.login(user.email))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def count(identity, table: str, where: str = "true") -> int:
    [(found,)] = await identity.sql(f"SELECT count(*) FROM {table} WHERE {where}")
    return found


async def test_short_lived_rows_go_on_time(identity):
    user = await identity.user()
    await rpc_error(identity.login(user.email, "wrong password!"))
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", scopes=["*"], idempotency_key="i"), metadata=user.md
    )
    await identity.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=key.api_key.api_key_id), metadata=user.md
    )
    await identity.sql("UPDATE recovery_codes SET used_at = now()")  # none yet: harmless
    rules = identity.app.retention_rules
    await run_retention(identity.url, rules, now=travel(hours=1))
    assert await count(identity, "login_attempts") > 0
    assert await count(identity, "api_keys", "replay_secret IS NOT NULL") == 1
    await run_retention(identity.url, rules, now=travel(hours=25))
    assert await count(identity, "login_attempts") == 0
    assert await count(identity, "api_keys", "replay_secret IS NOT NULL") == 0
    assert await count(identity, "api_keys") == 1
    await run_retention(identity.url, rules, now=travel(days=8))
    assert await count(identity, "email_tokens") == 0
    await run_retention(identity.url, rules, now=travel(days=31))
    assert await count(identity, "sessions") == 0  # a day's session, ended a month ago
    assert await count(identity, "refresh_tokens") == 0
    await run_retention(identity.url, rules, now=travel(days=91))
    assert await count(identity, "api_keys") == 0
    assert await count(identity, "audit_events") > 0
    await run_retention(identity.url, rules, now=travel(days=366))
    assert await count(identity, "audit_events") == 0
    assert await count(identity, "users") == 1  # the user signed in within the year


async def test_audit_retention_follows_its_setting(make_identity):
    async with make_identity(audit_retention_days=30) as identity:
        await identity.user()
        await run_retention(identity.url, identity.app.retention_rules, now=travel(days=29))
        assert await count(identity, "audit_events") > 0
        await run_retention(identity.url, identity.app.retention_rules, now=travel(days=31))
        assert await count(identity, "audit_events") == 0


async def test_an_inactive_account_is_noticed_after_a_year_and_erased_a_month_later(identity):
    idle = await identity.user()
    active = await identity.user()
    rules = identity.app.retention_rules
    await run_retention(identity.url, rules, now=travel(days=364))
    assert await count(identity, "accounts", "inactivity_notice_at IS NOT NULL") == 0
    await identity.sql(
        "UPDATE users SET last_login_at = now() + interval '300 days' WHERE id = %s", active.user_id
    )
    await run_retention(identity.url, rules, now=travel(days=366))
    assert await count(identity, "accounts", "inactivity_notice_at IS NOT NULL") == 1
    await identity.mailbox.wait_for(idle.email, "inactivity_notice")
    await run_retention(identity.url, rules, now=travel(days=366 + 29))
    assert await count(identity, "accounts") == 2
    await run_retention(identity.url, rules, now=travel(days=366 + 31))
    [(left,)] = await identity.sql("SELECT id::text FROM accounts")
    assert left == active.account_id
    assert await count(identity, "legal_acceptances") == 2  # the erased user's went with them
    erased = [
        e
        for e in await events_of(identity.js, "identity.account.erased")
        if e.tenant_id == idle.account_id
    ]
    assert len(erased) == 1


async def test_signing_in_answers_an_inactivity_notice(identity):
    user = await identity.user()
    await run_retention(identity.url, identity.app.retention_rules, now=travel(days=366))
    assert await count(identity, "accounts", "inactivity_notice_at IS NOT NULL") == 1
    await identity.login(user.email)
    assert await count(identity, "accounts", "inactivity_notice_at IS NOT NULL") == 0


async def test_the_asynchronous_privacy_commands_reply_to_consent_in_the_same_transaction(identity):
    import psycopg

    from missiva.privacy.v1 import events_pb2 as privacy_events
    from missiva_identity.events import ERASE_PERSON_DATA, EXPORT_PERSON_DATA, handlers
    from missiva_platform.events import EventEnvelope, envelope

    user = await identity.user()
    ref = types_pb2.PersonRef(person_key=await person_key(identity, user.user_id))
    run = handlers(identity.settings)
    async with await psycopg.AsyncConnection.connect(identity.url) as conn:
        export = privacy_events.ExportPersonDataCommand(
            request_id="r-1", person=ref, service="identity", all_accounts=True
        )
        await run[EXPORT_PERSON_DATA](
            conn,
            envelope(export, subject=EXPORT_PERSON_DATA, tenant_id="", producer="consent"),
            None,
        )
        erase = privacy_events.ErasePersonDataCommand(
            request_id="r-2", person=ref, service="identity", all_accounts=True
        )
        await run[ERASE_PERSON_DATA](
            conn, envelope(erase, subject=ERASE_PERSON_DATA, tenant_id="", producer="consent"), None
        )
        cur = await conn.execute(
            "SELECT subject, payload FROM kit_outbox"
            " WHERE subject LIKE 'cmd.consent.%%' ORDER BY id"
        )
        replies = {
            subject: EventEnvelope.FromString(bytes(p)) for subject, p in await cur.fetchall()
        }
        cur = await conn.execute("SELECT count(*) FROM users")
        assert (await cur.fetchone())[0] == 0
        await conn.rollback()
    exported = unpack(replies["cmd.consent.record_export_reply"], privacy_events.PersonDataExported)
    assert exported.request_id == "r-1"
    assert exported.service == "identity"
    assert user.email.encode() in b"".join(s.content for s in exported.sections)
    erased = unpack(replies["cmd.consent.record_erasure_reply"], privacy_events.PersonDataErased)
    assert {e.category for e in erased.erased} == {"users", "accounts"}
    assert erased.retained[0].retained_until.seconds


async def test_a_request_about_an_accounts_contact_never_touches_its_members(identity):
    """An account's admin erases a contact whose address is also a member's: the member (and
    the account) stay; the contact's data is the account's, the user record is ours."""
    import psycopg

    from missiva.privacy.v1 import events_pb2 as privacy_events
    from missiva_identity.events import ERASE_PERSON_DATA, EXPORT_PERSON_DATA, handlers
    from missiva_platform.events import EventEnvelope, envelope

    user = await identity.user()
    ref = types_pb2.PersonRef(person_key=await person_key(identity, user.user_id))
    run = handlers(identity.settings)
    async with await psycopg.AsyncConnection.connect(identity.url) as conn:
        for subject, message in (
            (EXPORT_PERSON_DATA, privacy_events.ExportPersonDataCommand),
            (ERASE_PERSON_DATA, privacy_events.ErasePersonDataCommand),
        ):
            command = message(request_id=f"contact-{subject}", person=ref, service="identity")
            await run[subject](
                conn,
                envelope(command, subject=subject, tenant_id=user.account_id, producer="consent"),
                None,
            )
        cur = await conn.execute("SELECT count(*) FROM users WHERE id = %s", (user.user_id,))
        assert (await cur.fetchone())[0] == 1
        cur = await conn.execute(
            "SELECT subject, payload FROM kit_outbox WHERE subject LIKE 'cmd.consent.%%'"
        )
        replies = {s: EventEnvelope.FromString(bytes(p)) for s, p in await cur.fetchall()}
        await conn.rollback()
    exported = unpack(replies["cmd.consent.record_export_reply"], privacy_events.PersonDataExported)
    assert list(exported.sections) == []
    erased = unpack(replies["cmd.consent.record_erasure_reply"], privacy_events.PersonDataErased)
    assert list(erased.erased) == []
