import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_STATUS_UNSPECIFIED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_QUEUED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_SENDING: _ClassVar[MessageStatus]
    MESSAGE_STATUS_SENT: _ClassVar[MessageStatus]
    MESSAGE_STATUS_DELIVERED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_DEFERRED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_BOUNCED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_FAILED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_SUPPRESSED: _ClassVar[MessageStatus]
    MESSAGE_STATUS_COMPLAINED: _ClassVar[MessageStatus]

class BounceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOUNCE_TYPE_UNSPECIFIED: _ClassVar[BounceType]
    BOUNCE_TYPE_HARD: _ClassVar[BounceType]
    BOUNCE_TYPE_SOFT: _ClassVar[BounceType]
    BOUNCE_TYPE_BLOCKED: _ClassVar[BounceType]

class FeedbackSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_SOURCE_UNSPECIFIED: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_SMTP: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_DSN: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_ARF: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_WEBHOOK: _ClassVar[FeedbackSource]

class SenderDomainStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENDER_DOMAIN_STATUS_UNSPECIFIED: _ClassVar[SenderDomainStatus]
    SENDER_DOMAIN_STATUS_PENDING: _ClassVar[SenderDomainStatus]
    SENDER_DOMAIN_STATUS_VERIFIED: _ClassVar[SenderDomainStatus]
    SENDER_DOMAIN_STATUS_FAILED: _ClassVar[SenderDomainStatus]

class DnsRecordPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DNS_RECORD_PURPOSE_UNSPECIFIED: _ClassVar[DnsRecordPurpose]
    DNS_RECORD_PURPOSE_DKIM: _ClassVar[DnsRecordPurpose]
    DNS_RECORD_PURPOSE_SPF: _ClassVar[DnsRecordPurpose]
    DNS_RECORD_PURPOSE_DMARC: _ClassVar[DnsRecordPurpose]
    DNS_RECORD_PURPOSE_RETURN_PATH: _ClassVar[DnsRecordPurpose]

class WebhookDeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: _ClassVar[WebhookDeliveryStatus]
    WEBHOOK_DELIVERY_STATUS_PENDING: _ClassVar[WebhookDeliveryStatus]
    WEBHOOK_DELIVERY_STATUS_DELIVERING: _ClassVar[WebhookDeliveryStatus]
    WEBHOOK_DELIVERY_STATUS_DELIVERED: _ClassVar[WebhookDeliveryStatus]
    WEBHOOK_DELIVERY_STATUS_FAILED: _ClassVar[WebhookDeliveryStatus]

class EngagementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGAGEMENT_KIND_UNSPECIFIED: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_OPEN: _ClassVar[EngagementKind]
    ENGAGEMENT_KIND_CLICK: _ClassVar[EngagementKind]
MESSAGE_STATUS_UNSPECIFIED: MessageStatus
MESSAGE_STATUS_QUEUED: MessageStatus
MESSAGE_STATUS_SENDING: MessageStatus
MESSAGE_STATUS_SENT: MessageStatus
MESSAGE_STATUS_DELIVERED: MessageStatus
MESSAGE_STATUS_DEFERRED: MessageStatus
MESSAGE_STATUS_BOUNCED: MessageStatus
MESSAGE_STATUS_FAILED: MessageStatus
MESSAGE_STATUS_SUPPRESSED: MessageStatus
MESSAGE_STATUS_COMPLAINED: MessageStatus
BOUNCE_TYPE_UNSPECIFIED: BounceType
BOUNCE_TYPE_HARD: BounceType
BOUNCE_TYPE_SOFT: BounceType
BOUNCE_TYPE_BLOCKED: BounceType
FEEDBACK_SOURCE_UNSPECIFIED: FeedbackSource
FEEDBACK_SOURCE_SMTP: FeedbackSource
FEEDBACK_SOURCE_DSN: FeedbackSource
FEEDBACK_SOURCE_ARF: FeedbackSource
FEEDBACK_SOURCE_WEBHOOK: FeedbackSource
SENDER_DOMAIN_STATUS_UNSPECIFIED: SenderDomainStatus
SENDER_DOMAIN_STATUS_PENDING: SenderDomainStatus
SENDER_DOMAIN_STATUS_VERIFIED: SenderDomainStatus
SENDER_DOMAIN_STATUS_FAILED: SenderDomainStatus
DNS_RECORD_PURPOSE_UNSPECIFIED: DnsRecordPurpose
DNS_RECORD_PURPOSE_DKIM: DnsRecordPurpose
DNS_RECORD_PURPOSE_SPF: DnsRecordPurpose
DNS_RECORD_PURPOSE_DMARC: DnsRecordPurpose
DNS_RECORD_PURPOSE_RETURN_PATH: DnsRecordPurpose
WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: WebhookDeliveryStatus
WEBHOOK_DELIVERY_STATUS_PENDING: WebhookDeliveryStatus
WEBHOOK_DELIVERY_STATUS_DELIVERING: WebhookDeliveryStatus
WEBHOOK_DELIVERY_STATUS_DELIVERED: WebhookDeliveryStatus
WEBHOOK_DELIVERY_STATUS_FAILED: WebhookDeliveryStatus
ENGAGEMENT_KIND_UNSPECIFIED: EngagementKind
ENGAGEMENT_KIND_OPEN: EngagementKind
ENGAGEMENT_KIND_CLICK: EngagementKind

class Message(_message.Message):
    __slots__ = ("message_id", "rfc822_message_id", "campaign_id", "batch_id", "contact_id", "person_key", "template_key", "category", "status", "subject", "attempts", "bounce_type", "last_smtp_response", "queued_at", "sent_at", "updated_at")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RFC822_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BOUNCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_SMTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    rfc822_message_id: str
    campaign_id: str
    batch_id: str
    contact_id: str
    person_key: str
    template_key: str
    category: _types_pb2.EmailCategory
    status: MessageStatus
    subject: str
    attempts: int
    bounce_type: BounceType
    last_smtp_response: str
    queued_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., rfc822_message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., template_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., status: _Optional[_Union[MessageStatus, str]] = ..., subject: _Optional[str] = ..., attempts: _Optional[int] = ..., bounce_type: _Optional[_Union[BounceType, str]] = ..., last_smtp_response: _Optional[str] = ..., queued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MessageEvent(_message.Message):
    __slots__ = ("status", "occurred_at", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: MessageStatus
    occurred_at: _timestamp_pb2.Timestamp
    detail: str
    def __init__(self, status: _Optional[_Union[MessageStatus, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class RecentMessage(_message.Message):
    __slots__ = ("message_id", "subject", "sender", "category", "sent_at", "status")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    subject: str
    sender: str
    category: _types_pb2.EmailCategory
    sent_at: _timestamp_pb2.Timestamp
    status: MessageStatus
    def __init__(self, message_id: _Optional[str] = ..., subject: _Optional[str] = ..., sender: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[MessageStatus, str]] = ...) -> None: ...

class DnsRecord(_message.Message):
    __slots__ = ("purpose", "type", "name", "value", "verified", "found_value")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    FOUND_VALUE_FIELD_NUMBER: _ClassVar[int]
    purpose: DnsRecordPurpose
    type: str
    name: str
    value: str
    verified: bool
    found_value: str
    def __init__(self, purpose: _Optional[_Union[DnsRecordPurpose, str]] = ..., type: _Optional[str] = ..., name: _Optional[str] = ..., value: _Optional[str] = ..., verified: _Optional[bool] = ..., found_value: _Optional[str] = ...) -> None: ...

class SenderDomain(_message.Message):
    __slots__ = ("sender_domain_id", "domain", "status", "dns_records", "dkim_selector", "created_at", "verified_at", "last_checked_at", "dkim_rotated_at")
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DNS_RECORDS_FIELD_NUMBER: _ClassVar[int]
    DKIM_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    DKIM_ROTATED_AT_FIELD_NUMBER: _ClassVar[int]
    sender_domain_id: str
    domain: str
    status: SenderDomainStatus
    dns_records: _containers.RepeatedCompositeFieldContainer[DnsRecord]
    dkim_selector: str
    created_at: _timestamp_pb2.Timestamp
    verified_at: _timestamp_pb2.Timestamp
    last_checked_at: _timestamp_pb2.Timestamp
    dkim_rotated_at: _timestamp_pb2.Timestamp
    def __init__(self, sender_domain_id: _Optional[str] = ..., domain: _Optional[str] = ..., status: _Optional[_Union[SenderDomainStatus, str]] = ..., dns_records: _Optional[_Iterable[_Union[DnsRecord, _Mapping]]] = ..., dkim_selector: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dkim_rotated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeliveryStats(_message.Message):
    __slots__ = ("queued", "sent", "delivered", "deferred", "hard_bounces", "soft_bounces", "complaints", "suppressed", "failed", "resent", "opens", "clicks")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    HARD_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    SOFT_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    RESENT_FIELD_NUMBER: _ClassVar[int]
    OPENS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    queued: int
    sent: int
    delivered: int
    deferred: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    suppressed: int
    failed: int
    resent: int
    opens: int
    clicks: int
    def __init__(self, queued: _Optional[int] = ..., sent: _Optional[int] = ..., delivered: _Optional[int] = ..., deferred: _Optional[int] = ..., hard_bounces: _Optional[int] = ..., soft_bounces: _Optional[int] = ..., complaints: _Optional[int] = ..., suppressed: _Optional[int] = ..., failed: _Optional[int] = ..., resent: _Optional[int] = ..., opens: _Optional[int] = ..., clicks: _Optional[int] = ...) -> None: ...

class LinkClicks(_message.Message):
    __slots__ = ("position", "url", "clicks")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    position: int
    url: str
    clicks: int
    def __init__(self, position: _Optional[int] = ..., url: _Optional[str] = ..., clicks: _Optional[int] = ...) -> None: ...

class SendTransactionalRequest(_message.Message):
    __slots__ = ("idempotency_key", "template_key", "to_address", "to_name", "locale", "variables", "category", "person_key")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_KEY_FIELD_NUMBER: _ClassVar[int]
    TO_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TO_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    template_key: str
    to_address: str
    to_name: str
    locale: str
    variables: _containers.ScalarMap[str, str]
    category: _types_pb2.EmailCategory
    person_key: str
    def __init__(self, idempotency_key: _Optional[str] = ..., template_key: _Optional[str] = ..., to_address: _Optional[str] = ..., to_name: _Optional[str] = ..., locale: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., person_key: _Optional[str] = ...) -> None: ...

class SendTransactionalResponse(_message.Message):
    __slots__ = ("message_id", "status")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    status: MessageStatus
    def __init__(self, message_id: _Optional[str] = ..., status: _Optional[_Union[MessageStatus, str]] = ...) -> None: ...

class GetMessageStatusRequest(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    def __init__(self, message_id: _Optional[str] = ...) -> None: ...

class GetMessageStatusResponse(_message.Message):
    __slots__ = ("message", "events")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    message: Message
    events: _containers.RepeatedCompositeFieldContainer[MessageEvent]
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., events: _Optional[_Iterable[_Union[MessageEvent, _Mapping]]] = ...) -> None: ...

class ListRecentMessagesRequest(_message.Message):
    __slots__ = ("person", "limit")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    limit: int
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRecentMessagesResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[RecentMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[RecentMessage, _Mapping]]] = ...) -> None: ...

class CreateSenderDomainRequest(_message.Message):
    __slots__ = ("domain", "idempotency_key")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    domain: str
    idempotency_key: str
    def __init__(self, domain: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateSenderDomainResponse(_message.Message):
    __slots__ = ("sender_domain",)
    SENDER_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    sender_domain: SenderDomain
    def __init__(self, sender_domain: _Optional[_Union[SenderDomain, _Mapping]] = ...) -> None: ...

class VerifySenderDomainRequest(_message.Message):
    __slots__ = ("sender_domain_id",)
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    sender_domain_id: str
    def __init__(self, sender_domain_id: _Optional[str] = ...) -> None: ...

class VerifySenderDomainResponse(_message.Message):
    __slots__ = ("sender_domain",)
    SENDER_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    sender_domain: SenderDomain
    def __init__(self, sender_domain: _Optional[_Union[SenderDomain, _Mapping]] = ...) -> None: ...

class ListSenderDomainsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSenderDomainsResponse(_message.Message):
    __slots__ = ("sender_domains", "next_page_token")
    SENDER_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sender_domains: _containers.RepeatedCompositeFieldContainer[SenderDomain]
    next_page_token: str
    def __init__(self, sender_domains: _Optional[_Iterable[_Union[SenderDomain, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RotateDkimKeyRequest(_message.Message):
    __slots__ = ("sender_domain_id", "idempotency_key")
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    sender_domain_id: str
    idempotency_key: str
    def __init__(self, sender_domain_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RotateDkimKeyResponse(_message.Message):
    __slots__ = ("sender_domain", "new_selector", "old_key_retire_at")
    SENDER_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    NEW_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    OLD_KEY_RETIRE_AT_FIELD_NUMBER: _ClassVar[int]
    sender_domain: SenderDomain
    new_selector: str
    old_key_retire_at: _timestamp_pb2.Timestamp
    def __init__(self, sender_domain: _Optional[_Union[SenderDomain, _Mapping]] = ..., new_selector: _Optional[str] = ..., old_key_retire_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCampaignDeliveryStatsRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetCampaignDeliveryStatsResponse(_message.Message):
    __slots__ = ("stats", "links")
    STATS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    stats: DeliveryStats
    links: _containers.RepeatedCompositeFieldContainer[LinkClicks]
    def __init__(self, stats: _Optional[_Union[DeliveryStats, _Mapping]] = ..., links: _Optional[_Iterable[_Union[LinkClicks, _Mapping]]] = ...) -> None: ...

class HandleProviderFeedbackRequest(_message.Message):
    __slots__ = ("provider", "payload", "signature_header")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_HEADER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    payload: bytes
    signature_header: str
    def __init__(self, provider: _Optional[str] = ..., payload: _Optional[bytes] = ..., signature_header: _Optional[str] = ...) -> None: ...

class HandleProviderFeedbackResponse(_message.Message):
    __slots__ = ("provider_event_id", "duplicate", "handled")
    PROVIDER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    HANDLED_FIELD_NUMBER: _ClassVar[int]
    provider_event_id: str
    duplicate: bool
    handled: bool
    def __init__(self, provider_event_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., handled: _Optional[bool] = ...) -> None: ...

class WebhookEndpoint(_message.Message):
    __slots__ = ("webhook_endpoint_id", "url", "description", "event_types", "enabled", "disabled_reason", "created_at", "updated_at", "secret_rotated_at", "failing_since")
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SECRET_ROTATED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILING_SINCE_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    url: str
    description: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    disabled_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    secret_rotated_at: _timestamp_pb2.Timestamp
    failing_since: _timestamp_pb2.Timestamp
    def __init__(self, webhook_endpoint_id: _Optional[str] = ..., url: _Optional[str] = ..., description: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., secret_rotated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failing_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("webhook_delivery_id", "webhook_endpoint_id", "event_id", "event_type", "status", "attempts", "last_status_code", "last_response_excerpt", "last_error", "last_duration_ms", "created_at", "last_attempt_at", "next_attempt_at", "delivered_at")
    WEBHOOK_DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_RESPONSE_EXCERPT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    webhook_delivery_id: str
    webhook_endpoint_id: str
    event_id: str
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    last_status_code: int
    last_response_excerpt: str
    last_error: str
    last_duration_ms: int
    created_at: _timestamp_pb2.Timestamp
    last_attempt_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, webhook_delivery_id: _Optional[str] = ..., webhook_endpoint_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., status: _Optional[_Union[WebhookDeliveryStatus, str]] = ..., attempts: _Optional[int] = ..., last_status_code: _Optional[int] = ..., last_response_excerpt: _Optional[str] = ..., last_error: _Optional[str] = ..., last_duration_ms: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateWebhookEndpointRequest(_message.Message):
    __slots__ = ("url", "event_types", "description", "idempotency_key")
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    url: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    description: str
    idempotency_key: str
    def __init__(self, url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateWebhookEndpointResponse(_message.Message):
    __slots__ = ("webhook_endpoint", "signing_secret")
    WEBHOOK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint: WebhookEndpoint
    signing_secret: str
    def __init__(self, webhook_endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., signing_secret: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsResponse(_message.Message):
    __slots__ = ("webhook_endpoints", "next_page_token")
    WEBHOOK_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoints: _containers.RepeatedCompositeFieldContainer[WebhookEndpoint]
    next_page_token: str
    def __init__(self, webhook_endpoints: _Optional[_Iterable[_Union[WebhookEndpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetWebhookEndpointRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id",)
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    def __init__(self, webhook_endpoint_id: _Optional[str] = ...) -> None: ...

class GetWebhookEndpointResponse(_message.Message):
    __slots__ = ("webhook_endpoint",)
    WEBHOOK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint: WebhookEndpoint
    def __init__(self, webhook_endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ...) -> None: ...

class UpdateWebhookEndpointRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id", "webhook_endpoint", "update_mask")
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    webhook_endpoint: WebhookEndpoint
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, webhook_endpoint_id: _Optional[str] = ..., webhook_endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateWebhookEndpointResponse(_message.Message):
    __slots__ = ("webhook_endpoint",)
    WEBHOOK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint: WebhookEndpoint
    def __init__(self, webhook_endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ...) -> None: ...

class DeleteWebhookEndpointRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id",)
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    def __init__(self, webhook_endpoint_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookEndpointResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateWebhookSecretRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id", "idempotency_key")
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    idempotency_key: str
    def __init__(self, webhook_endpoint_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RotateWebhookSecretResponse(_message.Message):
    __slots__ = ("webhook_endpoint", "signing_secret", "previous_secret_expires_at")
    WEBHOOK_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint: WebhookEndpoint
    signing_secret: str
    previous_secret_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, webhook_endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., signing_secret: _Optional[str] = ..., previous_secret_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SendTestWebhookRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id",)
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    def __init__(self, webhook_endpoint_id: _Optional[str] = ...) -> None: ...

class SendTestWebhookResponse(_message.Message):
    __slots__ = ("webhook_delivery",)
    WEBHOOK_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    webhook_delivery: WebhookDelivery
    def __init__(self, webhook_delivery: _Optional[_Union[WebhookDelivery, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("webhook_endpoint_id", "page_size", "page_token")
    WEBHOOK_ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhook_endpoint_id: str
    page_size: int
    page_token: str
    def __init__(self, webhook_endpoint_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("webhook_deliveries", "next_page_token")
    WEBHOOK_DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhook_deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    next_page_token: str
    def __init__(self, webhook_deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordEngagementRequest(_message.Message):
    __slots__ = ("kind", "token", "client")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    kind: EngagementKind
    token: str
    client: _types_pb2.ClientContext
    def __init__(self, kind: _Optional[_Union[EngagementKind, str]] = ..., token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class RecordEngagementResponse(_message.Message):
    __slots__ = ("target_url", "anonymous", "position")
    TARGET_URL_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    target_url: str
    anonymous: bool
    position: int
    def __init__(self, target_url: _Optional[str] = ..., anonymous: _Optional[bool] = ..., position: _Optional[int] = ...) -> None: ...

class RenderOnlineRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class RenderOnlineResponse(_message.Message):
    __slots__ = ("html", "subject", "language")
    HTML_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    html: str
    subject: str
    language: str
    def __init__(self, html: _Optional[str] = ..., subject: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...
