import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from missiva.privacy.v1 import privacy_service_pb2 as _privacy_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PurposeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_KIND_UNSPECIFIED: _ClassVar[PurposeKind]
    PURPOSE_KIND_EMAIL: _ClassVar[PurposeKind]
    PURPOSE_KIND_ENGAGEMENT_TRACKING: _ClassVar[PurposeKind]

class PurposeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_STATE_UNSPECIFIED: _ClassVar[PurposeState]
    PURPOSE_STATE_ACTIVE: _ClassVar[PurposeState]
    PURPOSE_STATE_ARCHIVED: _ClassVar[PurposeState]

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_NOT_RECORDED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_PENDING: _ClassVar[ConsentStatus]
    CONSENT_STATUS_GRANTED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_WITHDRAWN: _ClassVar[ConsentStatus]
    CONSENT_STATUS_OBJECTED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_RESTRICTED: _ClassVar[ConsentStatus]

class ConsentAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_ACTION_UNSPECIFIED: _ClassVar[ConsentAction]
    CONSENT_ACTION_REQUESTED: _ClassVar[ConsentAction]
    CONSENT_ACTION_GRANTED: _ClassVar[ConsentAction]
    CONSENT_ACTION_WITHDRAWN: _ClassVar[ConsentAction]
    CONSENT_ACTION_OBJECTED: _ClassVar[ConsentAction]
    CONSENT_ACTION_CONFIRMED: _ClassVar[ConsentAction]
    CONSENT_ACTION_RESTRICTED: _ClassVar[ConsentAction]
    CONSENT_ACTION_LIFTED: _ClassVar[ConsentAction]
    CONSENT_ACTION_ACCEPTED: _ClassVar[ConsentAction]

class ConsentSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_SOURCE_UNSPECIFIED: _ClassVar[ConsentSource]
    CONSENT_SOURCE_FORM: _ClassVar[ConsentSource]
    CONSENT_SOURCE_IMPORT: _ClassVar[ConsentSource]
    CONSENT_SOURCE_API: _ClassVar[ConsentSource]
    CONSENT_SOURCE_SIGN_UP: _ClassVar[ConsentSource]
    CONSENT_SOURCE_CONFIRMATION_LINK: _ClassVar[ConsentSource]
    CONSENT_SOURCE_UNSUBSCRIBE_LINK: _ClassVar[ConsentSource]
    CONSENT_SOURCE_PREFERENCE_CENTER: _ClassVar[ConsentSource]
    CONSENT_SOURCE_ADMIN: _ClassVar[ConsentSource]
    CONSENT_SOURCE_PRIVACY_REQUEST: _ClassVar[ConsentSource]
    CONSENT_SOURCE_DELIVERY_FEEDBACK: _ClassVar[ConsentSource]

class DocumentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_KIND_UNSPECIFIED: _ClassVar[DocumentKind]
    DOCUMENT_KIND_TERMS_OF_SERVICE: _ClassVar[DocumentKind]
    DOCUMENT_KIND_PRIVACY_POLICY: _ClassVar[DocumentKind]
    DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT: _ClassVar[DocumentKind]
    DOCUMENT_KIND_COOKIE_POLICY: _ClassVar[DocumentKind]
    DOCUMENT_KIND_SUB_PROCESSOR_LIST: _ClassVar[DocumentKind]
    DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE: _ClassVar[DocumentKind]

class SuppressionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUPPRESSION_REASON_UNSPECIFIED: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_UNSUBSCRIBED: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_HARD_BOUNCE: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_COMPLAINT: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_MANUAL: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_ERASED: _ClassVar[SuppressionReason]

class PrivacyRequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIVACY_REQUEST_STATUS_UNSPECIFIED: _ClassVar[PrivacyRequestStatus]
    PRIVACY_REQUEST_STATUS_OPEN: _ClassVar[PrivacyRequestStatus]
    PRIVACY_REQUEST_STATUS_IN_PROGRESS: _ClassVar[PrivacyRequestStatus]
    PRIVACY_REQUEST_STATUS_COMPLETED: _ClassVar[PrivacyRequestStatus]
    PRIVACY_REQUEST_STATUS_REJECTED: _ClassVar[PrivacyRequestStatus]

class LinkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINK_KIND_UNSPECIFIED: _ClassVar[LinkKind]
    LINK_KIND_UNSUBSCRIBE: _ClassVar[LinkKind]
    LINK_KIND_PREFERENCES: _ClassVar[LinkKind]
    LINK_KIND_CONFIRM: _ClassVar[LinkKind]
    LINK_KIND_MY_DATA: _ClassVar[LinkKind]
PURPOSE_KIND_UNSPECIFIED: PurposeKind
PURPOSE_KIND_EMAIL: PurposeKind
PURPOSE_KIND_ENGAGEMENT_TRACKING: PurposeKind
PURPOSE_STATE_UNSPECIFIED: PurposeState
PURPOSE_STATE_ACTIVE: PurposeState
PURPOSE_STATE_ARCHIVED: PurposeState
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_NOT_RECORDED: ConsentStatus
CONSENT_STATUS_PENDING: ConsentStatus
CONSENT_STATUS_GRANTED: ConsentStatus
CONSENT_STATUS_WITHDRAWN: ConsentStatus
CONSENT_STATUS_OBJECTED: ConsentStatus
CONSENT_STATUS_RESTRICTED: ConsentStatus
CONSENT_ACTION_UNSPECIFIED: ConsentAction
CONSENT_ACTION_REQUESTED: ConsentAction
CONSENT_ACTION_GRANTED: ConsentAction
CONSENT_ACTION_WITHDRAWN: ConsentAction
CONSENT_ACTION_OBJECTED: ConsentAction
CONSENT_ACTION_CONFIRMED: ConsentAction
CONSENT_ACTION_RESTRICTED: ConsentAction
CONSENT_ACTION_LIFTED: ConsentAction
CONSENT_ACTION_ACCEPTED: ConsentAction
CONSENT_SOURCE_UNSPECIFIED: ConsentSource
CONSENT_SOURCE_FORM: ConsentSource
CONSENT_SOURCE_IMPORT: ConsentSource
CONSENT_SOURCE_API: ConsentSource
CONSENT_SOURCE_SIGN_UP: ConsentSource
CONSENT_SOURCE_CONFIRMATION_LINK: ConsentSource
CONSENT_SOURCE_UNSUBSCRIBE_LINK: ConsentSource
CONSENT_SOURCE_PREFERENCE_CENTER: ConsentSource
CONSENT_SOURCE_ADMIN: ConsentSource
CONSENT_SOURCE_PRIVACY_REQUEST: ConsentSource
CONSENT_SOURCE_DELIVERY_FEEDBACK: ConsentSource
DOCUMENT_KIND_UNSPECIFIED: DocumentKind
DOCUMENT_KIND_TERMS_OF_SERVICE: DocumentKind
DOCUMENT_KIND_PRIVACY_POLICY: DocumentKind
DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT: DocumentKind
DOCUMENT_KIND_COOKIE_POLICY: DocumentKind
DOCUMENT_KIND_SUB_PROCESSOR_LIST: DocumentKind
DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE: DocumentKind
SUPPRESSION_REASON_UNSPECIFIED: SuppressionReason
SUPPRESSION_REASON_UNSUBSCRIBED: SuppressionReason
SUPPRESSION_REASON_HARD_BOUNCE: SuppressionReason
SUPPRESSION_REASON_COMPLAINT: SuppressionReason
SUPPRESSION_REASON_MANUAL: SuppressionReason
SUPPRESSION_REASON_ERASED: SuppressionReason
PRIVACY_REQUEST_STATUS_UNSPECIFIED: PrivacyRequestStatus
PRIVACY_REQUEST_STATUS_OPEN: PrivacyRequestStatus
PRIVACY_REQUEST_STATUS_IN_PROGRESS: PrivacyRequestStatus
PRIVACY_REQUEST_STATUS_COMPLETED: PrivacyRequestStatus
PRIVACY_REQUEST_STATUS_REJECTED: PrivacyRequestStatus
LINK_KIND_UNSPECIFIED: LinkKind
LINK_KIND_UNSUBSCRIBE: LinkKind
LINK_KIND_PREFERENCES: LinkKind
LINK_KIND_CONFIRM: LinkKind
LINK_KIND_MY_DATA: LinkKind

class Purpose(_message.Message):
    __slots__ = ("purpose_id", "key", "name", "description", "kind", "category", "legal_basis", "double_opt_in", "max_emails_per_month", "state", "created_at", "updated_at", "default_enabled", "frequency_cap_count", "frequency_cap_days", "changeable")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    MAX_EMAILS_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ENABLED_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CAP_COUNT_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_CAP_DAYS_FIELD_NUMBER: _ClassVar[int]
    CHANGEABLE_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    key: str
    name: str
    description: str
    kind: PurposeKind
    category: _types_pb2.EmailCategory
    legal_basis: _types_pb2.LegalBasis
    double_opt_in: bool
    max_emails_per_month: int
    state: PurposeState
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    default_enabled: bool
    frequency_cap_count: int
    frequency_cap_days: int
    changeable: bool
    def __init__(self, purpose_id: _Optional[str] = ..., key: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., kind: _Optional[_Union[PurposeKind, str]] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., legal_basis: _Optional[_Union[_types_pb2.LegalBasis, str]] = ..., double_opt_in: _Optional[bool] = ..., max_emails_per_month: _Optional[int] = ..., state: _Optional[_Union[PurposeState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., default_enabled: _Optional[bool] = ..., frequency_cap_count: _Optional[int] = ..., frequency_cap_days: _Optional[int] = ..., changeable: _Optional[bool] = ...) -> None: ...

class LegalDocumentVersion(_message.Message):
    __slots__ = ("document_id", "kind", "version", "title", "locale", "body_markdown", "body_sha256", "url", "checkbox_text", "material", "summary_of_changes", "published_at", "effective_at", "account_id", "notice_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    BODY_MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OF_CHANGES_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    kind: DocumentKind
    version: str
    title: str
    locale: str
    body_markdown: str
    body_sha256: str
    url: str
    checkbox_text: str
    material: bool
    summary_of_changes: str
    published_at: _timestamp_pb2.Timestamp
    effective_at: _timestamp_pb2.Timestamp
    account_id: str
    notice_at: _timestamp_pb2.Timestamp
    def __init__(self, document_id: _Optional[str] = ..., kind: _Optional[_Union[DocumentKind, str]] = ..., version: _Optional[str] = ..., title: _Optional[str] = ..., locale: _Optional[str] = ..., body_markdown: _Optional[str] = ..., body_sha256: _Optional[str] = ..., url: _Optional[str] = ..., checkbox_text: _Optional[str] = ..., material: _Optional[bool] = ..., summary_of_changes: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., effective_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., account_id: _Optional[str] = ..., notice_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsentEvidence(_message.Message):
    __slots__ = ("source", "source_detail", "checkbox_text", "policy_document_id", "policy_version", "client", "given_at")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    GIVEN_AT_FIELD_NUMBER: _ClassVar[int]
    source: ConsentSource
    source_detail: str
    checkbox_text: str
    policy_document_id: str
    policy_version: str
    client: _types_pb2.ClientContext
    given_at: _timestamp_pb2.Timestamp
    def __init__(self, source: _Optional[_Union[ConsentSource, str]] = ..., source_detail: _Optional[str] = ..., checkbox_text: _Optional[str] = ..., policy_document_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., given_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsentRecord(_message.Message):
    __slots__ = ("record_id", "person_key", "purpose_id", "action", "resulting_status", "source", "source_detail", "checkbox_text", "policy_document_id", "policy_version", "ip_hash", "user_agent", "occurred_at", "recorded_at", "version", "legal_basis", "sequence", "previous_hash", "entry_hash", "campaign_id", "account_id", "purpose_key")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESULTING_STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    IP_HASH_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    person_key: str
    purpose_id: str
    action: ConsentAction
    resulting_status: ConsentStatus
    source: ConsentSource
    source_detail: str
    checkbox_text: str
    policy_document_id: str
    policy_version: str
    ip_hash: str
    user_agent: str
    occurred_at: _timestamp_pb2.Timestamp
    recorded_at: _timestamp_pb2.Timestamp
    version: int
    legal_basis: _types_pb2.LegalBasis
    sequence: int
    previous_hash: str
    entry_hash: str
    campaign_id: str
    account_id: str
    purpose_key: str
    def __init__(self, record_id: _Optional[str] = ..., person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., action: _Optional[_Union[ConsentAction, str]] = ..., resulting_status: _Optional[_Union[ConsentStatus, str]] = ..., source: _Optional[_Union[ConsentSource, str]] = ..., source_detail: _Optional[str] = ..., checkbox_text: _Optional[str] = ..., policy_document_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., ip_hash: _Optional[str] = ..., user_agent: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., legal_basis: _Optional[_Union[_types_pb2.LegalBasis, str]] = ..., sequence: _Optional[int] = ..., previous_hash: _Optional[str] = ..., entry_hash: _Optional[str] = ..., campaign_id: _Optional[str] = ..., account_id: _Optional[str] = ..., purpose_key: _Optional[str] = ...) -> None: ...

class PurposeConsent(_message.Message):
    __slots__ = ("purpose_id", "purpose_key", "status", "allowed", "changed_at", "version")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    purpose_key: str
    status: ConsentStatus
    allowed: bool
    changed_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., allowed: _Optional[bool] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ConsentCheck(_message.Message):
    __slots__ = ("person_key", "allowed", "status", "suppressed", "version")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    allowed: bool
    status: ConsentStatus
    suppressed: bool
    version: int
    def __init__(self, person_key: _Optional[str] = ..., allowed: _Optional[bool] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., suppressed: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class PreferenceItem(_message.Message):
    __slots__ = ("purpose_id", "name", "description", "category", "enabled", "changeable", "status", "legal_basis")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CHANGEABLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    name: str
    description: str
    category: _types_pb2.EmailCategory
    enabled: bool
    changeable: bool
    status: ConsentStatus
    legal_basis: _types_pb2.LegalBasis
    def __init__(self, purpose_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., enabled: _Optional[bool] = ..., changeable: _Optional[bool] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., legal_basis: _Optional[_Union[_types_pb2.LegalBasis, str]] = ...) -> None: ...

class PreferenceChange(_message.Message):
    __slots__ = ("purpose_id", "enabled")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    enabled: bool
    def __init__(self, purpose_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SenderIdentity(_message.Message):
    __slots__ = ("name", "postal_address", "privacy_contact", "privacy_policy_url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSTAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_CONTACT_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_POLICY_URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    postal_address: str
    privacy_contact: str
    privacy_policy_url: str
    def __init__(self, name: _Optional[str] = ..., postal_address: _Optional[str] = ..., privacy_contact: _Optional[str] = ..., privacy_policy_url: _Optional[str] = ...) -> None: ...

class Suppression(_message.Message):
    __slots__ = ("person_key", "email", "reason", "note", "source_detail", "created_at", "purpose_id", "source", "platform_wide")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_WIDE_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    email: str
    reason: SuppressionReason
    note: str
    source_detail: str
    created_at: _timestamp_pb2.Timestamp
    purpose_id: str
    source: ConsentSource
    platform_wide: bool
    def __init__(self, person_key: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[_Union[SuppressionReason, str]] = ..., note: _Optional[str] = ..., source_detail: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purpose_id: _Optional[str] = ..., source: _Optional[_Union[ConsentSource, str]] = ..., platform_wide: _Optional[bool] = ...) -> None: ...

class SuppressionImportRow(_message.Message):
    __slots__ = ("row_number", "email", "note")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    email: str
    note: str
    def __init__(self, row_number: _Optional[int] = ..., email: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ImportRowError(_message.Message):
    __slots__ = ("row_number", "message")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    message: str
    def __init__(self, row_number: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ServiceProgress(_message.Message):
    __slots__ = ("service", "completed", "completed_at", "erased", "retained")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    service: str
    completed: bool
    completed_at: _timestamp_pb2.Timestamp
    erased: _containers.RepeatedCompositeFieldContainer[_privacy_service_pb2.ErasedItem]
    retained: _containers.RepeatedCompositeFieldContainer[_privacy_service_pb2.RetainedItem]
    def __init__(self, service: _Optional[str] = ..., completed: _Optional[bool] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erased: _Optional[_Iterable[_Union[_privacy_service_pb2.ErasedItem, _Mapping]]] = ..., retained: _Optional[_Iterable[_Union[_privacy_service_pb2.RetainedItem, _Mapping]]] = ...) -> None: ...

class PrivacyRequest(_message.Message):
    __slots__ = ("request_id", "kind", "person", "status", "opened_at", "due_at", "extension_reason", "completed_at", "services", "export_url", "rejection_reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_REASON_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    EXPORT_URL_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: _privacy_service_pb2.PrivacyRequestKind
    person: _types_pb2.PersonRef
    status: PrivacyRequestStatus
    opened_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    extension_reason: str
    completed_at: _timestamp_pb2.Timestamp
    services: _containers.RepeatedCompositeFieldContainer[ServiceProgress]
    export_url: str
    rejection_reason: str
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[_privacy_service_pb2.PrivacyRequestKind, str]] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., status: _Optional[_Union[PrivacyRequestStatus, str]] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., extension_reason: _Optional[str] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., services: _Optional[_Iterable[_Union[ServiceProgress, _Mapping]]] = ..., export_url: _Optional[str] = ..., rejection_reason: _Optional[str] = ...) -> None: ...

class CreatePurposeRequest(_message.Message):
    __slots__ = ("purpose", "idempotency_key")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    idempotency_key: str
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreatePurposeResponse(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ...) -> None: ...

class ListPurposesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_archived")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_archived: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_archived: _Optional[bool] = ...) -> None: ...

class ListPurposesResponse(_message.Message):
    __slots__ = ("purposes", "next_page_token")
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[Purpose]
    next_page_token: str
    def __init__(self, purposes: _Optional[_Iterable[_Union[Purpose, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePurposeRequest(_message.Message):
    __slots__ = ("purpose", "update_mask")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePurposeResponse(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ...) -> None: ...

class PublishDocumentVersionRequest(_message.Message):
    __slots__ = ("document", "idempotency_key")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    document: LegalDocumentVersion
    idempotency_key: str
    def __init__(self, document: _Optional[_Union[LegalDocumentVersion, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PublishDocumentVersionResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: LegalDocumentVersion
    def __init__(self, document: _Optional[_Union[LegalDocumentVersion, _Mapping]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("document_id", "version", "locale")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    version: str
    locale: str
    def __init__(self, document_id: _Optional[str] = ..., version: _Optional[str] = ..., locale: _Optional[str] = ...) -> None: ...

class GetDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: LegalDocumentVersion
    def __init__(self, document: _Optional[_Union[LegalDocumentVersion, _Mapping]] = ...) -> None: ...

class ListDocumentVersionsRequest(_message.Message):
    __slots__ = ("document_id", "page_size", "page_token")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    page_size: int
    page_token: str
    def __init__(self, document_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDocumentVersionsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[LegalDocumentVersion]
    next_page_token: str
    def __init__(self, documents: _Optional[_Iterable[_Union[LegalDocumentVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCurrentDocumentsRequest(_message.Message):
    __slots__ = ("kinds", "locale")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[DocumentKind]
    locale: str
    def __init__(self, kinds: _Optional[_Iterable[_Union[DocumentKind, str]]] = ..., locale: _Optional[str] = ...) -> None: ...

class GetCurrentDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[LegalDocumentVersion]
    def __init__(self, documents: _Optional[_Iterable[_Union[LegalDocumentVersion, _Mapping]]] = ...) -> None: ...

class RecordConsentRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "evidence", "idempotency_key")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    evidence: ConsentEvidence
    idempotency_key: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., evidence: _Optional[_Union[ConsentEvidence, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RecordConsentResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ConsentRecord
    def __init__(self, record: _Optional[_Union[ConsentRecord, _Mapping]] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "evidence", "reason", "idempotency_key")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    evidence: ConsentEvidence
    reason: str
    idempotency_key: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., evidence: _Optional[_Union[ConsentEvidence, _Mapping]] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class WithdrawConsentResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ...) -> None: ...

class GetConsentStateRequest(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ...) -> None: ...

class GetConsentStateResponse(_message.Message):
    __slots__ = ("purposes", "suppressed")
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[PurposeConsent]
    suppressed: bool
    def __init__(self, purposes: _Optional[_Iterable[_Union[PurposeConsent, _Mapping]]] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class CheckConsentRequest(_message.Message):
    __slots__ = ("person", "purpose_id")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class CheckConsentResponse(_message.Message):
    __slots__ = ("check",)
    CHECK_FIELD_NUMBER: _ClassVar[int]
    check: ConsentCheck
    def __init__(self, check: _Optional[_Union[ConsentCheck, _Mapping]] = ...) -> None: ...

class BatchCheckConsentRequest(_message.Message):
    __slots__ = ("purpose_id", "person_keys")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEYS_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    person_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, purpose_id: _Optional[str] = ..., person_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchCheckConsentResponse(_message.Message):
    __slots__ = ("checks",)
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[ConsentCheck]
    def __init__(self, checks: _Optional[_Iterable[_Union[ConsentCheck, _Mapping]]] = ...) -> None: ...

class StreamCheckConsentRequest(_message.Message):
    __slots__ = ("purpose_id", "person_keys", "chunk_size")
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEYS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    purpose_id: str
    person_keys: _containers.RepeatedScalarFieldContainer[str]
    chunk_size: int
    def __init__(self, purpose_id: _Optional[str] = ..., person_keys: _Optional[_Iterable[str]] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class StreamCheckConsentResponse(_message.Message):
    __slots__ = ("checks",)
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[ConsentCheck]
    def __init__(self, checks: _Optional[_Iterable[_Union[ConsentCheck, _Mapping]]] = ...) -> None: ...

class StartDoubleOptInRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "evidence", "locale", "idempotency_key", "purpose_ids", "display_name")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_IDS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    evidence: ConsentEvidence
    locale: str
    idempotency_key: str
    purpose_ids: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., evidence: _Optional[_Union[ConsentEvidence, _Mapping]] = ..., locale: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., purpose_ids: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ...) -> None: ...

class StartDoubleOptInResponse(_message.Message):
    __slots__ = ("confirmation_id", "record", "expires_at", "records")
    CONFIRMATION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    confirmation_id: str
    record: ConsentRecord
    expires_at: _timestamp_pb2.Timestamp
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    def __init__(self, confirmation_id: _Optional[str] = ..., record: _Optional[_Union[ConsentRecord, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ...) -> None: ...

class ConfirmDoubleOptInRequest(_message.Message):
    __slots__ = ("token", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    client: _types_pb2.ClientContext
    def __init__(self, token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class ConfirmDoubleOptInResponse(_message.Message):
    __slots__ = ("record", "purpose_name", "records", "purpose_names")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_NAME_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_NAMES_FIELD_NUMBER: _ClassVar[int]
    record: ConsentRecord
    purpose_name: str
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    purpose_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, record: _Optional[_Union[ConsentRecord, _Mapping]] = ..., purpose_name: _Optional[str] = ..., records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ..., purpose_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ResendConfirmationRequest(_message.Message):
    __slots__ = ("confirmation_id", "idempotency_key")
    CONFIRMATION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    confirmation_id: str
    idempotency_key: str
    def __init__(self, confirmation_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ResendConfirmationResponse(_message.Message):
    __slots__ = ("expires_at",)
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("token", "one_click", "client", "all_purposes")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ONE_CLICK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    ALL_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    token: str
    one_click: bool
    client: _types_pb2.ClientContext
    all_purposes: bool
    def __init__(self, token: _Optional[str] = ..., one_click: _Optional[bool] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., all_purposes: _Optional[bool] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ("purpose_ids", "purpose_names", "preferences_token", "already_unsubscribed")
    PURPOSE_IDS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_NAMES_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALREADY_UNSUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    purpose_ids: _containers.RepeatedScalarFieldContainer[str]
    purpose_names: _containers.RepeatedScalarFieldContainer[str]
    preferences_token: str
    already_unsubscribed: bool
    def __init__(self, purpose_ids: _Optional[_Iterable[str]] = ..., purpose_names: _Optional[_Iterable[str]] = ..., preferences_token: _Optional[str] = ..., already_unsubscribed: _Optional[bool] = ...) -> None: ...

class GetPreferencesRequest(_message.Message):
    __slots__ = ("token", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    client: _types_pb2.ClientContext
    def __init__(self, token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class GetPreferencesResponse(_message.Message):
    __slots__ = ("items", "sender", "engagement_tracking", "person_key", "history")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_TRACKING_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[PreferenceItem]
    sender: SenderIdentity
    engagement_tracking: bool
    person_key: str
    history: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    def __init__(self, items: _Optional[_Iterable[_Union[PreferenceItem, _Mapping]]] = ..., sender: _Optional[_Union[SenderIdentity, _Mapping]] = ..., engagement_tracking: _Optional[bool] = ..., person_key: _Optional[str] = ..., history: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ...) -> None: ...

class UpdatePreferencesRequest(_message.Message):
    __slots__ = ("token", "changes", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    changes: _containers.RepeatedCompositeFieldContainer[PreferenceChange]
    client: _types_pb2.ClientContext
    def __init__(self, token: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[PreferenceChange, _Mapping]]] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class UpdatePreferencesResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[PreferenceItem]
    def __init__(self, items: _Optional[_Iterable[_Union[PreferenceItem, _Mapping]]] = ...) -> None: ...

class ExportProofRequest(_message.Message):
    __slots__ = ("person", "purpose_id")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class ExportProofResponse(_message.Message):
    __slots__ = ("records", "documents", "bundle_json")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_JSON_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    documents: _containers.RepeatedCompositeFieldContainer[LegalDocumentVersion]
    bundle_json: str
    def __init__(self, records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ..., documents: _Optional[_Iterable[_Union[LegalDocumentVersion, _Mapping]]] = ..., bundle_json: _Optional[str] = ...) -> None: ...

class AddSuppressionRequest(_message.Message):
    __slots__ = ("person", "reason", "note", "idempotency_key", "purpose_id")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    reason: SuppressionReason
    note: str
    idempotency_key: str
    purpose_id: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., reason: _Optional[_Union[SuppressionReason, str]] = ..., note: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class AddSuppressionResponse(_message.Message):
    __slots__ = ("suppression",)
    SUPPRESSION_FIELD_NUMBER: _ClassVar[int]
    suppression: Suppression
    def __init__(self, suppression: _Optional[_Union[Suppression, _Mapping]] = ...) -> None: ...

class RemoveSuppressionRequest(_message.Message):
    __slots__ = ("person", "reason", "note", "idempotency_key", "purpose_id")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    reason: SuppressionReason
    note: str
    idempotency_key: str
    purpose_id: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., reason: _Optional[_Union[SuppressionReason, str]] = ..., note: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class RemoveSuppressionResponse(_message.Message):
    __slots__ = ("still_suppressed",)
    STILL_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    still_suppressed: bool
    def __init__(self, still_suppressed: _Optional[bool] = ...) -> None: ...

class CheckSuppressionRequest(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ...) -> None: ...

class CheckSuppressionResponse(_message.Message):
    __slots__ = ("suppressed", "suppressions")
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    suppressed: bool
    suppressions: _containers.RepeatedCompositeFieldContainer[Suppression]
    def __init__(self, suppressed: _Optional[bool] = ..., suppressions: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ...) -> None: ...

class ListSuppressionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "reason")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    reason: SuppressionReason
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., reason: _Optional[_Union[SuppressionReason, str]] = ...) -> None: ...

class ListSuppressionsResponse(_message.Message):
    __slots__ = ("suppressions", "next_page_token")
    SUPPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    suppressions: _containers.RepeatedCompositeFieldContainer[Suppression]
    next_page_token: str
    def __init__(self, suppressions: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ImportSuppressionsRequest(_message.Message):
    __slots__ = ("reason", "idempotency_key", "rows")
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    reason: SuppressionReason
    idempotency_key: str
    rows: _containers.RepeatedCompositeFieldContainer[SuppressionImportRow]
    def __init__(self, reason: _Optional[_Union[SuppressionReason, str]] = ..., idempotency_key: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[SuppressionImportRow, _Mapping]]] = ...) -> None: ...

class ImportSuppressionsResponse(_message.Message):
    __slots__ = ("received", "added", "already_suppressed", "rejected", "errors")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    received: int
    added: int
    already_suppressed: int
    rejected: int
    errors: _containers.RepeatedCompositeFieldContainer[ImportRowError]
    def __init__(self, received: _Optional[int] = ..., added: _Optional[int] = ..., already_suppressed: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ImportRowError, _Mapping]]] = ...) -> None: ...

class ExportSuppressionsRequest(_message.Message):
    __slots__ = ("reason", "chunk_size")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    reason: SuppressionReason
    chunk_size: int
    def __init__(self, reason: _Optional[_Union[SuppressionReason, str]] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class ExportSuppressionsResponse(_message.Message):
    __slots__ = ("suppressions",)
    SUPPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    suppressions: _containers.RepeatedCompositeFieldContainer[Suppression]
    def __init__(self, suppressions: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ...) -> None: ...

class OpenPrivacyRequestRequest(_message.Message):
    __slots__ = ("person", "kind", "verification_token", "client", "idempotency_key")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    kind: _privacy_service_pb2.PrivacyRequestKind
    verification_token: str
    client: _types_pb2.ClientContext
    idempotency_key: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., kind: _Optional[_Union[_privacy_service_pb2.PrivacyRequestKind, str]] = ..., verification_token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class OpenPrivacyRequestResponse(_message.Message):
    __slots__ = ("privacy_request",)
    PRIVACY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    privacy_request: PrivacyRequest
    def __init__(self, privacy_request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class GetPrivacyRequestRequest(_message.Message):
    __slots__ = ("request_id", "verification_token")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    verification_token: str
    def __init__(self, request_id: _Optional[str] = ..., verification_token: _Optional[str] = ...) -> None: ...

class GetPrivacyRequestResponse(_message.Message):
    __slots__ = ("privacy_request",)
    PRIVACY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    privacy_request: PrivacyRequest
    def __init__(self, privacy_request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class ListPrivacyRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: PrivacyRequestStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[PrivacyRequestStatus, str]] = ...) -> None: ...

class ListPrivacyRequestsResponse(_message.Message):
    __slots__ = ("privacy_requests", "next_page_token")
    PRIVACY_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    privacy_requests: _containers.RepeatedCompositeFieldContainer[PrivacyRequest]
    next_page_token: str
    def __init__(self, privacy_requests: _Optional[_Iterable[_Union[PrivacyRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExtendPrivacyRequestRequest(_message.Message):
    __slots__ = ("request_id", "days", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    days: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., days: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ExtendPrivacyRequestResponse(_message.Message):
    __slots__ = ("privacy_request",)
    PRIVACY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    privacy_request: PrivacyRequest
    def __init__(self, privacy_request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class DownloadPrivacyExportRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class DownloadPrivacyExportResponse(_message.Message):
    __slots__ = ("request_id", "media_type", "file_name", "content", "expires_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    media_type: str
    file_name: str
    content: bytes
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., media_type: _Optional[str] = ..., file_name: _Optional[str] = ..., content: _Optional[bytes] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamPrivacyExportRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class StreamPrivacyExportResponse(_message.Message):
    __slots__ = ("request_id", "media_type", "file_name", "expires_at", "total_bytes", "chunk")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    media_type: str
    file_name: str
    expires_at: _timestamp_pb2.Timestamp
    total_bytes: int
    chunk: bytes
    def __init__(self, request_id: _Optional[str] = ..., media_type: _Optional[str] = ..., file_name: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_bytes: _Optional[int] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class IssueLinkTokensRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "campaign_id")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    campaign_id: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class IssueLinkTokensResponse(_message.Message):
    __slots__ = ("unsubscribe_token", "preferences_token", "unsubscribe_url", "preferences_url")
    UNSUBSCRIBE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_URL_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_URL_FIELD_NUMBER: _ClassVar[int]
    unsubscribe_token: str
    preferences_token: str
    unsubscribe_url: str
    preferences_url: str
    def __init__(self, unsubscribe_token: _Optional[str] = ..., preferences_token: _Optional[str] = ..., unsubscribe_url: _Optional[str] = ..., preferences_url: _Optional[str] = ...) -> None: ...

class SendMyDataLinkRequest(_message.Message):
    __slots__ = ("preferences_token", "email", "client")
    PREFERENCES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    preferences_token: str
    email: str
    client: _types_pb2.ClientContext
    def __init__(self, preferences_token: _Optional[str] = ..., email: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class SendMyDataLinkResponse(_message.Message):
    __slots__ = ("expires_at",)
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RestrictProcessingRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "evidence", "idempotency_key")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    evidence: ConsentEvidence
    idempotency_key: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., evidence: _Optional[_Union[ConsentEvidence, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RestrictProcessingResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ...) -> None: ...

class LiftRestrictionRequest(_message.Message):
    __slots__ = ("person", "purpose_id", "evidence", "idempotency_key")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    person: _types_pb2.PersonRef
    purpose_id: str
    evidence: ConsentEvidence
    idempotency_key: str
    def __init__(self, person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., purpose_id: _Optional[str] = ..., evidence: _Optional[_Union[ConsentEvidence, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class LiftRestrictionResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ...) -> None: ...

class SetSenderIdentityRequest(_message.Message):
    __slots__ = ("sender",)
    SENDER_FIELD_NUMBER: _ClassVar[int]
    sender: SenderIdentity
    def __init__(self, sender: _Optional[_Union[SenderIdentity, _Mapping]] = ...) -> None: ...

class SetSenderIdentityResponse(_message.Message):
    __slots__ = ("sender", "updated_at")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    sender: SenderIdentity
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, sender: _Optional[_Union[SenderIdentity, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSenderIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSenderIdentityResponse(_message.Message):
    __slots__ = ("sender", "updated_at")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    sender: SenderIdentity
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, sender: _Optional[_Union[SenderIdentity, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DescribeLinkRequest(_message.Message):
    __slots__ = ("token", "kind")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    token: str
    kind: LinkKind
    def __init__(self, token: _Optional[str] = ..., kind: _Optional[_Union[LinkKind, str]] = ...) -> None: ...

class DescribeLinkResponse(_message.Message):
    __slots__ = ("sender", "purpose_names", "already_confirmed")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_NAMES_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    sender: SenderIdentity
    purpose_names: _containers.RepeatedScalarFieldContainer[str]
    already_confirmed: bool
    def __init__(self, sender: _Optional[_Union[SenderIdentity, _Mapping]] = ..., purpose_names: _Optional[_Iterable[str]] = ..., already_confirmed: _Optional[bool] = ...) -> None: ...

class IssueMyPreferencesTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IssueMyPreferencesTokenResponse(_message.Message):
    __slots__ = ("preferences_token", "expires_at")
    PREFERENCES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    preferences_token: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, preferences_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
