"""Sender domains end to end: registered with their keys, published to the loopback DNS
server with the operator command, verified over real DNS, signing mail that dkimpy verifies
by its own DNS lookups, re-checked, rotated, retired, and refused to other accounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import dkim
import grpc
import psycopg
import pytest

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery.dkim import DkimSigner
from missiva_delivery.dns_publish import publish_dns_command
from missiva_delivery.domain_jobs import recheck_command
from missiva_delivery.retention import rules
from missiva_delivery.servicer import ACCESS_RULES
from missiva_delivery.store import domains as store
from missiva_platform.auth import CallerKind
from missiva_platform.crypto import DecryptionError
from missiva_platform.dns_server import read_zone
from missiva_platform.events import unpack
from missiva_platform.retention import run_retention
from missiva_platform.secrets import load_field_cipher
from missiva_platform.testing.access import role_denials, scope_denials

pytestmark = pytest.mark.asyncio(loop_scope="module")
SERVICE = "missiva.delivery.v1.DeliveryService"
DKIM = pb.DNS_RECORD_PURPOSE_DKIM


def _domain() -> str:
    return f"news-{uuid.uuid4().hex[:8]}.example.com"


def _key(delivery: Any, tenant: str, *scopes: str) -> Any:
    return delivery.md(tenant, kind=CallerKind.API_KEY, subject="key-1", scopes=scopes)


async def _create(delivery: Any, tenant: str, name: str, **kw: Any) -> pb.SenderDomain:
    reply = await delivery.stub.CreateSenderDomain(
        pb.CreateSenderDomainRequest(domain=name, **kw), metadata=delivery.admin(tenant)
    )
    return reply.sender_domain


async def _verify(delivery: Any, tenant: str, domain_id: str) -> pb.SenderDomain:
    reply = await delivery.stub.VerifySenderDomain(
        pb.VerifySenderDomainRequest(sender_domain_id=domain_id), metadata=delivery.admin(tenant)
    )
    return reply.sender_domain


async def _publish(delivery: Any, name: str) -> None:
    assert await publish_dns_command(delivery.app, [name]) == 0


def _cipher(delivery: Any) -> Any:
    return load_field_cipher(delivery.app.settings.field_keys_file)


def _message(name: str) -> bytes:
    return (
        f"From: News <news@{name}>\r\nTo: ada@example.org\r\nSubject: Offers\r\n"
        f"Date: Mon, 07 Dec 2026 11:00:00 +0000\r\nMessage-ID: <1@{name}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCiao Ada\r\n"
    ).encode()


async def _sign(delivery: Any, tenant: str, name: str) -> tuple[list[str], bytes]:
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        keys = await store.signing_keys(conn, tenant, name, cipher=_cipher(delivery))
    if not keys:
        return [], b""
    message = _message(name)
    return [k.selector for k in keys], DkimSigner(keys).sign(message) + message


async def test_a_domain_is_registered_published_verified_and_signs_mail(
    delivery: Any, dns_server: Any, loopback_resolver: Any
) -> None:
    tenant, name = delivery.tenant(), _domain()
    created = await _create(delivery, tenant, name)
    assert created.domain == name
    assert created.status == pb.SENDER_DOMAIN_STATUS_PENDING
    assert created.dkim_selector == "mv1-rsa"
    records = {(r.purpose, r.type, r.name) for r in created.dns_records}
    assert records == {
        (DKIM, "TXT", f"mv1-rsa._domainkey.{name}"),
        (DKIM, "TXT", f"mv1-ed25519._domainkey.{name}"),
        (pb.DNS_RECORD_PURPOSE_RETURN_PATH, "MX", f"bounces.{name}"),
        (pb.DNS_RECORD_PURPOSE_SPF, "TXT", f"bounces.{name}"),
        (pb.DNS_RECORD_PURPOSE_DMARC, "TXT", f"_dmarc.{name}"),
    }
    values = {r.name: r.value for r in created.dns_records}
    assert values[f"mv1-rsa._domainkey.{name}"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    assert values[f"mv1-ed25519._domainkey.{name}"].startswith("v=DKIM1; k=ed25519; p=")
    assert not any(r.verified for r in created.dns_records)

    # Private keys are stored encrypted, bound to tenant, domain and selector.
    sealed = await delivery.sql(
        "SELECT selector, private_key_enc FROM dkim_keys WHERE tenant_id = %s", tenant
    )
    assert len(sealed) == 2
    assert all(b"PRIVATE KEY" not in bytes(blob) for _, blob in sealed)
    cipher = _cipher(delivery)
    selector, blob = sealed[0]
    assert b"PRIVATE KEY" in cipher.decrypt(bytes(blob), store.key_aad(tenant, name, selector))
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), store.key_aad("another", name, selector))

    # Nothing published yet: still pending, nothing to sign with.
    checked = await _verify(delivery, tenant, created.sender_domain_id)
    assert checked.status == pb.SENDER_DOMAIN_STATUS_PENDING
    assert checked.HasField("last_checked_at")
    assert (await _sign(delivery, tenant, name))[0] == []

    await _publish(delivery, name)
    verified = await _verify(delivery, tenant, created.sender_domain_id)
    assert verified.status == pb.SENDER_DOMAIN_STATUS_VERIFIED
    assert all(r.verified for r in verified.dns_records), verified.dns_records
    assert verified.HasField("verified_at")
    (event,) = await delivery.events("delivery.sender_domain.verified", created.sender_domain_id)
    body = unpack(event, events_pb2.SenderDomainVerified)
    assert (body.domain, sorted(body.dkim_selectors)) == (name, ["mv1-ed25519", "mv1-rsa"])
    assert event.tenant_id == tenant

    selectors, signed = await _sign(delivery, tenant, name)
    assert selectors == ["mv1-rsa", "mv1-ed25519"]
    checker = dkim.DKIM(signed)
    # dkimpy looks the keys up itself, over the loopback DNS server.
    assert [checker.verify(idx=0), checker.verify(idx=1)] == [True, True]
    # Another account cannot sign with this account's domain.
    assert (await _sign(delivery, delivery.tenant(), name))[0] == []


async def test_a_recheck_that_fails_unverifies_and_says_which_record(
    delivery: Any, dns_server: Any
) -> None:
    tenant, name = delivery.tenant(), _domain()
    created = await _create(delivery, tenant, name)
    await _publish(delivery, name)
    assert (await _verify(delivery, tenant, created.sender_domain_id)).status == (
        pb.SENDER_DOMAIN_STATUS_VERIFIED
    )
    kept = [r for r in read_zone(dns_server.zone_file)
            if r.owner == name and not r.name.startswith("_dmarc.")]  # fmt: skip
    dns_server.publish(name, kept)
    failed = await _verify(delivery, tenant, created.sender_domain_id)
    assert failed.status == pb.SENDER_DOMAIN_STATUS_FAILED
    (dmarc,) = [r for r in failed.dns_records if r.purpose == pb.DNS_RECORD_PURPOSE_DMARC]
    assert not dmarc.verified
    (event,) = await delivery.events("delivery.sender_domain.unverified", created.sender_domain_id)
    body = unpack(event, events_pb2.SenderDomainUnverified)
    assert list(body.failed_records) == [f"TXT _dmarc.{name}"]
    assert (await _sign(delivery, tenant, name))[0] == []
    # Published again: verified again, and said so once more.
    await _publish(delivery, name)
    again = await _verify(delivery, tenant, created.sender_domain_id)
    assert again.status == pb.SENDER_DOMAIN_STATUS_VERIFIED
    events = await delivery.events(
        "delivery.sender_domain.verified", created.sender_domain_id, want=2
    )
    assert len(events) == 2
    assert events[1].aggregate_version > events[0].aggregate_version


async def test_a_wrong_record_shows_what_was_found(delivery: Any, dns_server: Any) -> None:
    tenant, name = delivery.tenant(), _domain()
    created = await _create(delivery, tenant, name)
    await _publish(delivery, name)
    records = read_zone(dns_server.zone_file)
    spf_name = f"bounces.{name}"
    changed = [
        r if not (r.name == spf_name and r.type == "TXT")
        else type(r)(r.name, r.type, "v=spf1 -all", r.ttl, r.owner)
        for r in records if r.owner == name
    ]  # fmt: skip
    dns_server.publish(name, changed)
    checked = await _verify(delivery, tenant, created.sender_domain_id)
    assert checked.status == pb.SENDER_DOMAIN_STATUS_PENDING
    (spf,) = [r for r in checked.dns_records if r.purpose == pb.DNS_RECORD_PURPOSE_SPF]
    assert (spf.verified, spf.found_value) == (False, "v=spf1 -all")


async def test_rotation_signs_with_the_new_keys_once_published_and_retires_the_old(
    delivery: Any, dns_server: Any, loopback_resolver: Any
) -> None:
    tenant, name = delivery.tenant(), _domain()
    created = await _create(delivery, tenant, name)
    await _publish(delivery, name)
    await _verify(delivery, tenant, created.sender_domain_id)
    rotate = pb.RotateDkimKeyRequest(
        sender_domain_id=created.sender_domain_id, idempotency_key=str(uuid.uuid4())
    )
    rotated = await delivery.stub.RotateDkimKey(rotate, metadata=delivery.admin(tenant))
    assert rotated.new_selector == "mv2-rsa"
    assert rotated.old_key_retire_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(days=6)
    again = await delivery.stub.RotateDkimKey(rotate, metadata=delivery.admin(tenant))
    assert again.new_selector == "mv2-rsa"  # the same key: rotated once
    names = {r.name for r in rotated.sender_domain.dns_records if r.purpose == DKIM}
    assert f"mv2-rsa._domainkey.{name}" in names
    assert f"mv1-rsa._domainkey.{name}" in names
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await delivery.stub.RotateDkimKey(
            pb.RotateDkimKeyRequest(sender_domain_id=created.sender_domain_id),
            metadata=delivery.admin(tenant),
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    # Until the new records are published, mail is still signed with the old keys, and
    # the domain stays verified.
    still = await _verify(delivery, tenant, created.sender_domain_id)
    assert still.status == pb.SENDER_DOMAIN_STATUS_VERIFIED
    assert (await _sign(delivery, tenant, name))[0] == ["mv1-rsa", "mv1-ed25519"]

    await _publish(delivery, name)
    moved = await _verify(delivery, tenant, created.sender_domain_id)
    assert moved.dkim_selector == "mv2-rsa"
    assert moved.HasField("dkim_rotated_at")
    selectors, signed = await _sign(delivery, tenant, name)
    assert selectors == ["mv2-rsa", "mv2-ed25519"]
    checker = dkim.DKIM(signed)
    assert [checker.verify(idx=0), checker.verify(idx=1)] == [True, True]
    # The old keys are still listed and published (mail they signed is in flight) ...
    listed = {r.name for r in moved.dns_records if r.purpose == DKIM}
    assert f"mv1-rsa._domainkey.{name}" in listed
    assert any(r.name.startswith("mv1-rsa.") for r in read_zone(dns_server.zone_file))
    # ... until DKIM_RETIRE_AFTER_DAYS later, when retention deletes them.
    soon = datetime.now(UTC) + timedelta(days=6)
    await run_retention(delivery.url, rules(delivery.app.settings), now=soon)
    assert await delivery.scalar("SELECT count(*) FROM dkim_keys WHERE tenant_id = %s", tenant) == 4
    later = datetime.now(UTC) + timedelta(days=7, hours=1)
    await run_retention(delivery.url, rules(delivery.app.settings), now=later)
    left = await delivery.sql(
        "SELECT selector FROM dkim_keys WHERE tenant_id = %s ORDER BY selector", tenant
    )
    assert [s for (s,) in left] == ["mv2-ed25519", "mv2-rsa"]
    await _publish(delivery, name)
    assert not any(r.name.startswith("mv1-") for r in read_zone(dns_server.zone_file))
    assert (await _verify(delivery, tenant, created.sender_domain_id)).status == (
        pb.SENDER_DOMAIN_STATUS_VERIFIED
    )


async def test_listing_pages_through_the_accounts_domains_only(delivery: Any) -> None:
    tenant = delivery.tenant()
    names = [_domain() for _ in range(3)]
    for name in names:
        await _create(delivery, tenant, name)
    await _create(delivery, delivery.tenant(), _domain())
    reader = _key(delivery, tenant, "domains:read")
    first = await delivery.stub.ListSenderDomains(
        pb.ListSenderDomainsRequest(page_size=2), metadata=reader
    )
    assert first.next_page_token
    second = await delivery.stub.ListSenderDomains(
        pb.ListSenderDomainsRequest(page_size=2, page_token=first.next_page_token),
        metadata=reader,
    )
    assert not second.next_page_token
    seen = [d.domain for d in [*first.sender_domains, *second.sender_domains]]
    assert seen == names
    # Another account's caller cannot page with this account's token.
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await delivery.stub.ListSenderDomains(
            pb.ListSenderDomainsRequest(page_token=first.next_page_token),
            metadata=_key(delivery, delivery.tenant(), "domains:read"),
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in bad.value.details()


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("", "is required"),
        ("bücher.example", "ASCII"),
        ("a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com", "longer"),
        ("localhost", "not a domain name"),
        ("-bad-.example.com", "not a domain name"),
        ("under_score.example.com", "not a domain name"),
        ("x" * 64 + ".example.com", "not a domain name"),
        ("192.168.0.1", "address"),
        ("news.example.com\r\nBcc: x", "not a domain name"),
    ],
)
async def test_bad_domains_are_refused_naming_the_field(
    delivery: Any, domain: str, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _create(delivery, delivery.tenant(), domain)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("domain: ")
    assert why in refused.value.details()


async def test_an_idn_is_refused_with_its_ascii_form(delivery: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _create(delivery, delivery.tenant(), "bücher.example")
    assert "xn--bcher-kva.example" in refused.value.details()


async def test_bad_ids_duplicates_and_retries(delivery: Any) -> None:
    tenant, name = delivery.tenant(), _domain()
    key = str(uuid.uuid4())
    first = await _create(delivery, tenant, name, idempotency_key=key)
    retry = await _create(delivery, tenant, name, idempotency_key=key)
    assert retry.sender_domain_id == first.sender_domain_id
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await _create(delivery, tenant, name)
    assert twice.value.code() is grpc.StatusCode.ALREADY_EXISTS
    for call, request in (
        (delivery.stub.VerifySenderDomain, pb.VerifySenderDomainRequest),
        (delivery.stub.RotateDkimKey, pb.RotateDkimKeyRequest),
    ):
        for bad in ("", "not-an-id"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(request(sender_domain_id=bad), metadata=delivery.admin(tenant))
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details().startswith("sender_domain_id: ")
    # The same domain may be registered by another account (each proves it over DNS).
    assert (await _create(delivery, delivery.tenant(), name)).domain == name
    with pytest.raises(grpc.aio.AioRpcError) as negative:
        await delivery.stub.ListSenderDomains(
            pb.ListSenderDomainsRequest(page_size=-1), metadata=delivery.admin(tenant)
        )
    assert negative.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_least_scope_works_and_other_accounts_get_not_found(delivery: Any) -> None:
    tenant, name = delivery.tenant(), _domain()
    writer = _key(delivery, tenant, "domains:write")
    created = (
        await delivery.stub.CreateSenderDomain(
            pb.CreateSenderDomainRequest(domain=name), metadata=writer
        )
    ).sender_domain
    verify = pb.VerifySenderDomainRequest(sender_domain_id=created.sender_domain_id)
    assert (await delivery.stub.VerifySenderDomain(verify, metadata=writer)).sender_domain
    rotate = pb.RotateDkimKeyRequest(sender_domain_id=created.sender_domain_id)
    assert (await delivery.stub.RotateDkimKey(rotate, metadata=writer)).new_selector
    # A member may list but not change.
    member = delivery.md(tenant, kind=CallerKind.USER, subject="u2", roles=("member",),
                         scopes=("*",))  # fmt: skip
    listed = await delivery.stub.ListSenderDomains(pb.ListSenderDomainsRequest(), metadata=member)
    assert [d.domain for d in listed.sender_domains] == [name]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await delivery.stub.VerifySenderDomain(verify, metadata=member)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # Another account's admin: the id does not exist for it.
    stranger = delivery.admin(delivery.tenant())
    for call, request in ((delivery.stub.VerifySenderDomain, verify),
                          (delivery.stub.RotateDkimKey, rotate)):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await call(request, metadata=stranger)
        assert hidden.value.code() is grpc.StatusCode.NOT_FOUND
    # Services never manage an account's domains.
    with pytest.raises(grpc.aio.AioRpcError) as service:
        await delivery.stub.ListSenderDomains(
            pb.ListSenderDomainsRequest(),
            metadata=delivery.md(tenant, subject="campaign", scopes=("domains:read",)),
        )
    assert service.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_every_rule_denies_one_scope_less_and_the_wrong_role(delivery: Any) -> None:
    def token_for(**kw: Any) -> str:
        return delivery.issuer.token(tenant_id="acct-rules", audience="delivery", **kw)

    assert await scope_denials(delivery.channel, SERVICE, ACCESS_RULES, token_for) == []
    assert await role_denials(delivery.channel, SERVICE, ACCESS_RULES, token_for) == []


async def test_publish_dns_refuses_what_it_cannot_publish(
    delivery: Any, tmp_path: Any, capsys: Any
) -> None:
    zone = str(tmp_path / "zone.json")
    assert await publish_dns_command(delivery.app, [_domain(), "--zone-file", zone]) == 1
    assert "is not a sender domain" in capsys.readouterr().out
    assert await publish_dns_command(delivery.app, ["bad_name", "--zone-file", zone]) == 2
    assert "domain:" in capsys.readouterr().out
    name = _domain()
    await _create(delivery, delivery.tenant(), name)
    await _create(delivery, delivery.tenant(), name)
    assert await publish_dns_command(delivery.app, [name, "--zone-file", zone]) == 1
    assert "--tenant" in capsys.readouterr().out
    assert not (tmp_path / "zone.json").exists()  # nothing written by a refused run


async def test_the_recheck_job_unverifies_a_domain_whose_records_went_away(
    delivery: Any, dns_server: Any
) -> None:
    tenant, name = delivery.tenant(), _domain()
    created = await _create(delivery, tenant, name)
    await _publish(delivery, name)
    assert (await _verify(delivery, tenant, created.sender_domain_id)).status == (
        pb.SENDER_DOMAIN_STATUS_VERIFIED
    )
    assert await recheck_command(delivery.app, ["--older-than-hours", "1"]) == 0
    # Checked moments ago: not due, unchanged.
    assert (
        await delivery.scalar(
            "SELECT status FROM sender_domains WHERE id = %s", created.sender_domain_id
        )
        == "verified"
    )
    dns_server.publish(name, [])
    assert await recheck_command(delivery.app, ["--older-than-hours", "0"]) == 0
    assert (
        await delivery.scalar(
            "SELECT status FROM sender_domains WHERE id = %s", created.sender_domain_id
        )
        == "failed"
    )
    (event,) = await delivery.events("delivery.sender_domain.unverified", created.sender_domain_id)
    assert len(unpack(event, events_pb2.SenderDomainUnverified).failed_records) == 5
