import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_SOURCE_UNSPECIFIED: _ClassVar[ContactSource]
    CONTACT_SOURCE_FORM: _ClassVar[ContactSource]
    CONTACT_SOURCE_IMPORT: _ClassVar[ContactSource]
    CONTACT_SOURCE_API: _ClassVar[ContactSource]
    CONTACT_SOURCE_MANUAL: _ClassVar[ContactSource]

class CampaignStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATUS_UNSPECIFIED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_DRAFT: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_SCHEDULED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_SENDING: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_PAUSED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_COMPLETED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_CANCELLED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES: _ClassVar[CampaignStatus]

class ImportStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_STATUS_UNSPECIFIED: _ClassVar[ImportStatus]
    IMPORT_STATUS_RUNNING: _ClassVar[ImportStatus]
    IMPORT_STATUS_COMPLETED: _ClassVar[ImportStatus]
    IMPORT_STATUS_CANCELLED: _ClassVar[ImportStatus]
    IMPORT_STATUS_INTERRUPTED: _ClassVar[ImportStatus]

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]
    EXPORT_FORMAT_JSON: _ClassVar[ExportFormat]
    EXPORT_FORMAT_XLSX: _ClassVar[ExportFormat]

class FormKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORM_KIND_UNSPECIFIED: _ClassVar[FormKind]
    FORM_KIND_HOSTED: _ClassVar[FormKind]
    FORM_KIND_POPUP: _ClassVar[FormKind]
CONTACT_SOURCE_UNSPECIFIED: ContactSource
CONTACT_SOURCE_FORM: ContactSource
CONTACT_SOURCE_IMPORT: ContactSource
CONTACT_SOURCE_API: ContactSource
CONTACT_SOURCE_MANUAL: ContactSource
CAMPAIGN_STATUS_UNSPECIFIED: CampaignStatus
CAMPAIGN_STATUS_DRAFT: CampaignStatus
CAMPAIGN_STATUS_SCHEDULED: CampaignStatus
CAMPAIGN_STATUS_SENDING: CampaignStatus
CAMPAIGN_STATUS_PAUSED: CampaignStatus
CAMPAIGN_STATUS_COMPLETED: CampaignStatus
CAMPAIGN_STATUS_CANCELLED: CampaignStatus
CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES: CampaignStatus
IMPORT_STATUS_UNSPECIFIED: ImportStatus
IMPORT_STATUS_RUNNING: ImportStatus
IMPORT_STATUS_COMPLETED: ImportStatus
IMPORT_STATUS_CANCELLED: ImportStatus
IMPORT_STATUS_INTERRUPTED: ImportStatus
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_JSON: ExportFormat
EXPORT_FORMAT_XLSX: ExportFormat
FORM_KIND_UNSPECIFIED: FormKind
FORM_KIND_HOSTED: FormKind
FORM_KIND_POPUP: FormKind

class Contact(_message.Message):
    __slots__ = ("contact_id", "email", "person_key", "first_name", "last_name", "locale", "attributes", "tags", "list_ids", "source", "suppressed", "created_at", "updated_at", "last_interaction_at", "timezone", "provenance", "deleted_at", "restorable_until", "inactive_since")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_INTERACTION_AT_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_SINCE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    email: str
    person_key: str
    first_name: str
    last_name: str
    locale: str
    attributes: _struct_pb2.Struct
    tags: _containers.RepeatedScalarFieldContainer[str]
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    source: ContactSource
    suppressed: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    last_interaction_at: _timestamp_pb2.Timestamp
    timezone: str
    provenance: ContactProvenance
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    inactive_since: _timestamp_pb2.Timestamp
    def __init__(self, contact_id: _Optional[str] = ..., email: _Optional[str] = ..., person_key: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., locale: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., list_ids: _Optional[_Iterable[str]] = ..., source: _Optional[_Union[ContactSource, str]] = ..., suppressed: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_interaction_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timezone: _Optional[str] = ..., provenance: _Optional[_Union[ContactProvenance, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., inactive_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactProvenance(_message.Message):
    __slots__ = ("source", "detail", "actor_kind", "actor_id", "at")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ACTOR_KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    source: ContactSource
    detail: str
    actor_kind: str
    actor_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, source: _Optional[_Union[ContactSource, str]] = ..., detail: _Optional[str] = ..., actor_kind: _Optional[str] = ..., actor_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContactList(_message.Message):
    __slots__ = ("list_id", "name", "description", "purpose_id", "member_count", "created_at", "deleted_at", "restorable_until")
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    name: str
    description: str
    purpose_id: str
    member_count: int
    created_at: _timestamp_pb2.Timestamp
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, list_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., purpose_id: _Optional[str] = ..., member_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("name", "contact_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    contact_count: int
    def __init__(self, name: _Optional[str] = ..., contact_count: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("segment_id", "name", "rule_tree_json", "created_at", "updated_at", "deleted_at", "restorable_until")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_TREE_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    name: str
    rule_tree_json: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, segment_id: _Optional[str] = ..., name: _Optional[str] = ..., rule_tree_json: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("template_id", "name", "subject", "preheader", "html_body", "text_body", "revision", "created_at", "updated_at", "category", "starter", "locale", "deleted_at", "restorable_until")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PREHEADER_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STARTER_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    name: str
    subject: str
    preheader: str
    html_body: str
    text_body: str
    revision: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    category: _types_pb2.EmailCategory
    starter: bool
    locale: str
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, template_id: _Optional[str] = ..., name: _Optional[str] = ..., subject: _Optional[str] = ..., preheader: _Optional[str] = ..., html_body: _Optional[str] = ..., text_body: _Optional[str] = ..., revision: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., starter: _Optional[bool] = ..., locale: _Optional[str] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Sender(_message.Message):
    __slots__ = ("from_name", "from_address", "reply_to", "sender_domain_id")
    FROM_NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    SENDER_DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    from_name: str
    from_address: str
    reply_to: str
    sender_domain_id: str
    def __init__(self, from_name: _Optional[str] = ..., from_address: _Optional[str] = ..., reply_to: _Optional[str] = ..., sender_domain_id: _Optional[str] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("campaign_id", "name", "status", "category", "purpose_id", "template_id", "list_ids", "segment_ids", "excluded_list_ids", "sender", "scheduled_at", "started_at", "completed_at", "created_at", "updated_at", "pause_reason", "subject", "preheader", "schedule_timezone", "recipient_local_time", "recipient_count", "batched_count", "sent_count", "failed_count", "deferred_count", "last_error", "missing_credits", "review_flags", "retry_count", "deleted_at", "restorable_until")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSE_REASON_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PREHEADER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    BATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    MISSING_CREDITS_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FLAGS_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    name: str
    status: CampaignStatus
    category: _types_pb2.EmailCategory
    purpose_id: str
    template_id: str
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    excluded_list_ids: _containers.RepeatedScalarFieldContainer[str]
    sender: Sender
    scheduled_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    pause_reason: str
    subject: str
    preheader: str
    schedule_timezone: str
    recipient_local_time: bool
    recipient_count: int
    batched_count: int
    sent_count: int
    failed_count: int
    deferred_count: int
    last_error: str
    missing_credits: int
    review_flags: _containers.RepeatedCompositeFieldContainer[ContentFlag]
    retry_count: int
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., purpose_id: _Optional[str] = ..., template_id: _Optional[str] = ..., list_ids: _Optional[_Iterable[str]] = ..., segment_ids: _Optional[_Iterable[str]] = ..., excluded_list_ids: _Optional[_Iterable[str]] = ..., sender: _Optional[_Union[Sender, _Mapping]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pause_reason: _Optional[str] = ..., subject: _Optional[str] = ..., preheader: _Optional[str] = ..., schedule_timezone: _Optional[str] = ..., recipient_local_time: _Optional[bool] = ..., recipient_count: _Optional[int] = ..., batched_count: _Optional[int] = ..., sent_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., deferred_count: _Optional[int] = ..., last_error: _Optional[str] = ..., missing_credits: _Optional[int] = ..., review_flags: _Optional[_Iterable[_Union[ContentFlag, _Mapping]]] = ..., retry_count: _Optional[int] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContentFlag(_message.Message):
    __slots__ = ("kind", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class CampaignStats(_message.Message):
    __slots__ = ("recipients", "suppressed", "sent", "delivered", "deferred", "hard_bounces", "soft_bounces", "complaints", "opens", "unique_opens", "clicks", "unique_clicks", "unsubscribes", "links", "updated_at", "failed", "queued", "series")
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    HARD_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    SOFT_BOUNCES_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    OPENS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_OPENS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CLICKS_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    recipients: int
    suppressed: int
    sent: int
    delivered: int
    deferred: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    opens: int
    unique_opens: int
    clicks: int
    unique_clicks: int
    unsubscribes: int
    links: _containers.RepeatedCompositeFieldContainer[LinkStats]
    updated_at: _timestamp_pb2.Timestamp
    failed: int
    queued: int
    series: _containers.RepeatedCompositeFieldContainer[StatsPoint]
    def __init__(self, recipients: _Optional[int] = ..., suppressed: _Optional[int] = ..., sent: _Optional[int] = ..., delivered: _Optional[int] = ..., deferred: _Optional[int] = ..., hard_bounces: _Optional[int] = ..., soft_bounces: _Optional[int] = ..., complaints: _Optional[int] = ..., opens: _Optional[int] = ..., unique_opens: _Optional[int] = ..., clicks: _Optional[int] = ..., unique_clicks: _Optional[int] = ..., unsubscribes: _Optional[int] = ..., links: _Optional[_Iterable[_Union[LinkStats, _Mapping]]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failed: _Optional[int] = ..., queued: _Optional[int] = ..., series: _Optional[_Iterable[_Union[StatsPoint, _Mapping]]] = ...) -> None: ...

class StatsPoint(_message.Message):
    __slots__ = ("bucket_start", "sent", "delivered", "bounces", "opens", "clicks", "complaints")
    BUCKET_START_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    BOUNCES_FIELD_NUMBER: _ClassVar[int]
    OPENS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    bucket_start: _timestamp_pb2.Timestamp
    sent: int
    delivered: int
    bounces: int
    opens: int
    clicks: int
    complaints: int
    def __init__(self, bucket_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent: _Optional[int] = ..., delivered: _Optional[int] = ..., bounces: _Optional[int] = ..., opens: _Optional[int] = ..., clicks: _Optional[int] = ..., complaints: _Optional[int] = ...) -> None: ...

class LinkStats(_message.Message):
    __slots__ = ("position", "url", "clicks")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    position: int
    url: str
    clicks: int
    def __init__(self, position: _Optional[int] = ..., url: _Optional[str] = ..., clicks: _Optional[int] = ...) -> None: ...

class ContactImportRow(_message.Message):
    __slots__ = ("row_number", "email", "first_name", "last_name", "attributes", "tags")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    email: str
    first_name: str
    last_name: str
    attributes: _containers.ScalarMap[str, str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, row_number: _Optional[int] = ..., email: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class ImportOptions(_message.Message):
    __slots__ = ("list_id", "tags", "update_existing", "consent_source_detail", "require_double_opt_in", "idempotency_key", "import_id", "column_mapping", "attribute_types", "consent_proof", "total_rows", "purpose_id")
    class ColumnMappingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AttributeTypesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    CONSENT_SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_DOUBLE_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMN_MAPPING_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_TYPES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_PROOF_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    update_existing: bool
    consent_source_detail: str
    require_double_opt_in: bool
    idempotency_key: str
    import_id: str
    column_mapping: _containers.ScalarMap[str, str]
    attribute_types: _containers.ScalarMap[str, str]
    consent_proof: ImportConsentProof
    total_rows: int
    purpose_id: str
    def __init__(self, list_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., update_existing: _Optional[bool] = ..., consent_source_detail: _Optional[str] = ..., require_double_opt_in: _Optional[bool] = ..., idempotency_key: _Optional[str] = ..., import_id: _Optional[str] = ..., column_mapping: _Optional[_Mapping[str, str]] = ..., attribute_types: _Optional[_Mapping[str, str]] = ..., consent_proof: _Optional[_Union[ImportConsentProof, _Mapping]] = ..., total_rows: _Optional[int] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class ImportConsentProof(_message.Message):
    __slots__ = ("collected_by", "given_at", "consent_text")
    COLLECTED_BY_FIELD_NUMBER: _ClassVar[int]
    GIVEN_AT_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    collected_by: str
    given_at: _timestamp_pb2.Timestamp
    consent_text: str
    def __init__(self, collected_by: _Optional[str] = ..., given_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consent_text: _Optional[str] = ...) -> None: ...

class ContactImport(_message.Message):
    __slots__ = ("import_id", "status", "rows_read", "total_rows", "good", "bad", "created", "updated", "skipped", "consent_mode", "created_at", "updated_at", "finished_at")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROWS_READ_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    GOOD_FIELD_NUMBER: _ClassVar[int]
    BAD_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CONSENT_MODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    status: ImportStatus
    rows_read: int
    total_rows: int
    good: int
    bad: int
    created: int
    updated: int
    skipped: int
    consent_mode: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, import_id: _Optional[str] = ..., status: _Optional[_Union[ImportStatus, str]] = ..., rows_read: _Optional[int] = ..., total_rows: _Optional[int] = ..., good: _Optional[int] = ..., bad: _Optional[int] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., skipped: _Optional[int] = ..., consent_mode: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportRowError(_message.Message):
    __slots__ = ("row_number", "field", "message")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    field: str
    message: str
    def __init__(self, row_number: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CreateContactRequest(_message.Message):
    __slots__ = ("contact", "idempotency_key", "list_ids")
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    idempotency_key: str
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., list_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateContactResponse(_message.Message):
    __slots__ = ("contact",)
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ...) -> None: ...

class GetContactRequest(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class GetContactResponse(_message.Message):
    __slots__ = ("contact",)
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ...) -> None: ...

class UpdateContactRequest(_message.Message):
    __slots__ = ("contact", "update_mask")
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateContactResponse(_message.Message):
    __slots__ = ("contact",)
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ...) -> None: ...

class DeleteContactRequest(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class DeleteContactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListContactsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "list_id", "tag", "segment_id", "query", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    list_id: str
    tag: str
    segment_id: str
    query: str
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., list_id: _Optional[str] = ..., tag: _Optional[str] = ..., segment_id: _Optional[str] = ..., query: _Optional[str] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class RestoreContactRequest(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class RestoreContactResponse(_message.Message):
    __slots__ = ("contact",)
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    contact: Contact
    def __init__(self, contact: _Optional[_Union[Contact, _Mapping]] = ...) -> None: ...

class ListContactsResponse(_message.Message):
    __slots__ = ("contacts", "next_page_token")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    next_page_token: str
    def __init__(self, contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateListRequest(_message.Message):
    __slots__ = ("list", "idempotency_key")
    LIST_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    list: ContactList
    idempotency_key: str
    def __init__(self, list: _Optional[_Union[ContactList, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateListResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: ContactList
    def __init__(self, list: _Optional[_Union[ContactList, _Mapping]] = ...) -> None: ...

class ListListsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class ListListsResponse(_message.Message):
    __slots__ = ("lists", "next_page_token")
    LISTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lists: _containers.RepeatedCompositeFieldContainer[ContactList]
    next_page_token: str
    def __init__(self, lists: _Optional[_Iterable[_Union[ContactList, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddToListRequest(_message.Message):
    __slots__ = ("list_id", "contact_ids", "idempotency_key")
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, list_id: _Optional[str] = ..., contact_ids: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AddToListResponse(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: int
    def __init__(self, added: _Optional[int] = ...) -> None: ...

class RemoveFromListRequest(_message.Message):
    __slots__ = ("list_id", "contact_ids")
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, list_id: _Optional[str] = ..., contact_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveFromListResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class AddTagsRequest(_message.Message):
    __slots__ = ("contact_ids", "tags")
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact_ids: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class AddTagsResponse(_message.Message):
    __slots__ = ("updated",)
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    updated: int
    def __init__(self, updated: _Optional[int] = ...) -> None: ...

class RemoveTagsRequest(_message.Message):
    __slots__ = ("contact_ids", "tags")
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact_ids: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveTagsResponse(_message.Message):
    __slots__ = ("updated",)
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    updated: int
    def __init__(self, updated: _Optional[int] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags", "next_page_token")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    next_page_token: str
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("segment", "idempotency_key")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    idempotency_key: str
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PreviewSegmentRequest(_message.Message):
    __slots__ = ("rule_tree_json", "sample_size")
    RULE_TREE_JSON_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    rule_tree_json: str
    sample_size: int
    def __init__(self, rule_tree_json: _Optional[str] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewSegmentResponse(_message.Message):
    __slots__ = ("matching_count", "sample")
    MATCHING_COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    matching_count: int
    sample: _containers.RepeatedCompositeFieldContainer[Contact]
    def __init__(self, matching_count: _Optional[int] = ..., sample: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ...) -> None: ...

class ImportContactsRequest(_message.Message):
    __slots__ = ("options", "rows", "csv_chunk")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CSV_CHUNK_FIELD_NUMBER: _ClassVar[int]
    options: ImportOptions
    rows: _containers.RepeatedCompositeFieldContainer[ContactImportRow]
    csv_chunk: bytes
    def __init__(self, options: _Optional[_Union[ImportOptions, _Mapping]] = ..., rows: _Optional[_Iterable[_Union[ContactImportRow, _Mapping]]] = ..., csv_chunk: _Optional[bytes] = ...) -> None: ...

class ImportContactsResponse(_message.Message):
    __slots__ = ("import_id", "received", "created", "updated", "skipped", "rejected", "errors")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    IMPORT_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    received: int
    created: int
    updated: int
    skipped: int
    rejected: int
    errors: _containers.RepeatedCompositeFieldContainer[ImportRowError]
    def __init__(self, import_id: _Optional[str] = ..., received: _Optional[int] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., skipped: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ImportRowError, _Mapping]]] = ..., **kwargs) -> None: ...

class GetImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class GetImportResponse(_message.Message):
    __slots__ = ()
    IMPORT_FIELD_NUMBER: _ClassVar[int]
    def __init__(self, **kwargs) -> None: ...

class CancelImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class CancelImportResponse(_message.Message):
    __slots__ = ()
    IMPORT_FIELD_NUMBER: _ClassVar[int]
    def __init__(self, **kwargs) -> None: ...

class DownloadImportReportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class DownloadImportReportResponse(_message.Message):
    __slots__ = ("csv_chunk",)
    CSV_CHUNK_FIELD_NUMBER: _ClassVar[int]
    csv_chunk: bytes
    def __init__(self, csv_chunk: _Optional[bytes] = ...) -> None: ...

class DeleteSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class DeleteSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class RestoreSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class RestoreSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class GetSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class UpdateSegmentRequest(_message.Message):
    __slots__ = ("segment", "update_mask")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class ListSegmentFieldsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SegmentField(_message.Message):
    __slots__ = ("name", "kind", "operators")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    operators: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., operators: _Optional[_Iterable[str]] = ...) -> None: ...

class SegmentOperator(_message.Message):
    __slots__ = ("name", "aliases", "no_value", "list_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    NO_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    no_value: bool
    list_value: bool
    def __init__(self, name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., no_value: _Optional[bool] = ..., list_value: _Optional[bool] = ...) -> None: ...

class ListSegmentFieldsResponse(_message.Message):
    __slots__ = ("fields", "operators", "rules", "consent_states")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_STATES_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[SegmentField]
    operators: _containers.RepeatedCompositeFieldContainer[SegmentOperator]
    rules: _containers.RepeatedScalarFieldContainer[str]
    consent_states: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fields: _Optional[_Iterable[_Union[SegmentField, _Mapping]]] = ..., operators: _Optional[_Iterable[_Union[SegmentOperator, _Mapping]]] = ..., rules: _Optional[_Iterable[str]] = ..., consent_states: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateTemplateRequest(_message.Message):
    __slots__ = ("template", "idempotency_key")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    template: Template
    idempotency_key: str
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class GetTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates", "next_page_token")
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    next_page_token: str
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTemplateRequest(_message.Message):
    __slots__ = ("template", "update_mask")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    template: Template
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class RenderPreviewRequest(_message.Message):
    __slots__ = ("template_id", "template", "contact_id", "merge_fields")
    class MergeFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    template: Template
    contact_id: str
    merge_fields: _containers.ScalarMap[str, str]
    def __init__(self, template_id: _Optional[str] = ..., template: _Optional[_Union[Template, _Mapping]] = ..., contact_id: _Optional[str] = ..., merge_fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RenderPreviewResponse(_message.Message):
    __slots__ = ("subject", "html_body", "text_body", "warnings")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    subject: str
    html_body: str
    text_body: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject: _Optional[str] = ..., html_body: _Optional[str] = ..., text_body: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "idempotency_key")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    idempotency_key: str
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: CampaignStatus
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "update_mask")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class ScheduleCampaignRequest(_message.Message):
    __slots__ = ("campaign_id", "send_at", "idempotency_key", "timezone", "recipient_local_time")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SEND_AT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    send_at: _timestamp_pb2.Timestamp
    idempotency_key: str
    timezone: str
    recipient_local_time: bool
    def __init__(self, campaign_id: _Optional[str] = ..., send_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., timezone: _Optional[str] = ..., recipient_local_time: _Optional[bool] = ...) -> None: ...

class ScheduleCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class SendCampaignNowRequest(_message.Message):
    __slots__ = ("campaign_id", "idempotency_key")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    idempotency_key: str
    def __init__(self, campaign_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SendCampaignNowResponse(_message.Message):
    __slots__ = ("campaign", "recipient_count")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    recipient_count: int
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., recipient_count: _Optional[int] = ...) -> None: ...

class PauseCampaignRequest(_message.Message):
    __slots__ = ("campaign_id", "reason", "idempotency_key")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    reason: str
    idempotency_key: str
    def __init__(self, campaign_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PauseCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class ResumeCampaignRequest(_message.Message):
    __slots__ = ("campaign_id", "idempotency_key")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    idempotency_key: str
    def __init__(self, campaign_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ResumeCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class CancelCampaignRequest(_message.Message):
    __slots__ = ("campaign_id", "reason", "idempotency_key")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    reason: str
    idempotency_key: str
    def __init__(self, campaign_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CancelCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignStatsRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetCampaignStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: CampaignStats
    def __init__(self, stats: _Optional[_Union[CampaignStats, _Mapping]] = ...) -> None: ...

class ExportContactsRequest(_message.Message):
    __slots__ = ("format", "list_id", "segment_id")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    format: ExportFormat
    list_id: str
    segment_id: str
    def __init__(self, format: _Optional[_Union[ExportFormat, str]] = ..., list_id: _Optional[str] = ..., segment_id: _Optional[str] = ...) -> None: ...

class ExportContactsResponse(_message.Message):
    __slots__ = ("chunk", "content_type", "filename", "contacts")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    content_type: str
    filename: str
    contacts: int
    def __init__(self, chunk: _Optional[bytes] = ..., content_type: _Optional[str] = ..., filename: _Optional[str] = ..., contacts: _Optional[int] = ...) -> None: ...

class FormField(_message.Message):
    __slots__ = ("name", "label", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    label: str
    required: bool
    def __init__(self, name: _Optional[str] = ..., label: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class PopupRules(_message.Message):
    __slots__ = ("delay_seconds", "scroll_percent", "exit_intent", "show_again_after_days")
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCROLL_PERCENT_FIELD_NUMBER: _ClassVar[int]
    EXIT_INTENT_FIELD_NUMBER: _ClassVar[int]
    SHOW_AGAIN_AFTER_DAYS_FIELD_NUMBER: _ClassVar[int]
    delay_seconds: int
    scroll_percent: int
    exit_intent: bool
    show_again_after_days: int
    def __init__(self, delay_seconds: _Optional[int] = ..., scroll_percent: _Optional[int] = ..., exit_intent: _Optional[bool] = ..., show_again_after_days: _Optional[int] = ...) -> None: ...

class Form(_message.Message):
    __slots__ = ("form_id", "name", "kind", "fields", "list_ids", "title", "description", "submit_label", "consent_text", "policy_document_id", "policy_version", "single_opt_in", "thank_you_message", "thank_you_url", "confirmed_message", "confirmed_url", "popup", "min_fill_seconds", "challenge_required", "locale", "active", "submission_count", "confirmed_count", "created_at", "updated_at", "deleted_at", "restorable_until")
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SINGLE_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_URL_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_URL_FIELD_NUMBER: _ClassVar[int]
    POPUP_FIELD_NUMBER: _ClassVar[int]
    MIN_FILL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    name: str
    kind: FormKind
    fields: _containers.RepeatedCompositeFieldContainer[FormField]
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    title: str
    description: str
    submit_label: str
    consent_text: str
    policy_document_id: str
    policy_version: str
    single_opt_in: bool
    thank_you_message: str
    thank_you_url: str
    confirmed_message: str
    confirmed_url: str
    popup: PopupRules
    min_fill_seconds: int
    challenge_required: bool
    locale: str
    active: bool
    submission_count: int
    confirmed_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    deleted_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, form_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[FormKind, str]] = ..., fields: _Optional[_Iterable[_Union[FormField, _Mapping]]] = ..., list_ids: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., submit_label: _Optional[str] = ..., consent_text: _Optional[str] = ..., policy_document_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., single_opt_in: _Optional[bool] = ..., thank_you_message: _Optional[str] = ..., thank_you_url: _Optional[str] = ..., confirmed_message: _Optional[str] = ..., confirmed_url: _Optional[str] = ..., popup: _Optional[_Union[PopupRules, _Mapping]] = ..., min_fill_seconds: _Optional[int] = ..., challenge_required: _Optional[bool] = ..., locale: _Optional[str] = ..., active: _Optional[bool] = ..., submission_count: _Optional[int] = ..., confirmed_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateFormRequest(_message.Message):
    __slots__ = ("form", "idempotency_key")
    FORM_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    form: Form
    idempotency_key: str
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: Form
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ...) -> None: ...

class GetFormRequest(_message.Message):
    __slots__ = ("form_id",)
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    def __init__(self, form_id: _Optional[str] = ...) -> None: ...

class GetFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: Form
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ...) -> None: ...

class ListFormsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "in_trash")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IN_TRASH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    in_trash: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., in_trash: _Optional[bool] = ...) -> None: ...

class ListFormsResponse(_message.Message):
    __slots__ = ("forms", "next_page_token")
    FORMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    forms: _containers.RepeatedCompositeFieldContainer[Form]
    next_page_token: str
    def __init__(self, forms: _Optional[_Iterable[_Union[Form, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateFormRequest(_message.Message):
    __slots__ = ("form", "update_mask")
    FORM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    form: Form
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: Form
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ...) -> None: ...

class DeleteFormRequest(_message.Message):
    __slots__ = ("form_id",)
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    def __init__(self, form_id: _Optional[str] = ...) -> None: ...

class DeleteFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: Form
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ...) -> None: ...

class RestoreFormRequest(_message.Message):
    __slots__ = ("form_id",)
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    def __init__(self, form_id: _Optional[str] = ...) -> None: ...

class RestoreFormResponse(_message.Message):
    __slots__ = ("form",)
    FORM_FIELD_NUMBER: _ClassVar[int]
    form: Form
    def __init__(self, form: _Optional[_Union[Form, _Mapping]] = ...) -> None: ...

class PublicForm(_message.Message):
    __slots__ = ("form_id", "kind", "fields", "title", "description", "submit_label", "consent_text", "policy_document_id", "policy_version", "popup", "challenge_required", "locale", "thank_you_message", "thank_you_url", "confirmed_message", "confirmed_url", "single_opt_in")
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POPUP_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_URL_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_URL_FIELD_NUMBER: _ClassVar[int]
    SINGLE_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    kind: FormKind
    fields: _containers.RepeatedCompositeFieldContainer[FormField]
    title: str
    description: str
    submit_label: str
    consent_text: str
    policy_document_id: str
    policy_version: str
    popup: PopupRules
    challenge_required: bool
    locale: str
    thank_you_message: str
    thank_you_url: str
    confirmed_message: str
    confirmed_url: str
    single_opt_in: bool
    def __init__(self, form_id: _Optional[str] = ..., kind: _Optional[_Union[FormKind, str]] = ..., fields: _Optional[_Iterable[_Union[FormField, _Mapping]]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., submit_label: _Optional[str] = ..., consent_text: _Optional[str] = ..., policy_document_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., popup: _Optional[_Union[PopupRules, _Mapping]] = ..., challenge_required: _Optional[bool] = ..., locale: _Optional[str] = ..., thank_you_message: _Optional[str] = ..., thank_you_url: _Optional[str] = ..., confirmed_message: _Optional[str] = ..., confirmed_url: _Optional[str] = ..., single_opt_in: _Optional[bool] = ...) -> None: ...

class GetPublicFormRequest(_message.Message):
    __slots__ = ("form_id",)
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    def __init__(self, form_id: _Optional[str] = ...) -> None: ...

class GetPublicFormResponse(_message.Message):
    __slots__ = ("form", "render_token")
    FORM_FIELD_NUMBER: _ClassVar[int]
    RENDER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    form: PublicForm
    render_token: str
    def __init__(self, form: _Optional[_Union[PublicForm, _Mapping]] = ..., render_token: _Optional[str] = ...) -> None: ...

class SubmitFormRequest(_message.Message):
    __slots__ = ("form_id", "email", "values", "consent_given", "honeypot", "render_token", "challenge_response", "client")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FORM_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_GIVEN_FIELD_NUMBER: _ClassVar[int]
    HONEYPOT_FIELD_NUMBER: _ClassVar[int]
    RENDER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    form_id: str
    email: str
    values: _containers.ScalarMap[str, str]
    consent_given: bool
    honeypot: str
    render_token: str
    challenge_response: str
    client: _types_pb2.ClientContext
    def __init__(self, form_id: _Optional[str] = ..., email: _Optional[str] = ..., values: _Optional[_Mapping[str, str]] = ..., consent_given: _Optional[bool] = ..., honeypot: _Optional[str] = ..., render_token: _Optional[str] = ..., challenge_response: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class SubmitFormResponse(_message.Message):
    __slots__ = ("thank_you_message", "thank_you_url", "confirmation_sent")
    THANK_YOU_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    THANK_YOU_URL_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_SENT_FIELD_NUMBER: _ClassVar[int]
    thank_you_message: str
    thank_you_url: str
    confirmation_sent: bool
    def __init__(self, thank_you_message: _Optional[str] = ..., thank_you_url: _Optional[str] = ..., confirmation_sent: _Optional[bool] = ...) -> None: ...

class RetryCampaignSendsRequest(_message.Message):
    __slots__ = ("campaign_id", "idempotency_key")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    idempotency_key: str
    def __init__(self, campaign_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RetryCampaignSendsResponse(_message.Message):
    __slots__ = ("campaign", "requeued_count", "skipped_count")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    REQUEUED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    requeued_count: int
    skipped_count: int
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., requeued_count: _Optional[int] = ..., skipped_count: _Optional[int] = ...) -> None: ...

class FrequencyCap(_message.Message):
    __slots__ = ("purpose_id", "max_messages", "window_days")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    max_messages: int
    window_days: int
    def __init__(self, purpose_id: _Optional[str] = ..., max_messages: _Optional[int] = ..., window_days: _Optional[int] = ...) -> None: ...

class SetFrequencyCapRequest(_message.Message):
    __slots__ = ("cap",)
    CAP_FIELD_NUMBER: _ClassVar[int]
    cap: FrequencyCap
    def __init__(self, cap: _Optional[_Union[FrequencyCap, _Mapping]] = ...) -> None: ...

class SetFrequencyCapResponse(_message.Message):
    __slots__ = ("cap",)
    CAP_FIELD_NUMBER: _ClassVar[int]
    cap: FrequencyCap
    def __init__(self, cap: _Optional[_Union[FrequencyCap, _Mapping]] = ...) -> None: ...

class ListFrequencyCapsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListFrequencyCapsResponse(_message.Message):
    __slots__ = ("caps",)
    CAPS_FIELD_NUMBER: _ClassVar[int]
    caps: _containers.RepeatedCompositeFieldContainer[FrequencyCap]
    def __init__(self, caps: _Optional[_Iterable[_Union[FrequencyCap, _Mapping]]] = ...) -> None: ...

class DeleteFrequencyCapRequest(_message.Message):
    __slots__ = ("purpose_id",)
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    def __init__(self, purpose_id: _Optional[str] = ...) -> None: ...

class DeleteFrequencyCapResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class ScreenCampaignContentRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class ScreenCampaignContentResponse(_message.Message):
    __slots__ = ("flags",)
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    flags: _containers.RepeatedCompositeFieldContainer[ContentFlag]
    def __init__(self, flags: _Optional[_Iterable[_Union[ContentFlag, _Mapping]]] = ...) -> None: ...

class ContactPolicy(_message.Message):
    __slots__ = ("delete_inactive",)
    DELETE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    delete_inactive: bool
    def __init__(self, delete_inactive: _Optional[bool] = ...) -> None: ...

class GetContactPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetContactPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: ContactPolicy
    def __init__(self, policy: _Optional[_Union[ContactPolicy, _Mapping]] = ...) -> None: ...

class SetContactPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: ContactPolicy
    def __init__(self, policy: _Optional[_Union[ContactPolicy, _Mapping]] = ...) -> None: ...

class SetContactPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: ContactPolicy
    def __init__(self, policy: _Optional[_Union[ContactPolicy, _Mapping]] = ...) -> None: ...

class MyContactFields(_message.Message):
    __slots__ = ("first_name", "last_name", "locale", "timezone")
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    first_name: str
    last_name: str
    locale: str
    timezone: str
    def __init__(self, first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., locale: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class GetMyContactRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class GetMyContactResponse(_message.Message):
    __slots__ = ("found", "fields")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    found: bool
    fields: MyContactFields
    def __init__(self, found: _Optional[bool] = ..., fields: _Optional[_Union[MyContactFields, _Mapping]] = ...) -> None: ...

class CorrectMyContactRequest(_message.Message):
    __slots__ = ("token", "fields", "update_mask")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    token: str
    fields: MyContactFields
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, token: _Optional[str] = ..., fields: _Optional[_Union[MyContactFields, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class CorrectMyContactResponse(_message.Message):
    __slots__ = ("fields", "changed_fields")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: MyContactFields
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fields: _Optional[_Union[MyContactFields, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteListRequest(_message.Message):
    __slots__ = ("list_id",)
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    def __init__(self, list_id: _Optional[str] = ...) -> None: ...

class DeleteListResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: ContactList
    def __init__(self, list: _Optional[_Union[ContactList, _Mapping]] = ...) -> None: ...

class RestoreListRequest(_message.Message):
    __slots__ = ("list_id",)
    LIST_ID_FIELD_NUMBER: _ClassVar[int]
    list_id: str
    def __init__(self, list_id: _Optional[str] = ...) -> None: ...

class RestoreListResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: ContactList
    def __init__(self, list: _Optional[_Union[ContactList, _Mapping]] = ...) -> None: ...

class DeleteTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class DeleteTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class RestoreTemplateRequest(_message.Message):
    __slots__ = ("template_id",)
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    def __init__(self, template_id: _Optional[str] = ...) -> None: ...

class RestoreTemplateResponse(_message.Message):
    __slots__ = ("template",)
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    template: Template
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class DeleteCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class DeleteCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class RestoreCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class RestoreCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...
