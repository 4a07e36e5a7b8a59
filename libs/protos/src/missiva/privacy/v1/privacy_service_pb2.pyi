import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrivacyRequestKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIVACY_REQUEST_KIND_UNSPECIFIED: _ClassVar[PrivacyRequestKind]
    PRIVACY_REQUEST_KIND_EXPORT: _ClassVar[PrivacyRequestKind]
    PRIVACY_REQUEST_KIND_ERASE: _ClassVar[PrivacyRequestKind]
PRIVACY_REQUEST_KIND_UNSPECIFIED: PrivacyRequestKind
PRIVACY_REQUEST_KIND_EXPORT: PrivacyRequestKind
PRIVACY_REQUEST_KIND_ERASE: PrivacyRequestKind

class ExportPersonDataRequest(_message.Message):
    __slots__ = ("request_id", "person", "all_accounts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    ALL_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person: _types_pb2.PersonRef
    all_accounts: bool
    def __init__(self, request_id: _Optional[str] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., all_accounts: _Optional[bool] = ...) -> None: ...

class ExportPersonDataResponse(_message.Message):
    __slots__ = ("service", "sections")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    service: str
    sections: _containers.RepeatedCompositeFieldContainer[DataSection]
    def __init__(self, service: _Optional[str] = ..., sections: _Optional[_Iterable[_Union[DataSection, _Mapping]]] = ...) -> None: ...

class DataSection(_message.Message):
    __slots__ = ("name", "description", "media_type", "content")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    media_type: str
    content: bytes
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class ErasePersonDataRequest(_message.Message):
    __slots__ = ("request_id", "person", "all_accounts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    ALL_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person: _types_pb2.PersonRef
    all_accounts: bool
    def __init__(self, request_id: _Optional[str] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., all_accounts: _Optional[bool] = ...) -> None: ...

class ErasePersonDataResponse(_message.Message):
    __slots__ = ("service", "erased", "retained")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    service: str
    erased: _containers.RepeatedCompositeFieldContainer[ErasedItem]
    retained: _containers.RepeatedCompositeFieldContainer[RetainedItem]
    def __init__(self, service: _Optional[str] = ..., erased: _Optional[_Iterable[_Union[ErasedItem, _Mapping]]] = ..., retained: _Optional[_Iterable[_Union[RetainedItem, _Mapping]]] = ...) -> None: ...

class ErasedItem(_message.Message):
    __slots__ = ("category", "count")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    category: str
    count: int
    def __init__(self, category: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class RetainedItem(_message.Message):
    __slots__ = ("category", "reason", "legal_basis", "retained_until")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    RETAINED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    category: str
    reason: str
    legal_basis: _types_pb2.LegalBasis
    retained_until: _timestamp_pb2.Timestamp
    def __init__(self, category: _Optional[str] = ..., reason: _Optional[str] = ..., legal_basis: _Optional[_Union[_types_pb2.LegalBasis, str]] = ..., retained_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
