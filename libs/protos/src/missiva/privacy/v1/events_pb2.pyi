import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from missiva.privacy.v1 import privacy_service_pb2 as _privacy_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrivacyRequestOpened(_message.Message):
    __slots__ = ("request_id", "kind", "person", "due_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: _privacy_service_pb2.PrivacyRequestKind
    person: _types_pb2.PersonRef
    due_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[_privacy_service_pb2.PrivacyRequestKind, str]] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PrivacyRequestCompleted(_message.Message):
    __slots__ = ("request_id", "kind", "services")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: _privacy_service_pb2.PrivacyRequestKind
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[_privacy_service_pb2.PrivacyRequestKind, str]] = ..., services: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportPersonDataCommand(_message.Message):
    __slots__ = ("request_id", "person", "service", "due_at", "all_accounts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ALL_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person: _types_pb2.PersonRef
    service: str
    due_at: _timestamp_pb2.Timestamp
    all_accounts: bool
    def __init__(self, request_id: _Optional[str] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., service: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all_accounts: _Optional[bool] = ...) -> None: ...

class ErasePersonDataCommand(_message.Message):
    __slots__ = ("request_id", "person", "service", "due_at", "all_accounts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ALL_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    person: _types_pb2.PersonRef
    service: str
    due_at: _timestamp_pb2.Timestamp
    all_accounts: bool
    def __init__(self, request_id: _Optional[str] = ..., person: _Optional[_Union[_types_pb2.PersonRef, _Mapping]] = ..., service: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all_accounts: _Optional[bool] = ...) -> None: ...

class PersonDataExported(_message.Message):
    __slots__ = ("request_id", "service", "sections")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    service: str
    sections: _containers.RepeatedCompositeFieldContainer[_privacy_service_pb2.DataSection]
    def __init__(self, request_id: _Optional[str] = ..., service: _Optional[str] = ..., sections: _Optional[_Iterable[_Union[_privacy_service_pb2.DataSection, _Mapping]]] = ...) -> None: ...

class PersonDataErased(_message.Message):
    __slots__ = ("request_id", "service", "erased", "retained")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    RETAINED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    service: str
    erased: _containers.RepeatedCompositeFieldContainer[_privacy_service_pb2.ErasedItem]
    retained: _containers.RepeatedCompositeFieldContainer[_privacy_service_pb2.RetainedItem]
    def __init__(self, request_id: _Optional[str] = ..., service: _Optional[str] = ..., erased: _Optional[_Iterable[_Union[_privacy_service_pb2.ErasedItem, _Mapping]]] = ..., retained: _Optional[_Iterable[_Union[_privacy_service_pb2.RetainedItem, _Mapping]]] = ...) -> None: ...
