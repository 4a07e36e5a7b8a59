"""Campaign mail is DKIM-signed with RSA and Ed25519 keys of its sender domain, and dkimpy
(an independent implementation) verifies both signatures on the bytes the SMTP sink got.

The platform's keys (DKIM_KEYS_FILE): dkimpy is handed their records through its ``dnsfunc``
hook. An account's verified sender domain: dkimpy looks its records up itself, over the
loopback DNS server they were published to.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from pathlib import Path

import dkim
import pytest

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva_delivery.dkim import ED25519_SHA256, RSA_SHA256, generate_key
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOMAIN = "bottegarossi.example"  # the conftest batches' From domain
KEYS = [generate_key(DOMAIN, "rsa1", RSA_SHA256), generate_key(DOMAIN, "ed1", ED25519_SHA256)]
_FOLDER = Path(tempfile.mkdtemp(prefix="delivery-dkim-"))
(_FOLDER / "dkim.json").write_text(
    json.dumps(
        [
            {"domain": k.domain, "selector": k.selector, "algorithm": k.algorithm,
             "private_key_pem": k.private_key_pem.decode()}
            for k, _ in KEYS
        ]
    )
)  # fmt: skip
SETTINGS = {"dkim_keys_file": str(_FOLDER / "dkim.json")}


def _dns(name: bytes, timeout: int = 5) -> bytes | None:
    records = {f"{k.selector}._domainkey.{k.domain}.".encode(): txt for k, txt in KEYS}
    txt = records.get(name)
    return txt.encode() if txt else None


async def test_both_signatures_verify_and_cover_the_unsubscribe_headers(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(3)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=3)
    assert {r[3] for r in rows} == {"sent"}
    for address in addresses:
        [received] = delivery.sink.for_address(address)
        data = received.data
        signatures = re.findall(rb"(?ims)^DKIM-Signature:.*?(?=^\S)", data)
        assert len(signatures) == 2
        assert b"a=rsa-sha256" in signatures[0]
        assert b"a=ed25519-sha256" in signatures[1]
        for signature in signatures:
            tags = b"".join(signature.split())
            assert b"c=relaxed/relaxed" in tags
            for name in (b"from", b"to", b"subject", b"date", b"message-id",
                         b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version",
                         b"content-type"):  # fmt: skip
                assert name in tags.split(b"h=", 1)[1].split(b";", 1)[0].split(b":")
        checker = dkim.DKIM(data)
        assert checker.verify(idx=0, dnsfunc=_dns)
        assert checker.verify(idx=1, dnsfunc=_dns)
        # A changed unsubscribe header breaks them.
        tampered = data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                b"List-Unsubscribe-Post: nothing")  # fmt: skip
        assert not dkim.DKIM(tampered).verify(idx=0, dnsfunc=_dns)
    # One signer for the domain, built once and reused for every message.
    assert delivery.app_core.signing.built == 1


async def test_a_verified_sender_domain_signs_its_campaign_mail_checked_over_real_dns(
    delivery, dns_server, loopback_resolver
) -> None:
    """The account's own keys (sender domains): registered, published to the loopback DNS
    server, verified; dkimpy then looks both selectors up itself over that DNS."""
    from missiva.delivery.v1 import delivery_service_pb2 as pb
    from missiva_delivery.dns_publish import publish_dns_command

    tenant, name = delivery.tenant(), f"news-{uuid.uuid4().hex[:8]}.example.com"
    created = await delivery.stub.CreateSenderDomain(
        pb.CreateSenderDomainRequest(domain=name), metadata=delivery.admin(tenant)
    )
    assert await publish_dns_command(delivery.app, [name]) == 0
    verified = await delivery.stub.VerifySenderDomain(
        pb.VerifySenderDomainRequest(sender_domain_id=created.sender_domain.sender_domain_id),
        metadata=delivery.admin(tenant),
    )
    assert verified.sender_domain.status == pb.SENDER_DOMAIN_STATUS_VERIFIED
    address = delivery.address()
    event, campaign_id = delivery.batch(tenant, [address])
    command = unpack(event, campaign_events.SendBatch)
    command.sender.from_address = f"news@{name}"
    event.payload.Pack(command)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    [row] = await delivery.campaign_rows(tenant, campaign_id, want=1)
    assert row[3] == "sent"
    [received] = delivery.sink.for_address(address)
    selectors = re.findall(rb"s=([\w-]+);", received.data)
    assert selectors == [b"mv1-rsa", b"mv1-ed25519"]
    checker = dkim.DKIM(received.data)
    assert [checker.verify(idx=0), checker.verify(idx=1)] == [True, True]
