import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.identity.v1 import identity_service_pb2 as _identity_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserRegistered(_message.Message):
    __slots__ = ("user_id", "account_id", "person_key", "acceptances", "marketing_opt_in", "marketing_checkbox_text", "age_confirmed", "ip_pseudonym", "user_agent", "locale", "role")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    MARKETING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    MARKETING_CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    AGE_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    IP_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    account_id: str
    person_key: str
    acceptances: _containers.RepeatedCompositeFieldContainer[_identity_service_pb2.DocumentAcceptance]
    marketing_opt_in: bool
    marketing_checkbox_text: str
    age_confirmed: bool
    ip_pseudonym: str
    user_agent: str
    locale: str
    role: _identity_service_pb2.MemberRole
    def __init__(self, user_id: _Optional[str] = ..., account_id: _Optional[str] = ..., person_key: _Optional[str] = ..., acceptances: _Optional[_Iterable[_Union[_identity_service_pb2.DocumentAcceptance, _Mapping]]] = ..., marketing_opt_in: _Optional[bool] = ..., marketing_checkbox_text: _Optional[str] = ..., age_confirmed: _Optional[bool] = ..., ip_pseudonym: _Optional[str] = ..., user_agent: _Optional[str] = ..., locale: _Optional[str] = ..., role: _Optional[_Union[_identity_service_pb2.MemberRole, str]] = ...) -> None: ...

class UserEmailVerified(_message.Message):
    __slots__ = ("user_id", "account_id", "person_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    account_id: str
    person_key: str
    def __init__(self, user_id: _Optional[str] = ..., account_id: _Optional[str] = ..., person_key: _Optional[str] = ...) -> None: ...

class LegalAcceptanceRecorded(_message.Message):
    __slots__ = ("user_id", "account_id", "person_key", "acceptances", "ip_pseudonym", "user_agent")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    IP_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    account_id: str
    person_key: str
    acceptances: _containers.RepeatedCompositeFieldContainer[_identity_service_pb2.DocumentAcceptance]
    ip_pseudonym: str
    user_agent: str
    def __init__(self, user_id: _Optional[str] = ..., account_id: _Optional[str] = ..., person_key: _Optional[str] = ..., acceptances: _Optional[_Iterable[_Union[_identity_service_pb2.DocumentAcceptance, _Mapping]]] = ..., ip_pseudonym: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class MemberRemoved(_message.Message):
    __slots__ = ("account_id", "user_id", "removed_by_user_id", "restorable_until")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REMOVED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    user_id: str
    removed_by_user_id: str
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., user_id: _Optional[str] = ..., removed_by_user_id: _Optional[str] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MemberRestored(_message.Message):
    __slots__ = ("account_id", "user_id", "restored_by_user_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    user_id: str
    restored_by_user_id: str
    def __init__(self, account_id: _Optional[str] = ..., user_id: _Optional[str] = ..., restored_by_user_id: _Optional[str] = ...) -> None: ...

class AccountDeletionRequested(_message.Message):
    __slots__ = ("account_id", "requested_by_user_id", "purge_after")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PURGE_AFTER_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    requested_by_user_id: str
    purge_after: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., requested_by_user_id: _Optional[str] = ..., purge_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AccountRestored(_message.Message):
    __slots__ = ("account_id", "restored_by_user_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    RESTORED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    restored_by_user_id: str
    def __init__(self, account_id: _Optional[str] = ..., restored_by_user_id: _Optional[str] = ...) -> None: ...

class AccountErased(_message.Message):
    __slots__ = ("account_id", "user_ids", "person_keys")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PERSON_KEYS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    person_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_id: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ..., person_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class UserEmailChanged(_message.Message):
    __slots__ = ("user_id", "account_id", "old_person_key", "new_person_key", "changed_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    account_id: str
    old_person_key: str
    new_person_key: str
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., account_id: _Optional[str] = ..., old_person_key: _Optional[str] = ..., new_person_key: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionsRevoked(_message.Message):
    __slots__ = ("session_ids", "reason", "revoked_at")
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, session_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
