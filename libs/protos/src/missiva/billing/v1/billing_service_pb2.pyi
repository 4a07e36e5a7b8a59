import datetime

from google.protobuf import duration_pb2 as _duration_pb2
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

class BillingInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLING_INTERVAL_UNSPECIFIED: _ClassVar[BillingInterval]
    BILLING_INTERVAL_NONE: _ClassVar[BillingInterval]
    BILLING_INTERVAL_MONTHLY: _ClassVar[BillingInterval]
    BILLING_INTERVAL_YEARLY: _ClassVar[BillingInterval]

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_INCOMPLETE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_TRIALING: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_PAST_DUE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_CANCELED: _ClassVar[SubscriptionStatus]

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_ISSUED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_PAID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_VOID: _ClassVar[InvoiceStatus]

class SdiStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SDI_STATUS_UNSPECIFIED: _ClassVar[SdiStatus]
    SDI_STATUS_NOT_APPLICABLE: _ClassVar[SdiStatus]
    SDI_STATUS_PENDING: _ClassVar[SdiStatus]
    SDI_STATUS_SENT: _ClassVar[SdiStatus]
    SDI_STATUS_DELIVERED: _ClassVar[SdiStatus]
    SDI_STATUS_REJECTED: _ClassVar[SdiStatus]

class CreditEntryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_ENTRY_KIND_UNSPECIFIED: _ClassVar[CreditEntryKind]
    CREDIT_ENTRY_KIND_GRANT: _ClassVar[CreditEntryKind]
    CREDIT_ENTRY_KIND_RESERVE: _ClassVar[CreditEntryKind]
    CREDIT_ENTRY_KIND_RELEASE: _ClassVar[CreditEntryKind]
    CREDIT_ENTRY_KIND_EXPIRE: _ClassVar[CreditEntryKind]
    CREDIT_ENTRY_KIND_ADJUST: _ClassVar[CreditEntryKind]
BILLING_INTERVAL_UNSPECIFIED: BillingInterval
BILLING_INTERVAL_NONE: BillingInterval
BILLING_INTERVAL_MONTHLY: BillingInterval
BILLING_INTERVAL_YEARLY: BillingInterval
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_INCOMPLETE: SubscriptionStatus
SUBSCRIPTION_STATUS_TRIALING: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_PAST_DUE: SubscriptionStatus
SUBSCRIPTION_STATUS_CANCELED: SubscriptionStatus
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_ISSUED: InvoiceStatus
INVOICE_STATUS_PAID: InvoiceStatus
INVOICE_STATUS_VOID: InvoiceStatus
SDI_STATUS_UNSPECIFIED: SdiStatus
SDI_STATUS_NOT_APPLICABLE: SdiStatus
SDI_STATUS_PENDING: SdiStatus
SDI_STATUS_SENT: SdiStatus
SDI_STATUS_DELIVERED: SdiStatus
SDI_STATUS_REJECTED: SdiStatus
CREDIT_ENTRY_KIND_UNSPECIFIED: CreditEntryKind
CREDIT_ENTRY_KIND_GRANT: CreditEntryKind
CREDIT_ENTRY_KIND_RESERVE: CreditEntryKind
CREDIT_ENTRY_KIND_RELEASE: CreditEntryKind
CREDIT_ENTRY_KIND_EXPIRE: CreditEntryKind
CREDIT_ENTRY_KIND_ADJUST: CreditEntryKind

class Plan(_message.Message):
    __slots__ = ("plan_id", "name", "description", "price", "interval", "included_credits", "trial_days", "features", "contact_limit")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_CREDITS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CONTACT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    name: str
    description: str
    price: _types_pb2.Money
    interval: BillingInterval
    included_credits: int
    trial_days: int
    features: _containers.RepeatedScalarFieldContainer[str]
    contact_limit: int
    def __init__(self, plan_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., price: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., interval: _Optional[_Union[BillingInterval, str]] = ..., included_credits: _Optional[int] = ..., trial_days: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., contact_limit: _Optional[int] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("subscription_id", "plan_id", "status", "current_period_start", "current_period_end", "trial_ends_at", "cancel_at_period_end", "canceled_at", "provider_customer_id", "provider_subscription_id", "pending_plan_id")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CANCELED_AT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    plan_id: str
    status: SubscriptionStatus
    current_period_start: _timestamp_pb2.Timestamp
    current_period_end: _timestamp_pb2.Timestamp
    trial_ends_at: _timestamp_pb2.Timestamp
    cancel_at_period_end: bool
    canceled_at: _timestamp_pb2.Timestamp
    provider_customer_id: str
    provider_subscription_id: str
    pending_plan_id: str
    def __init__(self, subscription_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., current_period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trial_ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_at_period_end: _Optional[bool] = ..., canceled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_customer_id: _Optional[str] = ..., provider_subscription_id: _Optional[str] = ..., pending_plan_id: _Optional[str] = ...) -> None: ...

class CreditBalance(_message.Message):
    __slots__ = ("available", "reserved", "period_allowance", "resets_at")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    PERIOD_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    RESETS_AT_FIELD_NUMBER: _ClassVar[int]
    available: int
    reserved: int
    period_allowance: int
    resets_at: _timestamp_pb2.Timestamp
    def __init__(self, available: _Optional[int] = ..., reserved: _Optional[int] = ..., period_allowance: _Optional[int] = ..., resets_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostalAddress(_message.Message):
    __slots__ = ("line1", "line2", "city", "province", "postal_code", "country_code")
    LINE1_FIELD_NUMBER: _ClassVar[int]
    LINE2_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    line1: str
    line2: str
    city: str
    province: str
    postal_code: str
    country_code: str
    def __init__(self, line1: _Optional[str] = ..., line2: _Optional[str] = ..., city: _Optional[str] = ..., province: _Optional[str] = ..., postal_code: _Optional[str] = ..., country_code: _Optional[str] = ...) -> None: ...

class BillingProfile(_message.Message):
    __slots__ = ("business_name", "address", "vat_number", "tax_code", "legal_form", "sdi_code", "pec", "rea_number", "invoice_email", "updated_at")
    BUSINESS_NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VAT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TAX_CODE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_FORM_FIELD_NUMBER: _ClassVar[int]
    SDI_CODE_FIELD_NUMBER: _ClassVar[int]
    PEC_FIELD_NUMBER: _ClassVar[int]
    REA_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INVOICE_EMAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    business_name: str
    address: PostalAddress
    vat_number: str
    tax_code: str
    legal_form: str
    sdi_code: str
    pec: str
    rea_number: str
    invoice_email: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, business_name: _Optional[str] = ..., address: _Optional[_Union[PostalAddress, _Mapping]] = ..., vat_number: _Optional[str] = ..., tax_code: _Optional[str] = ..., legal_form: _Optional[str] = ..., sdi_code: _Optional[str] = ..., pec: _Optional[str] = ..., rea_number: _Optional[str] = ..., invoice_email: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("description", "quantity", "unit_price", "vat_rate_bps", "amount")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    VAT_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    description: str
    quantity: int
    unit_price: _types_pb2.Money
    vat_rate_bps: int
    amount: _types_pb2.Money
    def __init__(self, description: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., vat_rate_bps: _Optional[int] = ..., amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("invoice_id", "number", "issued_at", "status", "lines", "subtotal", "vat", "total", "billed_to", "sdi_status")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    VAT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BILLED_TO_FIELD_NUMBER: _ClassVar[int]
    SDI_STATUS_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    number: str
    issued_at: _timestamp_pb2.Timestamp
    status: InvoiceStatus
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    subtotal: _types_pb2.Money
    vat: _types_pb2.Money
    total: _types_pb2.Money
    billed_to: BillingProfile
    sdi_status: SdiStatus
    def __init__(self, invoice_id: _Optional[str] = ..., number: _Optional[str] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ..., subtotal: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., vat: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., total: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., billed_to: _Optional[_Union[BillingProfile, _Mapping]] = ..., sdi_status: _Optional[_Union[SdiStatus, str]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSubscriptionResponse(_message.Message):
    __slots__ = ("subscription", "plan")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    plan: Plan
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("plan_id", "success_url", "cancel_url", "idempotency_key")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_URL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_URL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    success_url: str
    cancel_url: str
    idempotency_key: str
    def __init__(self, plan_id: _Optional[str] = ..., success_url: _Optional[str] = ..., cancel_url: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("subscription", "checkout_url", "trial_granted")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    TRIAL_GRANTED_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    checkout_url: str
    trial_granted: bool
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ..., checkout_url: _Optional[str] = ..., trial_granted: _Optional[bool] = ...) -> None: ...

class ChangePlanRequest(_message.Message):
    __slots__ = ("plan_id", "idempotency_key")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    idempotency_key: str
    def __init__(self, plan_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ChangePlanResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class CancelSubscriptionRequest(_message.Message):
    __slots__ = ("at_period_end", "reason", "idempotency_key")
    AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    at_period_end: bool
    reason: str
    idempotency_key: str
    def __init__(self, at_period_end: _Optional[bool] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CancelSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class GetCreditBalanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCreditBalanceResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: CreditBalance
    def __init__(self, balance: _Optional[_Union[CreditBalance, _Mapping]] = ...) -> None: ...

class ReserveCreditsRequest(_message.Message):
    __slots__ = ("amount", "reference", "ttl", "idempotency_key")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    amount: int
    reference: str
    ttl: _duration_pb2.Duration
    idempotency_key: str
    def __init__(self, amount: _Optional[int] = ..., reference: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ReserveCreditsResponse(_message.Message):
    __slots__ = ("reservation_id", "expires_at", "balance")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    expires_at: _timestamp_pb2.Timestamp
    balance: CreditBalance
    def __init__(self, reservation_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balance: _Optional[_Union[CreditBalance, _Mapping]] = ...) -> None: ...

class CommitCreditsRequest(_message.Message):
    __slots__ = ("reservation_id", "amount", "idempotency_key")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    amount: int
    idempotency_key: str
    def __init__(self, reservation_id: _Optional[str] = ..., amount: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CommitCreditsResponse(_message.Message):
    __slots__ = ("committed", "released", "balance")
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    committed: int
    released: int
    balance: CreditBalance
    def __init__(self, committed: _Optional[int] = ..., released: _Optional[int] = ..., balance: _Optional[_Union[CreditBalance, _Mapping]] = ...) -> None: ...

class ReleaseCreditsRequest(_message.Message):
    __slots__ = ("reservation_id", "idempotency_key")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    idempotency_key: str
    def __init__(self, reservation_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ReleaseCreditsResponse(_message.Message):
    __slots__ = ("released", "balance")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    released: int
    balance: CreditBalance
    def __init__(self, released: _Optional[int] = ..., balance: _Optional[_Union[CreditBalance, _Mapping]] = ...) -> None: ...

class GetBillingProfileRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBillingProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: BillingProfile
    def __init__(self, profile: _Optional[_Union[BillingProfile, _Mapping]] = ...) -> None: ...

class UpdateBillingProfileRequest(_message.Message):
    __slots__ = ("profile", "update_mask")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    profile: BillingProfile
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, profile: _Optional[_Union[BillingProfile, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateBillingProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: BillingProfile
    def __init__(self, profile: _Optional[_Union[BillingProfile, _Mapping]] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "next_page_token")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[Invoice]
    next_page_token: str
    def __init__(self, invoices: _Optional[_Iterable[_Union[Invoice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("invoice_id",)
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    def __init__(self, invoice_id: _Optional[str] = ...) -> None: ...

class GetInvoiceResponse(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ...) -> None: ...

class DownloadInvoicePdfRequest(_message.Message):
    __slots__ = ("invoice_id",)
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    def __init__(self, invoice_id: _Optional[str] = ...) -> None: ...

class DownloadInvoicePdfResponse(_message.Message):
    __slots__ = ("file_name", "media_type", "content")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    media_type: str
    content: bytes
    def __init__(self, file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class DownloadInvoiceXmlRequest(_message.Message):
    __slots__ = ("invoice_id",)
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    def __init__(self, invoice_id: _Optional[str] = ...) -> None: ...

class DownloadInvoiceXmlResponse(_message.Message):
    __slots__ = ("file_name", "media_type", "content")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    media_type: str
    content: bytes
    def __init__(self, file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class HandleProviderEventRequest(_message.Message):
    __slots__ = ("provider", "payload", "signature_header")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_HEADER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    payload: bytes
    signature_header: str
    def __init__(self, provider: _Optional[str] = ..., payload: _Optional[bytes] = ..., signature_header: _Optional[str] = ...) -> None: ...

class HandleProviderEventResponse(_message.Message):
    __slots__ = ("provider_event_id", "duplicate", "handled")
    PROVIDER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    HANDLED_FIELD_NUMBER: _ClassVar[int]
    provider_event_id: str
    duplicate: bool
    handled: bool
    def __init__(self, provider_event_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., handled: _Optional[bool] = ...) -> None: ...

class MarkInvoicePaidRequest(_message.Message):
    __slots__ = ("account_id", "invoice_id", "bank_reference")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    invoice_id: str
    bank_reference: str
    def __init__(self, account_id: _Optional[str] = ..., invoice_id: _Optional[str] = ..., bank_reference: _Optional[str] = ...) -> None: ...

class MarkInvoicePaidResponse(_message.Message):
    __slots__ = ("invoice", "changed")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    invoice: Invoice
    changed: bool
    def __init__(self, invoice: _Optional[_Union[Invoice, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class GetReferralCodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetReferralCodeResponse(_message.Message):
    __slots__ = ("code", "link_path", "referred_accounts", "rewarded_accounts", "reward_credits")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LINK_PATH_FIELD_NUMBER: _ClassVar[int]
    REFERRED_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    REWARDED_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    REWARD_CREDITS_FIELD_NUMBER: _ClassVar[int]
    code: str
    link_path: str
    referred_accounts: int
    rewarded_accounts: int
    reward_credits: int
    def __init__(self, code: _Optional[str] = ..., link_path: _Optional[str] = ..., referred_accounts: _Optional[int] = ..., rewarded_accounts: _Optional[int] = ..., reward_credits: _Optional[int] = ...) -> None: ...

class RedeemReferralCodeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class RedeemReferralCodeResponse(_message.Message):
    __slots__ = ("reward_credits",)
    REWARD_CREDITS_FIELD_NUMBER: _ClassVar[int]
    reward_credits: int
    def __init__(self, reward_credits: _Optional[int] = ...) -> None: ...

class RecordReferralClickRequest(_message.Message):
    __slots__ = ("code", "referrer", "client")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    code: str
    referrer: str
    client: _types_pb2.ClientContext
    def __init__(self, code: _Optional[str] = ..., referrer: _Optional[str] = ..., client: _Optional[_Union[_types_pb2.ClientContext, _Mapping]] = ...) -> None: ...

class RecordReferralClickResponse(_message.Message):
    __slots__ = ("known",)
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    known: bool
    def __init__(self, known: _Optional[bool] = ...) -> None: ...

class ListCreditEntriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CreditEntry(_message.Message):
    __slots__ = ("entry_id", "kind", "amount", "reference", "reservation_id", "committed", "created_at")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    kind: CreditEntryKind
    amount: int
    reference: str
    reservation_id: str
    committed: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, entry_id: _Optional[int] = ..., kind: _Optional[_Union[CreditEntryKind, str]] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ..., reservation_id: _Optional[str] = ..., committed: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCreditEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[CreditEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[CreditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
