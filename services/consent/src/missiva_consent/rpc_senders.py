"""Sender identities and the read-only look at a public link (what its page may show).

Every public page of a link (unsubscribe, preferences, confirmation, my data) says who
sent it: the account's declared identity and its published privacy notice. ``DescribeLink``
checks the link's token first, without using it: nothing changes and no visit is recorded.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, links
from missiva_consent.core import utc_now
from missiva_consent.links import LinkScope
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.senders import identity_of
from missiva_consent.store import base as db
from missiva_consent.store import documents as document_store
from missiva_consent.store import double_opt_ins as doi_store
from missiva_consent.store import purposes as purpose_store
from missiva_consent.store import senders as sender_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument

LINK_PURPOSES = {
    pb.LINK_KIND_UNSUBSCRIBE: links.UNSUBSCRIBE,
    pb.LINK_KIND_PREFERENCES: links.PREFERENCES,
    pb.LINK_KIND_CONFIRM: links.CONFIRM,
    pb.LINK_KIND_MY_DATA: links.MY_DATA,
}

CONFIRMATION_GONE = "this confirmation link has expired: please subscribe again"


def _stamp(moment: Any) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def sender_of(conn: db.Conn, account_id: str) -> pb.SenderIdentity:
    """What the account declared, with the address of its privacy notice when published."""
    sender = pb.SenderIdentity()
    found = await sender_store.get(conn, account_id)
    if found is not None:
        identity, _ = found
        sender.name = identity.name
        sender.postal_address = identity.postal_address
        sender.privacy_contact = identity.privacy_contact
    notices = await document_store.current_documents(conn, [account_id], now=utc_now(), locale="en")
    notice = next(
        (d for d in notices if d.kind is domain.DocumentKind.ACCOUNT_PRIVACY_NOTICE), None
    )
    if notice is not None:
        sender.privacy_policy_url = notice.url
    return sender


class SenderRpcs(ConsentRpcs):
    async def SetSenderIdentity(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        identity = identity_of(request.sender)
        now = utc_now()
        async with self.pool.connection() as conn, conn.transaction():
            await sender_store.put(conn, account, identity, now)
            sender = await sender_of(conn, account)
        return pb.SetSenderIdentityResponse(sender=sender, updated_at=_stamp(now))

    async def GetSenderIdentity(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        async with self.pool.connection() as conn:
            sender = await sender_of(conn, account)
            found = await sender_store.get(conn, account)
        reply = pb.GetSenderIdentityResponse(sender=sender)
        if found is not None:
            reply.updated_at.CopyFrom(_stamp(found[1]))
        return reply

    async def DescribeLink(self, request: Any, context: Any) -> Any:
        purpose = LINK_PURPOSES.get(request.kind)
        if purpose is None:
            raise InvalidArgument.field("kind", "name the page: unsubscribe, preferences, "
                                        "confirm or my_data")  # fmt: skip
        claims = self.svc.verify_token(request.token, purpose)
        account = claims.get("a")
        if not isinstance(account, str) or not account:
            raise InvalidArgument.field("token", "this link is not valid")
        reply = pb.DescribeLinkResponse()
        async with self.pool.connection() as conn:
            if purpose == links.CONFIRM:
                row = await doi_store.find_double_opt_in(conn, account, str(claims.get("d", "")))
                if row is None:
                    raise FailedPrecondition(
                        CONFIRMATION_GONE,
                        [("LINK_EXPIRED", "token", "the pending subscription no longer exists")],
                    )
                reply.already_confirmed = row["confirmed_at"] is not None
                purpose_ids = [str(p) for p in row["purpose_ids"]]
            elif purpose == links.UNSUBSCRIBE:
                scope = LinkScope.from_claims(claims)
                all_marketing = scope.purpose_id == links.ALL_BUT_SYSTEM
                purpose_ids = [] if all_marketing else [scope.purpose_id]
            else:
                LinkScope.from_claims(claims)  # names an account and a person
                purpose_ids = []
            for purpose_id in purpose_ids:
                found = await purpose_store.find_purpose(conn, account, purpose_id)
                if found is not None:
                    reply.purpose_names.append(found.name)
            reply.sender.CopyFrom(await sender_of(conn, account))
        return reply
