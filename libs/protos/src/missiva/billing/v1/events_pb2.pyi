import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from missiva.billing.v1 import billing_service_pb2 as _billing_service_pb2
from missiva.common.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscriptionChanged(_message.Message):
    __slots__ = ("subscription_id", "previous_plan_id", "plan_id", "previous_status", "status", "current_period_end")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    previous_plan_id: str
    plan_id: str
    previous_status: _billing_service_pb2.SubscriptionStatus
    status: _billing_service_pb2.SubscriptionStatus
    current_period_end: _timestamp_pb2.Timestamp
    def __init__(self, subscription_id: _Optional[str] = ..., previous_plan_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., previous_status: _Optional[_Union[_billing_service_pb2.SubscriptionStatus, str]] = ..., status: _Optional[_Union[_billing_service_pb2.SubscriptionStatus, str]] = ..., current_period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditsLow(_message.Message):
    __slots__ = ("available", "threshold")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    available: int
    threshold: int
    def __init__(self, available: _Optional[int] = ..., threshold: _Optional[int] = ...) -> None: ...

class PaymentFailed(_message.Message):
    __slots__ = ("subscription_id", "amount", "failure_code", "next_retry_at")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    amount: _types_pb2.Money
    failure_code: str
    next_retry_at: _timestamp_pb2.Timestamp
    def __init__(self, subscription_id: _Optional[str] = ..., amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., failure_code: _Optional[str] = ..., next_retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InvoiceIssued(_message.Message):
    __slots__ = ("invoice_id", "number", "total", "issued_at")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    number: str
    total: _types_pb2.Money
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, invoice_id: _Optional[str] = ..., number: _Optional[str] = ..., total: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
