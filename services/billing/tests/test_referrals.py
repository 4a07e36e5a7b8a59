"""Referrals: a code per account, redeemed once by a new account, both rewarded once when it
first pays; clicks on the gateway's /r/<code> logged without cookie, query or address (a
salted network hash), deleted after 180 days. And the operator's MarkInvoicePaid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_billing.core_invoices import Item
from missiva_billing.core_referrals import clean_referrer
from missiva_billing.payments import BankTransfer
from missiva_billing.retention import RULES
from missiva_platform.auth import CallerKind
from missiva_platform.retention import apply_rule

from . import customers
from .conftest import bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")

REWARD = 500  # REFERRAL_REWARD_CREDITS' default


def gateway(billing, *, name: str = "gateway"):
    token = billing.issuer.token(
        tenant_id="",
        kind=CallerKind.SERVICE,
        subject=name,
        roles=(),
        scopes=(),
        audience="billing",
    )
    return (("authorization", f"Bearer {token}"),)


def admin(billing, tenant, scopes=("billing:read", "billing:write")):
    return billing.user(tenant, roles=("admin",), scopes=scopes)


async def code_of(billing, tenant) -> pb.GetReferralCodeResponse:
    return await billing.stub.GetReferralCode(
        pb.GetReferralCodeRequest(), metadata=billing.billing_admin(tenant), timeout=10
    )


async def redeem(billing, tenant, code):
    return await billing.stub.RedeemReferralCode(
        pb.RedeemReferralCodeRequest(code=code), metadata=admin(billing, tenant), timeout=10
    )


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def pay(billing, tenant, order: str) -> str:
    """A bank-transfer charge, then marked paid by an operator over the RPC."""
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        charge = await BankTransfer(billing.invoices).charge(
            conn, tenant, f"order:{order}", [Item("Missiva Pro (monthly)", 1, 4900)]
        )
    reply = await billing.stub.MarkInvoicePaid(
        pb.MarkInvoicePaidRequest(
            account_id=tenant, invoice_id=charge.invoice.invoice_id, bank_reference="TRN-1"
        ),
        metadata=billing.user("platform", roles=("admin",), scopes=("billing:operate",)),
        timeout=10,
    )
    return reply.invoice.invoice_id


async def referral_grants(billing, tenant) -> list[int]:
    rows = await billing.sql(
        "SELECT amount FROM credit_ledger WHERE account_id = %s AND grant_key LIKE 'referral:%%'",
        tenant,
    )
    return [r[0] for r in rows]


async def test_an_account_has_one_code_and_sees_only_its_own(billing):
    first, other = billing.tenant(), billing.tenant()
    code = await code_of(billing, first)
    assert len(code.code) == 10
    assert code.link_path == f"/r/{code.code}"
    assert (code.referred_accounts, code.rewarded_accounts, code.reward_credits) == (0, 0, REWARD)
    assert (await code_of(billing, first)).code == code.code  # made once
    assert (await code_of(billing, other)).code != code.code  # the token's account only
    # billing:read is the scope; a member (no billing role) is refused.
    for metadata in (
        billing.billing_admin(first, scopes=("credits:read",)),
        billing.user(first, roles=("member",), scopes=("billing:read",)),
    ):
        err = await refused(
            billing.stub.GetReferralCode(pb.GetReferralCodeRequest(), metadata=metadata, timeout=10)
        )
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_both_sides_get_the_reward_once_when_the_referee_first_pays(billing):
    referrer, referee = billing.tenant(), billing.tenant()
    code = (await code_of(billing, referrer)).code
    assert (await redeem(billing, referee, code.lower())).reward_credits == REWARD
    await redeem(billing, referee, code)  # the same code again changes nothing
    await customers.write(billing, referee, customers.ITALIAN_COMPANY)
    assert await referral_grants(billing, referee) == []  # not before a payment
    await pay(billing, referee, "r-1")
    assert await referral_grants(billing, referee) == [REWARD]
    assert await referral_grants(billing, referrer) == [REWARD]
    await pay(billing, referee, "r-2")  # a second payment: no second reward
    assert await referral_grants(billing, referee) == [REWARD]
    assert await referral_grants(billing, referrer) == [REWARD]
    assert (await billing.balance(referrer)).available == REWARD
    summary = await code_of(billing, referrer)
    assert (summary.referred_accounts, summary.rewarded_accounts) == (1, 1)


async def test_a_bad_or_unusable_code_is_named_and_changes_nothing(billing):
    referrer, referee = billing.tenant(), billing.tenant()
    code = (await code_of(billing, referrer)).code
    for bad in ("", "short", "O0O0O0O0O0", "ZZZZZZZZZZ"):  # empty, length, alphabet, unknown
        err = await refused(redeem(billing, referee, bad))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err) == ["code"]
    err = await refused(redeem(billing, referrer, code))  # its own code
    assert bad_fields(err) == ["code"]
    assert (
        await billing.scalar(
            "SELECT count(*) FROM referrals WHERE referee_account_id = ANY(%s)", [referrer, referee]
        )
        == 0
    )
    # Another code after one was linked: refused, the first link kept.
    second = (await code_of(billing, billing.tenant())).code
    await redeem(billing, referee, code)
    err = await refused(redeem(billing, referee, second))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await billing.scalar("SELECT code FROM referrals WHERE referee_account_id = %s", referee)
        == code
    )
    # An account that has paid already is no new customer.
    customer = billing.tenant()
    await customers.write(billing, customer, customers.ITALIAN_COMPANY)
    await pay(billing, customer, "paid-before")
    err = await refused(redeem(billing, customer, code))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Redeeming needs billing:write and a billing role.
    err = await refused(
        billing.stub.RedeemReferralCode(
            pb.RedeemReferralCodeRequest(code=code),
            metadata=admin(billing, billing.tenant(), scopes=("billing:read",)),
            timeout=10,
        )
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_referrer_is_kept_without_query_fragment_or_user_info():
    assert clean_referrer("https://u:p@Blog.example:8443/post/1?utm=x&email=a@b#top") == (
        "https://blog.example:8443/post/1"
    )
    assert clean_referrer("HTTP://[2001:db8::1]/a?b") == "http://[2001:db8::1]/a"
    assert clean_referrer("android-app://com.example") == ""
    assert clean_referrer("not a url") == ""


async def click(billing, code, ip, referrer="https://blog.example/p?x=1#f", ua="Firefox/130"):
    return await billing.stub.RecordReferralClick(
        pb.RecordReferralClickRequest(
            code=code,
            referrer=referrer,
            client=types_pb2.ClientContext(ip_address=ip, user_agent=ua),
        ),
        metadata=gateway(billing),
        timeout=10,
    )


async def test_clicks_keep_the_page_agent_and_a_network_hash_only_then_go_after_180_days(
    billing,
):
    code = (await code_of(billing, billing.tenant())).code
    for ip in ("192.0.2.10", "192.0.2.99", "198.51.100.7", "2001:db8:1:2::5", "2001:db8:1:2::9"):
        assert (await click(billing, code, ip)).known
    rows = await billing.sql(
        "SELECT referrer, user_agent, ip_network_hash FROM referral_clicks WHERE code = %s"
        " ORDER BY click_id",
        code,
    )
    assert {(r[0], r[1]) for r in rows} == {("https://blog.example/p", "Firefox/130")}
    hashes = [r[2] for r in rows]
    assert hashes[0] == hashes[1] != hashes[2]  # the same /24, another network
    assert hashes[3] == hashes[4] not in hashes[:3]  # the same /64
    assert all(len(h) == 64 and "192.0.2" not in h for h in hashes)
    columns = {
        r[0]
        for r in await billing.sql(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'referral_clicks'"
        )
    }
    assert not columns & {"ip", "ip_address", "cookie", "email"}
    # An unknown code logs nothing (the gateway still sends the visitor to sign-up).
    assert not (await click(billing, "ZZZZZZZZZZ", "192.0.2.1")).known
    assert (
        await billing.scalar("SELECT count(*) FROM referral_clicks WHERE code = 'ZZZZZZZZZZ'") == 0
    )
    [rule] = [r for r in RULES if r.table == "referral_clicks"]
    async with await psycopg.AsyncConnection.connect(billing.url, autocommit=True) as conn:
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=179)) == 0
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=181)) >= 5
    assert await billing.scalar("SELECT count(*) FROM referral_clicks WHERE code = %s", code) == 0


async def test_only_the_gateway_records_clicks_and_bad_input_is_named(billing):
    code = (await code_of(billing, billing.tenant())).code
    request = pb.RecordReferralClickRequest(code=code)
    for metadata in (
        gateway(billing, name="campaign"),
        billing.user(billing.tenant(), scopes=("*",)),
        (),
    ):
        err = await refused(
            billing.stub.RecordReferralClick(request, metadata=metadata, timeout=10)
        )
        assert err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    for bad, field in (
        (pb.RecordReferralClickRequest(code="x"), "code"),
        (pb.RecordReferralClickRequest(code=code, referrer="h" * 3000), "referrer"),
        (
            pb.RecordReferralClickRequest(
                code=code, client=types_pb2.ClientContext(user_agent="u" * 3000)
            ),
            "client.user_agent",
        ),
    ):
        err = await refused(
            billing.stub.RecordReferralClick(bad, metadata=gateway(billing), timeout=10)
        )
        assert bad_fields(err) == [field]
    assert await billing.scalar("SELECT count(*) FROM referral_clicks WHERE code = %s", code) == 0
    # A garbled address is logged without a network hash, not refused.
    assert (await click(billing, code, "not-an-ip")).known
    assert (
        await billing.scalar("SELECT ip_network_hash FROM referral_clicks WHERE code = %s", code)
        == ""
    )


async def test_mark_invoice_paid_is_for_platform_operators_and_names_bad_fields(billing):
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        charge = await BankTransfer(billing.invoices).charge(
            conn, tenant, "order:op-1", [Item("Missiva Pro (monthly)", 1, 4900)]
        )
    invoice_id = charge.invoice.invoice_id
    operator = billing.user("platform", roles=("admin",), scopes=("billing:operate",))
    request = pb.MarkInvoicePaidRequest(account_id=tenant, invoice_id=invoice_id)
    # A customer's own admin, a platform member, a platform admin without the scope: refused.
    for metadata in (
        billing.user(tenant, roles=("admin",), scopes=("*",)),
        billing.user("platform", roles=("member",), scopes=("billing:operate",)),
        billing.user("platform", roles=("admin",), scopes=("billing:write",)),
    ):
        err = await refused(billing.stub.MarkInvoicePaid(request, metadata=metadata, timeout=10))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # Another account's id with this invoice: NOT_FOUND; bad ids named.
    err = await refused(
        billing.stub.MarkInvoicePaid(
            pb.MarkInvoicePaidRequest(account_id=billing.tenant(), invoice_id=invoice_id),
            metadata=operator,
            timeout=10,
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    for bad, field in (
        (pb.MarkInvoicePaidRequest(account_id="x", invoice_id=invoice_id), "account_id"),
        (pb.MarkInvoicePaidRequest(account_id=tenant, invoice_id=""), "invoice_id"),
        (
            pb.MarkInvoicePaidRequest(
                account_id=tenant, invoice_id=invoice_id, bank_reference="r" * 200
            ),
            "bank_reference",
        ),
    ):
        err = await refused(billing.stub.MarkInvoicePaid(bad, metadata=operator, timeout=10))
        assert bad_fields(err) == [field]
    assert (
        await billing.scalar("SELECT status FROM invoices WHERE invoice_id = %s", invoice_id)
        == "issued"
    )
    first = await billing.stub.MarkInvoicePaid(request, metadata=operator, timeout=10)
    again = await billing.stub.MarkInvoicePaid(request, metadata=operator, timeout=10)
    assert (first.changed, again.changed) == (True, False)
    assert first.invoice.status == pb.INVOICE_STATUS_PAID
