import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as _delivery_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReputationSignal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPUTATION_SIGNAL_UNSPECIFIED: _ClassVar[ReputationSignal]
    REPUTATION_SIGNAL_BOUNCE_RATE: _ClassVar[ReputationSignal]
    REPUTATION_SIGNAL_COMPLAINT_RATE: _ClassVar[ReputationSignal]
REPUTATION_SIGNAL_UNSPECIFIED: ReputationSignal
REPUTATION_SIGNAL_BOUNCE_RATE: ReputationSignal
REPUTATION_SIGNAL_COMPLAINT_RATE: ReputationSignal

class MessageSent(_message.Message):
    __slots__ = ("message_id", "campaign_id", "batch_id", "contact_id", "person_key", "category", "rfc822_message_id", "resend", "credit_reservation_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RFC822_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RESEND_FIELD_NUMBER: _ClassVar[int]
    CREDIT_RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    batch_id: str
    contact_id: str
    person_key: str
    category: _types_pb2.EmailCategory
    rfc822_message_id: str
    resend: bool
    credit_reservation_id: str
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., rfc822_message_id: _Optional[str] = ..., resend: _Optional[bool] = ..., credit_reservation_id: _Optional[str] = ...) -> None: ...

class MessageDelivered(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "smtp_response")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    SMTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    smtp_response: str
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., smtp_response: _Optional[str] = ...) -> None: ...

class MessageDeferred(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "smtp_response", "attempt", "next_attempt_at")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    SMTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    smtp_response: str
    attempt: int
    next_attempt_at: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., smtp_response: _Optional[str] = ..., attempt: _Optional[int] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MessageBounced(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "bounce_type", "status_code", "diagnostic", "source")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    BOUNCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    bounce_type: _delivery_service_pb2.BounceType
    status_code: str
    diagnostic: str
    source: _delivery_service_pb2.FeedbackSource
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., bounce_type: _Optional[_Union[_delivery_service_pb2.BounceType, str]] = ..., status_code: _Optional[str] = ..., diagnostic: _Optional[str] = ..., source: _Optional[_Union[_delivery_service_pb2.FeedbackSource, str]] = ...) -> None: ...

class MessageFailed(_message.Message):
    __slots__ = ("message_id", "campaign_id", "batch_id", "contact_id", "person_key", "category", "reason", "smtp_response", "suppressed", "credit_reservation_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SMTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    CREDIT_RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    batch_id: str
    contact_id: str
    person_key: str
    category: _types_pb2.EmailCategory
    reason: str
    smtp_response: str
    suppressed: bool
    credit_reservation_id: str
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., reason: _Optional[str] = ..., smtp_response: _Optional[str] = ..., suppressed: _Optional[bool] = ..., credit_reservation_id: _Optional[str] = ...) -> None: ...

class MessageComplained(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "feedback_type", "source")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    feedback_type: str
    source: _delivery_service_pb2.FeedbackSource
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., feedback_type: _Optional[str] = ..., source: _Optional[_Union[_delivery_service_pb2.FeedbackSource, str]] = ...) -> None: ...

class CampaignReputationAlerted(_message.Message):
    __slots__ = ("campaign_id", "signal", "sent", "bounced", "complained", "bounce_rate", "complaint_rate", "bounce_threshold", "complaint_threshold", "window_start")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    BOUNCED_FIELD_NUMBER: _ClassVar[int]
    COMPLAINED_FIELD_NUMBER: _ClassVar[int]
    BOUNCE_RATE_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_RATE_FIELD_NUMBER: _ClassVar[int]
    BOUNCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    signal: ReputationSignal
    sent: int
    bounced: int
    complained: int
    bounce_rate: float
    complaint_rate: float
    bounce_threshold: float
    complaint_threshold: float
    window_start: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., signal: _Optional[_Union[ReputationSignal, str]] = ..., sent: _Optional[int] = ..., bounced: _Optional[int] = ..., complained: _Optional[int] = ..., bounce_rate: _Optional[float] = ..., complaint_rate: _Optional[float] = ..., bounce_threshold: _Optional[float] = ..., complaint_threshold: _Optional[float] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MessageOpened(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "anonymous", "device_class", "client", "country_code")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    anonymous: bool
    device_class: str
    client: str
    country_code: str
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., anonymous: _Optional[bool] = ..., device_class: _Optional[str] = ..., client: _Optional[str] = ..., country_code: _Optional[str] = ...) -> None: ...

class LinkClicked(_message.Message):
    __slots__ = ("message_id", "campaign_id", "person_key", "anonymous", "position", "url", "device_class", "country_code")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    campaign_id: str
    person_key: str
    anonymous: bool
    position: int
    url: str
    device_class: str
    country_code: str
    def __init__(self, message_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., person_key: _Optional[str] = ..., anonymous: _Optional[bool] = ..., position: _Optional[int] = ..., url: _Optional[str] = ..., device_class: _Optional[str] = ..., country_code: _Optional[str] = ...) -> None: ...

class SendTransactionalCommand(_message.Message):
    __slots__ = ("idempotency_key", "template_key", "to_address", "to_name", "locale", "variables", "category", "person_key", "requested_by")
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
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    template_key: str
    to_address: str
    to_name: str
    locale: str
    variables: _containers.ScalarMap[str, str]
    category: _types_pb2.EmailCategory
    person_key: str
    requested_by: str
    def __init__(self, idempotency_key: _Optional[str] = ..., template_key: _Optional[str] = ..., to_address: _Optional[str] = ..., to_name: _Optional[str] = ..., locale: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., person_key: _Optional[str] = ..., requested_by: _Optional[str] = ...) -> None: ...

class SenderDomainVerified(_message.Message):
    __slots__ = ("sender_domain_id", "domain", "verified_at", "dkim_selectors")
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    DKIM_SELECTORS_FIELD_NUMBER: _ClassVar[int]
    sender_domain_id: str
    domain: str
    verified_at: _timestamp_pb2.Timestamp
    dkim_selectors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sender_domain_id: _Optional[str] = ..., domain: _Optional[str] = ..., verified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dkim_selectors: _Optional[_Iterable[str]] = ...) -> None: ...

class SenderDomainUnverified(_message.Message):
    __slots__ = ("sender_domain_id", "domain", "checked_at", "failed_records")
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    sender_domain_id: str
    domain: str
    checked_at: _timestamp_pb2.Timestamp
    failed_records: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sender_domain_id: _Optional[str] = ..., domain: _Optional[str] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failed_records: _Optional[_Iterable[str]] = ...) -> None: ...
