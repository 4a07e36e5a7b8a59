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

class MemberRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_ROLE_UNSPECIFIED: _ClassVar[MemberRole]
    MEMBER_ROLE_PRIMARY_ADMIN: _ClassVar[MemberRole]
    MEMBER_ROLE_ADMIN: _ClassVar[MemberRole]
    MEMBER_ROLE_MEMBER: _ClassVar[MemberRole]
    MEMBER_ROLE_BILLING: _ClassVar[MemberRole]

class MemberStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATUS_UNSPECIFIED: _ClassVar[MemberStatus]
    MEMBER_STATUS_INVITED: _ClassVar[MemberStatus]
    MEMBER_STATUS_ACTIVE: _ClassVar[MemberStatus]
    MEMBER_STATUS_REMOVED: _ClassVar[MemberStatus]

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNSPECIFIED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_PENDING_VERIFICATION: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_ACTIVE: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_DELETION_REQUESTED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_SUSPENDED: _ClassVar[AccountStatus]

class MfaMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MFA_METHOD_UNSPECIFIED: _ClassVar[MfaMethod]
    MFA_METHOD_TOTP: _ClassVar[MfaMethod]
    MFA_METHOD_RECOVERY_CODE: _ClassVar[MfaMethod]

class AuditOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_OUTCOME_UNSPECIFIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_SUCCESS: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_FAILURE: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_DENIED: _ClassVar[AuditOutcome]
MEMBER_ROLE_UNSPECIFIED: MemberRole
MEMBER_ROLE_PRIMARY_ADMIN: MemberRole
MEMBER_ROLE_ADMIN: MemberRole
MEMBER_ROLE_MEMBER: MemberRole
MEMBER_ROLE_BILLING: MemberRole
MEMBER_STATUS_UNSPECIFIED: MemberStatus
MEMBER_STATUS_INVITED: MemberStatus
MEMBER_STATUS_ACTIVE: MemberStatus
MEMBER_STATUS_REMOVED: MemberStatus
ACCOUNT_STATUS_UNSPECIFIED: AccountStatus
ACCOUNT_STATUS_PENDING_VERIFICATION: AccountStatus
ACCOUNT_STATUS_ACTIVE: AccountStatus
ACCOUNT_STATUS_DELETION_REQUESTED: AccountStatus
ACCOUNT_STATUS_SUSPENDED: AccountStatus
MFA_METHOD_UNSPECIFIED: MfaMethod
MFA_METHOD_TOTP: MfaMethod
MFA_METHOD_RECOVERY_CODE: MfaMethod
AUDIT_OUTCOME_UNSPECIFIED: AuditOutcome
AUDIT_OUTCOME_SUCCESS: AuditOutcome
AUDIT_OUTCOME_FAILURE: AuditOutcome
AUDIT_OUTCOME_DENIED: AuditOutcome

class DocumentAcceptance(_message.Message):
    __slots__ = ("document_id", "version", "checkbox_text", "accepted_at", "accepted")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    version: str
    checkbox_text: str
    accepted_at: _timestamp_pb2.Timestamp
    accepted: bool
    def __init__(self, document_id: _Optional[str] = ..., version: _Optional[str] = ..., checkbox_text: _Optional[str] = ..., accepted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., accepted: _Optional[bool] = ...) -> None: ...

class SessionTokens(_message.Message):
    __slots__ = ("access_token", "access_token_expires_at", "refresh_token", "refresh_token_expires_at", "session_id")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    access_token_expires_at: _timestamp_pb2.Timestamp
    refresh_token: str
    refresh_token_expires_at: _timestamp_pb2.Timestamp
    session_id: str
    def __init__(self, access_token: _Optional[str] = ..., access_token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_token: _Optional[str] = ..., refresh_token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class MfaChallenge(_message.Message):
    __slots__ = ("challenge_token", "methods", "expires_at")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    methods: _containers.RepeatedScalarFieldContainer[MfaMethod]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, challenge_token: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MfaMethod, str]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PendingDocument(_message.Message):
    __slots__ = ("document_id", "version", "title", "url", "checkbox_text", "summary_of_changes")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_OF_CHANGES_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    version: str
    title: str
    url: str
    checkbox_text: str
    summary_of_changes: str
    def __init__(self, document_id: _Optional[str] = ..., version: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., checkbox_text: _Optional[str] = ..., summary_of_changes: _Optional[str] = ...) -> None: ...

class LegalAcceptanceChallenge(_message.Message):
    __slots__ = ("challenge_token", "documents", "expires_at")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    documents: _containers.RepeatedCompositeFieldContainer[PendingDocument]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, challenge_token: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[PendingDocument, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "created_at", "last_used_at", "expires_at", "user_agent", "ip_pseudonym", "mfa", "current")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    IP_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    MFA_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    user_agent: str
    ip_pseudonym: str
    mfa: bool
    current: bool
    def __init__(self, session_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_agent: _Optional[str] = ..., ip_pseudonym: _Optional[str] = ..., mfa: _Optional[bool] = ..., current: _Optional[bool] = ...) -> None: ...

class Jwk(_message.Message):
    __slots__ = ("kty", "crv", "kid", "x", "alg", "use")
    KTY_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    kty: str
    crv: str
    kid: str
    x: str
    alg: str
    use: str
    def __init__(self, kty: _Optional[str] = ..., crv: _Optional[str] = ..., kid: _Optional[str] = ..., x: _Optional[str] = ..., alg: _Optional[str] = ..., use: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("api_key_id", "name", "prefix", "scopes", "created_by_user_id", "created_at", "last_used_at", "expires_at", "revoked_at")
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    api_key_id: str
    name: str
    prefix: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    created_by_user_id: str
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, api_key_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., created_by_user_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "name", "status", "created_at", "deletion_requested_at", "purge_after", "data_region")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETION_REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    PURGE_AFTER_FIELD_NUMBER: _ClassVar[int]
    DATA_REGION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    name: str
    status: AccountStatus
    created_at: _timestamp_pb2.Timestamp
    deletion_requested_at: _timestamp_pb2.Timestamp
    purge_after: _timestamp_pb2.Timestamp
    data_region: str
    def __init__(self, account_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deletion_requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purge_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_region: _Optional[str] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("user_id", "email", "email_verified", "display_name", "locale", "time_zone", "mfa_enabled", "created_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MFA_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    email_verified: bool
    display_name: str
    locale: str
    time_zone: str
    mfa_enabled: bool
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., display_name: _Optional[str] = ..., locale: _Optional[str] = ..., time_zone: _Optional[str] = ..., mfa_enabled: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("user_id", "email", "display_name", "role", "status", "joined_at", "removed_at", "restorable_until")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    REMOVED_AT_FIELD_NUMBER: _ClassVar[int]
    RESTORABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    display_name: str
    role: MemberRole
    status: MemberStatus
    joined_at: _timestamp_pb2.Timestamp
    removed_at: _timestamp_pb2.Timestamp
    restorable_until: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ..., status: _Optional[_Union[MemberStatus, str]] = ..., joined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., removed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restorable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Invitation(_message.Message):
    __slots__ = ("invitation_id", "email", "role", "invited_by_user_id", "expires_at")
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    INVITED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    invitation_id: str
    email: str
    role: MemberRole
    invited_by_user_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, invitation_id: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ..., invited_by_user_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("audit_event_id", "occurred_at", "actor_user_id", "action", "target", "outcome", "ip_pseudonym", "user_agent", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AUDIT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    IP_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    audit_event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    action: str
    target: str
    outcome: AuditOutcome
    ip_pseudonym: str
    user_agent: str
    details: _containers.ScalarMap[str, str]
    def __init__(self, audit_event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., outcome: _Optional[_Union[AuditOutcome, str]] = ..., ip_pseudonym: _Optional[str] = ..., user_agent: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SignUpRequest(_message.Message):
    __slots__ = ("email", "password", "display_name", "account_name", "acceptances", "marketing_opt_in", "marketing_checkbox_text", "age_confirmed", "locale", "anti_bot_token", "client", "idempotency_key")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    MARKETING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    MARKETING_CHECKBOX_TEXT_FIELD_NUMBER: _ClassVar[int]
    AGE_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ANTI_BOT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    display_name: str
    account_name: str
    acceptances: _containers.RepeatedCompositeFieldContainer[DocumentAcceptance]
    marketing_opt_in: bool
    marketing_checkbox_text: str
    age_confirmed: bool
    locale: str
    anti_bot_token: str
    client: _types_pb2.ClientContext
    idempotency_key: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., display_name: _Optional[str] = ..., account_name: _Optional[str] = ..., acceptances: _Optional[_Iterable[_Union[DocumentAcceptance, _Mapping]]] = ..., marketing_opt_in: _Optional[bool] = ..., marketing_checkbox_text: _Optional[str] = ..., age_confirmed: _Optional[bool] = ..., locale: _Optional[str] = ..., anti_bot_token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SignUpResponse(_message.Message):
    __slots__ = ("account_id", "user_id", "verification_sent")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_SENT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    user_id: str
    verification_sent: bool
    def __init__(self, account_id: _Optional[str] = ..., user_id: _Optional[str] = ..., verification_sent: _Optional[bool] = ...) -> None: ...

class VerifyEmailRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class VerifyEmailResponse(_message.Message):
    __slots__ = ("user_id", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class ResendVerificationRequest(_message.Message):
    __slots__ = ("email", "anti_bot_token")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ANTI_BOT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    email: str
    anti_bot_token: str
    def __init__(self, email: _Optional[str] = ..., anti_bot_token: _Optional[str] = ...) -> None: ...

class ResendVerificationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("email", "password", "anti_bot_token", "client", "remember_me")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ANTI_BOT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REMEMBER_ME_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    anti_bot_token: str
    client: _types_pb2.ClientContext
    remember_me: bool
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., anti_bot_token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., remember_me: _Optional[bool] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("tokens", "mfa_required", "legal_acceptance_required")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MFA_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    LEGAL_ACCEPTANCE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    tokens: SessionTokens
    mfa_required: MfaChallenge
    legal_acceptance_required: LegalAcceptanceChallenge
    def __init__(self, tokens: _Optional[_Union[SessionTokens, _Mapping]] = ..., mfa_required: _Optional[_Union[MfaChallenge, _Mapping]] = ..., legal_acceptance_required: _Optional[_Union[LegalAcceptanceChallenge, _Mapping]] = ...) -> None: ...

class CompleteMfaLoginRequest(_message.Message):
    __slots__ = ("challenge_token", "totp_code", "recovery_code", "client")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    totp_code: str
    recovery_code: str
    client: _types_pb2.ClientContext
    def __init__(self, challenge_token: _Optional[str] = ..., totp_code: _Optional[str] = ..., recovery_code: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class CompleteMfaLoginResponse(_message.Message):
    __slots__ = ("tokens", "legal_acceptance_required")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_ACCEPTANCE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    tokens: SessionTokens
    legal_acceptance_required: LegalAcceptanceChallenge
    def __init__(self, tokens: _Optional[_Union[SessionTokens, _Mapping]] = ..., legal_acceptance_required: _Optional[_Union[LegalAcceptanceChallenge, _Mapping]] = ...) -> None: ...

class AcceptLegalDocumentsRequest(_message.Message):
    __slots__ = ("challenge_token", "acceptances", "client")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    acceptances: _containers.RepeatedCompositeFieldContainer[DocumentAcceptance]
    client: _types_pb2.ClientContext
    def __init__(self, challenge_token: _Optional[str] = ..., acceptances: _Optional[_Iterable[_Union[DocumentAcceptance, _Mapping]]] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class AcceptLegalDocumentsResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: SessionTokens
    def __init__(self, tokens: _Optional[_Union[SessionTokens, _Mapping]] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("refresh_token", "client")
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    client: _types_pb2.ClientContext
    def __init__(self, refresh_token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class RefreshSessionResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: SessionTokens
    def __init__(self, tokens: _Optional[_Union[SessionTokens, _Mapping]] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RequestPasswordResetRequest(_message.Message):
    __slots__ = ("email", "anti_bot_token", "client")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ANTI_BOT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    email: str
    anti_bot_token: str
    client: _types_pb2.ClientContext
    def __init__(self, email: _Optional[str] = ..., anti_bot_token: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class RequestPasswordResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetPasswordRequest(_message.Message):
    __slots__ = ("token", "new_password", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    new_password: str
    client: _types_pb2.ClientContext
    def __init__(self, token: _Optional[str] = ..., new_password: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class ResetPasswordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("current_password", "new_password")
    CURRENT_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    current_password: str
    new_password: str
    def __init__(self, current_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnrollTotpRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnrollTotpResponse(_message.Message):
    __slots__ = ("secret", "provisioning_uri", "expires_at")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_URI_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    secret: str
    provisioning_uri: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, secret: _Optional[str] = ..., provisioning_uri: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfirmTotpRequest(_message.Message):
    __slots__ = ("totp_code",)
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    totp_code: str
    def __init__(self, totp_code: _Optional[str] = ...) -> None: ...

class ConfirmTotpResponse(_message.Message):
    __slots__ = ("recovery_codes",)
    RECOVERY_CODES_FIELD_NUMBER: _ClassVar[int]
    recovery_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recovery_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class DisableTotpRequest(_message.Message):
    __slots__ = ("password", "totp_code")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    password: str
    totp_code: str
    def __init__(self, password: _Optional[str] = ..., totp_code: _Optional[str] = ...) -> None: ...

class DisableTotpResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegenerateRecoveryCodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegenerateRecoveryCodesResponse(_message.Message):
    __slots__ = ("recovery_codes",)
    RECOVERY_CODES_FIELD_NUMBER: _ClassVar[int]
    recovery_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, recovery_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("jwks_json", "keys")
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    keys: _containers.RepeatedCompositeFieldContainer[Jwk]
    def __init__(self, jwks_json: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[Jwk, _Mapping]]] = ...) -> None: ...

class IssueServiceTokenRequest(_message.Message):
    __slots__ = ("client_id", "client_secret", "audience", "scopes", "tenant_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_secret: str
    audience: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    tenant_id: str
    def __init__(self, client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., audience: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class IssueServiceTokenResponse(_message.Message):
    __slots__ = ("access_token", "expires_at")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, access_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("name", "scopes", "expires_at", "idempotency_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    expires_at: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_revoked")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_REVOKED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_revoked: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_revoked: _Optional[bool] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys", "next_page_token")
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    next_page_token: str
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("api_key_id",)
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    api_key_id: str
    def __init__(self, api_key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class ExchangeApiKeyRequest(_message.Message):
    __slots__ = ("secret", "scopes")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    secret: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, secret: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class ExchangeApiKeyResponse(_message.Message):
    __slots__ = ("access_token", "expires_at", "scopes")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    expires_at: _timestamp_pb2.Timestamp
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, access_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account", "profile", "role")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    account: Account
    profile: Profile
    role: MemberRole
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ..., role: _Optional[_Union[MemberRole, str]] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class InviteMemberRequest(_message.Message):
    __slots__ = ("email", "role", "idempotency_key")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    email: str
    role: MemberRole
    idempotency_key: str
    def __init__(self, email: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class InviteMemberResponse(_message.Message):
    __slots__ = ("invitation",)
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    invitation: Invitation
    def __init__(self, invitation: _Optional[_Union[Invitation, _Mapping]] = ...) -> None: ...

class AcceptInvitationRequest(_message.Message):
    __slots__ = ("token", "password", "display_name", "acceptances", "client")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    password: str
    display_name: str
    acceptances: _containers.RepeatedCompositeFieldContainer[DocumentAcceptance]
    client: _types_pb2.ClientContext
    def __init__(self, token: _Optional[str] = ..., password: _Optional[str] = ..., display_name: _Optional[str] = ..., acceptances: _Optional[_Iterable[_Union[DocumentAcceptance, _Mapping]]] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class AcceptInvitationResponse(_message.Message):
    __slots__ = ("member", "tokens")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    member: Member
    tokens: SessionTokens
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ..., tokens: _Optional[_Union[SessionTokens, _Mapping]] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_removed")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_REMOVED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_removed: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_removed: _Optional[bool] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ChangeMemberRoleRequest(_message.Message):
    __slots__ = ("user_id", "role")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    role: MemberRole
    def __init__(self, user_id: _Optional[str] = ..., role: _Optional[_Union[MemberRole, str]] = ...) -> None: ...

class ChangeMemberRoleResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class RestoreMemberRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class RestoreMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: Member
    def __init__(self, member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class TransferPrimaryAdminRequest(_message.Message):
    __slots__ = ("user_id", "password")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    password: str
    def __init__(self, user_id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class TransferPrimaryAdminResponse(_message.Message):
    __slots__ = ("new_primary_admin", "previous_primary_admin")
    NEW_PRIMARY_ADMIN_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PRIMARY_ADMIN_FIELD_NUMBER: _ClassVar[int]
    new_primary_admin: Member
    previous_primary_admin: Member
    def __init__(self, new_primary_admin: _Optional[_Union[Member, _Mapping]] = ..., previous_primary_admin: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class DeleteAccountRequest(_message.Message):
    __slots__ = ("password", "reason", "idempotency_key")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    password: str
    reason: str
    idempotency_key: str
    def __init__(self, password: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeleteAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class RestoreAccountRequest(_message.Message):
    __slots__ = ("restore_token",)
    RESTORE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    restore_token: str
    def __init__(self, restore_token: _Optional[str] = ...) -> None: ...

class RestoreAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "start_time", "end_time", "actor_user_id", "action_prefix")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_PREFIX_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    actor_user_id: str
    action_prefix: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., action_prefix: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("audit_events", "next_page_token")
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, audit_events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReauthenticateRequest(_message.Message):
    __slots__ = ("password", "totp_code", "client")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOTP_CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    password: str
    totp_code: str
    client: _types_pb2.ClientContext
    def __init__(self, password: _Optional[str] = ..., totp_code: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class ReauthenticateResponse(_message.Message):
    __slots__ = ("valid_until",)
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequestEmailChangeRequest(_message.Message):
    __slots__ = ("new_email",)
    NEW_EMAIL_FIELD_NUMBER: _ClassVar[int]
    new_email: str
    def __init__(self, new_email: _Optional[str] = ...) -> None: ...

class RequestEmailChangeResponse(_message.Message):
    __slots__ = ("expires_at",)
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConfirmEmailChangeRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class ConfirmEmailChangeResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class StartOidcLoginRequest(_message.Message):
    __slots__ = ("redirect_uri", "client")
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    redirect_uri: str
    client: _types_pb2.ClientContext
    def __init__(self, redirect_uri: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class StartOidcLoginResponse(_message.Message):
    __slots__ = ("authorization_url", "state", "expires_at")
    AUTHORIZATION_URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    authorization_url: str
    state: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, authorization_url: _Optional[str] = ..., state: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteOidcLoginRequest(_message.Message):
    __slots__ = ("state", "code", "client", "remember_me")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REMEMBER_ME_FIELD_NUMBER: _ClassVar[int]
    state: str
    code: str
    client: _types_pb2.ClientContext
    remember_me: bool
    def __init__(self, state: _Optional[str] = ..., code: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ..., remember_me: _Optional[bool] = ...) -> None: ...

class CompleteOidcLoginResponse(_message.Message):
    __slots__ = ("tokens", "mfa_required", "legal_acceptance_required")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MFA_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    LEGAL_ACCEPTANCE_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    tokens: SessionTokens
    mfa_required: MfaChallenge
    legal_acceptance_required: LegalAcceptanceChallenge
    def __init__(self, tokens: _Optional[_Union[SessionTokens, _Mapping]] = ..., mfa_required: _Optional[_Union[MfaChallenge, _Mapping]] = ..., legal_acceptance_required: _Optional[_Union[LegalAcceptanceChallenge, _Mapping]] = ...) -> None: ...
