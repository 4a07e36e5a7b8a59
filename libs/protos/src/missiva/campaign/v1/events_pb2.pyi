import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.campaign.v1 import campaign_service_pb2 as _campaign_service_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from missiva.consent.v1 import consent_service_pb2 as _consent_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactCreated(_message.Message):
    __slots__ = ("contact_id", "person_key", "source", "list_ids")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    source: _campaign_service_pb2.ContactSource
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., source: _Optional[_Union[_campaign_service_pb2.ContactSource, str]] = ..., list_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactsImported(_message.Message):
    __slots__ = ("import_id", "chunk", "contacts", "list_ids", "part", "parts")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    LIST_IDS_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    chunk: int
    contacts: _containers.RepeatedCompositeFieldContainer[CreatedContact]
    list_ids: _containers.RepeatedScalarFieldContainer[str]
    part: int
    parts: int
    def __init__(self, import_id: _Optional[str] = ..., chunk: _Optional[int] = ..., contacts: _Optional[_Iterable[_Union[CreatedContact, _Mapping]]] = ..., list_ids: _Optional[_Iterable[str]] = ..., part: _Optional[int] = ..., parts: _Optional[int] = ...) -> None: ...

class CreatedContact(_message.Message):
    __slots__ = ("contact_id", "person_key")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ...) -> None: ...

class ContactUpdated(_message.Message):
    __slots__ = ("contact_id", "person_key", "changed_fields", "previous_person_key", "by_data_subject")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    BY_DATA_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    previous_person_key: str
    by_data_subject: bool
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., changed_fields: _Optional[_Iterable[str]] = ..., previous_person_key: _Optional[str] = ..., by_data_subject: _Optional[bool] = ...) -> None: ...

class ContactDeleted(_message.Message):
    __slots__ = ("contact_id", "person_key")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ...) -> None: ...

class CampaignScheduled(_message.Message):
    __slots__ = ("campaign_id", "send_at", "category", "purpose_id")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SEND_AT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    send_at: _timestamp_pb2.Timestamp
    category: _types_pb2.EmailCategory
    purpose_id: str
    def __init__(self, campaign_id: _Optional[str] = ..., send_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class CampaignStarted(_message.Message):
    __slots__ = ("campaign_id", "recipient_count", "excluded_count", "category", "batch_count")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    recipient_count: int
    excluded_count: int
    category: _types_pb2.EmailCategory
    batch_count: int
    def __init__(self, campaign_id: _Optional[str] = ..., recipient_count: _Optional[int] = ..., excluded_count: _Optional[int] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., batch_count: _Optional[int] = ...) -> None: ...

class CampaignPaused(_message.Message):
    __slots__ = ("campaign_id", "reason", "paused_by_user_id")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PAUSED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    reason: str
    paused_by_user_id: str
    def __init__(self, campaign_id: _Optional[str] = ..., reason: _Optional[str] = ..., paused_by_user_id: _Optional[str] = ...) -> None: ...

class CampaignResumed(_message.Message):
    __slots__ = ("campaign_id", "resumed_by_user_id")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    RESUMED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    resumed_by_user_id: str
    def __init__(self, campaign_id: _Optional[str] = ..., resumed_by_user_id: _Optional[str] = ...) -> None: ...

class CampaignCompleted(_message.Message):
    __slots__ = ("campaign_id", "sent_count", "suppressed_count", "failed_count")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    sent_count: int
    suppressed_count: int
    failed_count: int
    def __init__(self, campaign_id: _Optional[str] = ..., sent_count: _Optional[int] = ..., suppressed_count: _Optional[int] = ..., failed_count: _Optional[int] = ...) -> None: ...

class CampaignCancelled(_message.Message):
    __slots__ = ("campaign_id", "reason", "cancelled_by_user_id", "sent_count")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    reason: str
    cancelled_by_user_id: str
    sent_count: int
    def __init__(self, campaign_id: _Optional[str] = ..., reason: _Optional[str] = ..., cancelled_by_user_id: _Optional[str] = ..., sent_count: _Optional[int] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("contact_id", "person_key", "email", "merge_fields", "engagement_tracking")
    class MergeFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_TRACKING_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    email: str
    merge_fields: _containers.ScalarMap[str, str]
    engagement_tracking: bool
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., email: _Optional[str] = ..., merge_fields: _Optional[_Mapping[str, str]] = ..., engagement_tracking: _Optional[bool] = ...) -> None: ...

class RenderedContent(_message.Message):
    __slots__ = ("subject", "preheader", "html_body", "text_body", "template_id", "template_revision")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PREHEADER_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    subject: str
    preheader: str
    html_body: str
    text_body: str
    template_id: str
    template_revision: int
    def __init__(self, subject: _Optional[str] = ..., preheader: _Optional[str] = ..., html_body: _Optional[str] = ..., text_body: _Optional[str] = ..., template_id: _Optional[str] = ..., template_revision: _Optional[int] = ...) -> None: ...

class SendBatch(_message.Message):
    __slots__ = ("campaign_id", "batch_id", "recipients", "content", "category", "purpose_id", "sender", "credit_reservation_id")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CREDIT_RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    batch_id: str
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    content: RenderedContent
    category: _types_pb2.EmailCategory
    purpose_id: str
    sender: _campaign_service_pb2.Sender
    credit_reservation_id: str
    def __init__(self, campaign_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., content: _Optional[_Union[RenderedContent, _Mapping]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., purpose_id: _Optional[str] = ..., sender: _Optional[_Union[_campaign_service_pb2.Sender, _Mapping]] = ..., credit_reservation_id: _Optional[str] = ...) -> None: ...

class EmitCampaignBatches(_message.Message):
    __slots__ = ("campaign_id", "generation")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    generation: int
    def __init__(self, campaign_id: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class SendDocumentNoticeCommand(_message.Message):
    __slots__ = ("document_id", "version", "kind", "title", "locale", "url", "summary_of_changes", "published_at", "effective_at", "locales", "fallback_locale", "resume_after_contact_id")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OF_CHANGES_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    LOCALES_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_LOCALE_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    version: str
    kind: _consent_service_pb2.DocumentKind
    title: str
    locale: str
    url: str
    summary_of_changes: str
    published_at: _timestamp_pb2.Timestamp
    effective_at: _timestamp_pb2.Timestamp
    locales: _containers.RepeatedScalarFieldContainer[str]
    fallback_locale: str
    resume_after_contact_id: str
    def __init__(self, document_id: _Optional[str] = ..., version: _Optional[str] = ..., kind: _Optional[_Union[_consent_service_pb2.DocumentKind, str]] = ..., title: _Optional[str] = ..., locale: _Optional[str] = ..., url: _Optional[str] = ..., summary_of_changes: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., effective_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., locales: _Optional[_Iterable[str]] = ..., fallback_locale: _Optional[str] = ..., resume_after_contact_id: _Optional[str] = ...) -> None: ...

class ImportedConsent(_message.Message):
    __slots__ = ("contact_id", "person_key", "line", "email", "locale", "display_name")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    person_key: str
    line: int
    email: str
    locale: str
    display_name: str
    def __init__(self, contact_id: _Optional[str] = ..., person_key: _Optional[str] = ..., line: _Optional[int] = ..., email: _Optional[str] = ..., locale: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class RecordImportedConsentsCommand(_message.Message):
    __slots__ = ("import_id", "purpose_id", "double_opt_in", "collected_by", "given_at", "consent_text", "consents", "chunk", "part", "parts")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_BY_FIELD_NUMBER: _ClassVar[int]
    GIVEN_AT_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    purpose_id: str
    double_opt_in: bool
    collected_by: str
    given_at: _timestamp_pb2.Timestamp
    consent_text: str
    consents: _containers.RepeatedCompositeFieldContainer[ImportedConsent]
    chunk: int
    part: int
    parts: int
    def __init__(self, import_id: _Optional[str] = ..., purpose_id: _Optional[str] = ..., double_opt_in: _Optional[bool] = ..., collected_by: _Optional[str] = ..., given_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consent_text: _Optional[str] = ..., consents: _Optional[_Iterable[_Union[ImportedConsent, _Mapping]]] = ..., chunk: _Optional[int] = ..., part: _Optional[int] = ..., parts: _Optional[int] = ...) -> None: ...
