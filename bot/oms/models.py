"""What the client reads from HotWax, as pydantic models.

Field aliases are HotWax's own names, so the real JSON parses as-is; the Python names are
snake_case. Both backends serialise timestamps differently (Moqui and OFBiz JSON give epoch
milliseconds, Solr gives ISO-8601), so every datetime field accepts either.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

ORDER_CANCELLED = "ORDER_CANCELLED"

SALES_CHANNEL_LABELS = {
    "POS_SALES_CHANNEL": "POS",
    "WEB_SALES_CHANNEL": "Web",
    "MOBILE_SALES_CHANNEL": "Mobile",
    "MARKETPLACE_CHANNEL": "Marketplace",
}


def _to_datetime(value: Any) -> Any:
    """Epoch ms (number or digit string) -> aware UTC datetime; leave other values to pydantic."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value  # let pydantic reject it rather than read True as 1 ms
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str) and value.strip().isdigit():
        return datetime.fromtimestamp(int(value.strip()) / 1000, tz=UTC)
    return value


def _assume_utc(value: datetime | None) -> datetime | None:
    # OFBiz sometimes sends "2024-01-03 10:15:12.0" without a zone; HotWax stores UTC, and
    # mixing naive and aware datetimes would make sorting versions crash.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


OmsDatetime = Annotated[datetime | None, BeforeValidator(_to_datetime), AfterValidator(_assume_utc)]
OptionalDecimal = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]


def _text(value: Any) -> Any:
    """Ids and values may come as numbers; a JSON value that is a map or list stays JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


# Moqui answers ids and flags as strings or numbers, depending on the field and the version.
Text = Annotated[str | None, BeforeValidator(_text)]
Id = Annotated[str, BeforeValidator(_text)]


class _OmsModel(BaseModel):
    # populate_by_name lets tests and the sandbox build models with Python names too;
    # extra="ignore" because HotWax adds fields between releases and that must not break us.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class OrderIdentification(_OmsModel):
    type_id: str = Field(alias="orderIdentificationTypeId")
    value: str = Field(alias="idValue")
    from_date: OmsDatetime = Field(default=None, alias="fromDate")
    thru_date: OmsDatetime = Field(default=None, alias="thruDate")

    @property
    def is_active(self) -> bool:
        # An expired identification (thruDate set) is how HotWax "removes" one.
        return self.thru_date is None


class StatusChange(_OmsModel):
    status_id: str = Field(alias="statusId")
    status_datetime: OmsDatetime = Field(default=None, alias="statusDatetime")
    user_login: str | None = Field(default=None, alias="statusUserLogin")
    order_item_seq_id: str | None = Field(default=None, alias="orderItemSeqId")
    change_reason: str | None = Field(default=None, alias="changeReason")
    order_status_id: str | None = Field(default=None, alias="orderStatusId")


class OrderItem(_OmsModel):
    order_item_seq_id: str = Field(alias="orderItemSeqId")
    product_id: str | None = Field(default=None, alias="productId")
    item_description: str | None = Field(default=None, alias="itemDescription")
    quantity: OptionalDecimal = None
    unit_price: OptionalDecimal = Field(default=None, alias="unitPrice")
    status_id: str | None = Field(default=None, alias="statusId")
    ship_group_seq_id: str | None = Field(default=None, alias="shipGroupSeqId")


class ShipGroup(_OmsModel):
    ship_group_seq_id: str | None = Field(default=None, alias="shipGroupSeqId")
    facility_id: str | None = Field(default=None, alias="facilityId")
    items: list[OrderItem] = Field(default_factory=list)


# The order's other rows, by the relation name the order master gives them (hotwax/oms
# entity/OrderExtendedEntities.xml:53-64), with the key fields that name a row. Only keys
# are kept: these rows carry customer data (addresses, notes) that must go nowhere.
DEPENDENT_KEYS: dict[str, tuple[str, ...]] = {
    "roles": ("partyId", "roleTypeId"),
    "contactMechs": ("contactMechPurposeTypeId", "contactMechId"),
    "adjustments": ("orderAdjustmentId",),
    "attributes": ("attrName",),
    "notes": ("noteId",),
    "itemAssocs": ("orderItemSeqId", "toOrderId", "toOrderItemSeqId"),
}


class PaymentPreference(_OmsModel):
    payment_preference_id: str | None = Field(default=None, alias="orderPaymentPreferenceId")
    payment_method_type_id: str | None = Field(default=None, alias="paymentMethodTypeId")
    status_id: str | None = Field(default=None, alias="statusId")
    max_amount: OptionalDecimal = Field(default=None, alias="maxAmount")


class Order(_OmsModel):
    """One OrderHeader version. Accepts the Moqui list master and the get#SalesOrder detail."""

    order_id: str = Field(alias="orderId")
    order_name: str | None = Field(default=None, alias="orderName")
    external_id: str | None = Field(
        default=None, validation_alias=AliasChoices("externalId", "orderExternalId")
    )
    status_id: str | None = Field(
        default=None, validation_alias=AliasChoices("statusId", "orderStatusId")
    )
    sales_channel_enum_id: str | None = Field(
        default=None, validation_alias=AliasChoices("salesChannelEnumId", "salesChannel")
    )
    product_store_id: str | None = Field(default=None, alias="productStoreId")
    order_date: OmsDatetime = Field(default=None, alias="orderDate")
    entry_date: OmsDatetime = Field(default=None, alias="entryDate")
    grand_total: OptionalDecimal = Field(default=None, alias="grandTotal")
    currency_uom: str | None = Field(default=None, alias="currencyUom")
    identifications: list[OrderIdentification] = Field(default_factory=list)
    statuses: list[StatusChange] = Field(default_factory=list)
    # The list master nests items under ship groups (hotwax/oms service/oms.rest.xml:23-26,
    # entity/OrderExtendedEntities.xml:60-74); `items` gathers them (an answer that lists
    # items at the top, as get#SalesOrder does, is read as it is).
    items: list[OrderItem] = Field(default_factory=list)
    ship_groups: list[ShipGroup] = Field(default_factory=list, alias="shipGroups")
    payment_preferences: list[PaymentPreference] = Field(
        default_factory=list, alias="paymentPreferences"
    )
    # The other rows of the order master, as {relation: [key fields of each row]}.
    dependents: dict[str, list[dict[str, str]]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        groups = data.get("shipGroups")
        if not data.get("items") and isinstance(groups, list):
            data["items"] = [
                {**item, "shipGroupSeqId": item.get("shipGroupSeqId", group.get("shipGroupSeqId"))}
                for group in groups
                if isinstance(group, dict)
                for item in (group.get("items") or [])
                if isinstance(item, dict)
            ]
        if "dependents" not in data:
            data["dependents"] = {
                relation: [
                    {k: str(row[k]) for k in keys if row.get(k) not in (None, "")}
                    for row in data[relation]
                    if isinstance(row, dict)
                ]
                for relation, keys in DEPENDENT_KEYS.items()
                if isinstance(data.get(relation), list) and data[relation]
            }
        return data

    def identification(self, type_id: str) -> str | None:
        """The active value of one identification type (SHOPIFY_ORD_ID, SHOPIFY_ORD_NAME, ...)."""
        for ident in self.identifications:
            if ident.type_id == type_id and ident.is_active:
                return ident.value
        return None

    @property
    def shopify_order_id(self) -> str | None:
        return self.identification("SHOPIFY_ORD_ID") or self.external_id

    @property
    def shopify_order_name(self) -> str | None:
        return self.identification("SHOPIFY_ORD_NAME") or self.order_name

    @property
    def is_cancelled(self) -> bool:
        return self.status_id == ORDER_CANCELLED

    @property
    def sales_channel_label(self) -> str:
        channel = self.sales_channel_enum_id
        if channel is None:
            return "unknown"
        return SALES_CHANNEL_LABELS.get(channel, channel)

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """Newest version last when sorted ascending: entry date, then order id as tie-break."""
        moment = self.entry_date or self.order_date or datetime.min.replace(tzinfo=UTC)
        return moment, self.order_id


class UserProfile(_OmsModel):
    user_login_id: str = Field(alias="userLoginId")
    party_id: str | None = Field(default=None, alias="partyId")
    party_name: str | None = Field(default=None, alias="partyName")
    user_time_zone: str | None = Field(default=None, alias="userTimeZone")
