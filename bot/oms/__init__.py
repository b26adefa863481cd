"""The HotWax OMS client: HTTP, HotWax shapes and errors; nothing of Slack."""

from bot.oms.client import MaargList, OmsClient
from bot.oms.errors import (
    OmsAuthError,
    OmsBadResponse,
    OmsError,
    OmsRequestError,
    OmsUnavailable,
)
from bot.oms.models import (
    Order,
    OrderIdentification,
    OrderItem,
    PaymentPreference,
    StatusChange,
    UserProfile,
)
from bot.oms.refs import OrderRef, parse_order_ref

__all__ = [
    "MaargList",
    "OmsAuthError",
    "OmsBadResponse",
    "OmsClient",
    "OmsError",
    "OmsRequestError",
    "OmsUnavailable",
    "Order",
    "OrderIdentification",
    "OrderItem",
    "OrderRef",
    "PaymentPreference",
    "StatusChange",
    "UserProfile",
    "parse_order_ref",
]
