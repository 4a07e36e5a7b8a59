from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EmailCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMAIL_CATEGORY_UNSPECIFIED: _ClassVar[EmailCategory]
    EMAIL_CATEGORY_SYSTEM: _ClassVar[EmailCategory]
    EMAIL_CATEGORY_PRODUCT_UPDATE: _ClassVar[EmailCategory]
    EMAIL_CATEGORY_MARKETING: _ClassVar[EmailCategory]

class LegalBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEGAL_BASIS_UNSPECIFIED: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONSENT: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGITIMATE_INTEREST: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONTRACT: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGAL_OBLIGATION: _ClassVar[LegalBasis]
EMAIL_CATEGORY_UNSPECIFIED: EmailCategory
EMAIL_CATEGORY_SYSTEM: EmailCategory
EMAIL_CATEGORY_PRODUCT_UPDATE: EmailCategory
EMAIL_CATEGORY_MARKETING: EmailCategory
LEGAL_BASIS_UNSPECIFIED: LegalBasis
LEGAL_BASIS_CONSENT: LegalBasis
LEGAL_BASIS_LEGITIMATE_INTEREST: LegalBasis
LEGAL_BASIS_CONTRACT: LegalBasis
LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis

class PersonRef(_message.Message):
    __slots__ = ("person_key", "email", "user_id")
    PERSON_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    person_key: str
    email: str
    user_id: str
    def __init__(self, person_key: _Optional[str] = ..., email: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class Money(_message.Message):
    __slots__ = ("currency_code", "units", "nanos")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    NANOS_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    units: int
    nanos: int
    def __init__(self, currency_code: _Optional[str] = ..., units: _Optional[int] = ..., nanos: _Optional[int] = ...) -> None: ...

class ClientContext(_message.Message):
    __slots__ = ("ip_address", "user_agent")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    user_agent: str
    def __init__(self, ip_address: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...
