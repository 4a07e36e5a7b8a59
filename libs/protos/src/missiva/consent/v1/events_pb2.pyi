import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from missiva.consent.v1 import consent_service_pb2 as _consent_service_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentGranted(_message.Message):
    __slots__ = ("person_key", "purpose_id", "purpose_key", "category", "kind", "source", "record_id", "legal_basis")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    purpose_id: str
    purpose_key: str
    category: _types_pb2.EmailCategory
    kind: _consent_service_pb2.PurposeKind
    source: _consent_service_pb2.ConsentSource
    record_id: str
    legal_basis: _types_pb2.LegalBasis
    def __init__(self, person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., kind: _Optional[_Union[_consent_service_pb2.PurposeKind, str]] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ..., record_id: _Optional[str] = ..., legal_basis: _Optional[_Union[_types_pb2.LegalBasis, str]] = ...) -> None: ...

class ConsentWithdrawn(_message.Message):
    __slots__ = ("person_key", "purpose_id", "purpose_key", "category", "kind", "source", "record_id", "campaign_id")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    purpose_id: str
    purpose_key: str
    category: _types_pb2.EmailCategory
    kind: _consent_service_pb2.PurposeKind
    source: _consent_service_pb2.ConsentSource
    record_id: str
    campaign_id: str
    def __init__(self, person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., kind: _Optional[_Union[_consent_service_pb2.PurposeKind, str]] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ..., record_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ConsentObjected(_message.Message):
    __slots__ = ("person_key", "purpose_id", "purpose_key", "category", "source", "record_id", "campaign_id")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    purpose_id: str
    purpose_key: str
    category: _types_pb2.EmailCategory
    source: _consent_service_pb2.ConsentSource
    record_id: str
    campaign_id: str
    def __init__(self, person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ..., record_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ContactSuppressed(_message.Message):
    __slots__ = ("person_key", "reason", "source_detail", "purpose_id", "platform_wide", "source")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_WIDE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    reason: _consent_service_pb2.SuppressionReason
    source_detail: str
    purpose_id: str
    platform_wide: bool
    source: _consent_service_pb2.ConsentSource
    def __init__(self, person_key: _Optional[str] = ..., reason: _Optional[_Union[_consent_service_pb2.SuppressionReason, str]] = ..., source_detail: _Optional[str] = ..., purpose_id: _Optional[str] = ..., platform_wide: _Optional[bool] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ...) -> None: ...

class ContactUnsuppressed(_message.Message):
    __slots__ = ("person_key", "reason", "still_suppressed", "purpose_id")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STILL_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    reason: _consent_service_pb2.SuppressionReason
    still_suppressed: bool
    purpose_id: str
    def __init__(self, person_key: _Optional[str] = ..., reason: _Optional[_Union[_consent_service_pb2.SuppressionReason, str]] = ..., still_suppressed: _Optional[bool] = ..., purpose_id: _Optional[str] = ...) -> None: ...

class LegalDocumentPublished(_message.Message):
    __slots__ = ("document_id", "kind", "version", "title", "url", "material", "effective_at", "summary_of_changes", "account_id", "notice_at", "locale")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_AT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OF_CHANGES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_AT_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    kind: _consent_service_pb2.DocumentKind
    version: str
    title: str
    url: str
    material: bool
    effective_at: _timestamp_pb2.Timestamp
    summary_of_changes: str
    account_id: str
    notice_at: _timestamp_pb2.Timestamp
    locale: str
    def __init__(self, document_id: _Optional[str] = ..., kind: _Optional[_Union[_consent_service_pb2.DocumentKind, str]] = ..., version: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., material: _Optional[bool] = ..., effective_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., summary_of_changes: _Optional[str] = ..., account_id: _Optional[str] = ..., notice_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., locale: _Optional[str] = ...) -> None: ...

class DailyDigestPublished(_message.Message):
    __slots__ = ("day", "record_count", "algorithm", "digest", "previous_digest", "account_id", "merkle_root", "chain_count")
    DAY_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    day: str
    record_count: int
    algorithm: str
    digest: str
    previous_digest: str
    account_id: str
    merkle_root: str
    chain_count: int
    def __init__(self, day: _Optional[str] = ..., record_count: _Optional[int] = ..., algorithm: _Optional[str] = ..., digest: _Optional[str] = ..., previous_digest: _Optional[str] = ..., account_id: _Optional[str] = ..., merkle_root: _Optional[str] = ..., chain_count: _Optional[int] = ...) -> None: ...

class ConsentRestricted(_message.Message):
    __slots__ = ("person_key", "purpose_id", "purpose_key", "category", "source", "record_id")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    purpose_id: str
    purpose_key: str
    category: _types_pb2.EmailCategory
    source: _consent_service_pb2.ConsentSource
    record_id: str
    def __init__(self, person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ..., record_id: _Optional[str] = ...) -> None: ...

class ConsentRestrictionLifted(_message.Message):
    __slots__ = ("person_key", "purpose_id", "purpose_key", "category", "source", "record_id", "resulting_status")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_KEY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTING_STATUS_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    purpose_id: str
    purpose_key: str
    category: _types_pb2.EmailCategory
    source: _consent_service_pb2.ConsentSource
    record_id: str
    resulting_status: _consent_service_pb2.ConsentStatus
    def __init__(self, person_key: _Optional[str] = ..., purpose_id: _Optional[str] = ..., purpose_key: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EmailCategory, str]] = ..., source: _Optional[_Union[_consent_service_pb2.ConsentSource, str]] = ..., record_id: _Optional[str] = ..., resulting_status: _Optional[_Union[_consent_service_pb2.ConsentStatus, str]] = ...) -> None: ...
