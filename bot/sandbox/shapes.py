"""Records -> the JSON each HotWax backend returns (field names per the API reference).

Timestamps: Moqui and OFBiz JSON carry epoch milliseconds, Solr carries ISO-8601 with a Z.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.data import DEMO_SHOPIFY_SHOP_ID, SHOP_DOMAIN
from bot.sandbox.records import (
    DEMO_STORE,
    IdentificationRecord,
    ImportFailure,
    MdmLog,
    OrderRecord,
    SeedData,
)

# The zone the sandbox's user profiles name (admin/user/profile `timeZone`, OFBiz
# user-profile `userTimeZone`): the one its zone-less human times are written in.
PROFILE_TIME_ZONE = ZoneInfo("America/New_York")

_STATUS_DESC = {
    "ORDER_CREATED": "Created",
    "ORDER_APPROVED": "Approved",
    "ORDER_HOLD": "Held",
    "ORDER_COMPLETED": "Completed",
    "ORDER_CANCELLED": "Cancelled",
    "ORDER_REJECTED": "Rejected",
    "ITEM_CREATED": "Created",
    "ITEM_APPROVED": "Approved",
    "ITEM_COMPLETED": "Completed",
    "ITEM_CANCELLED": "Cancelled",
}
_CHANNEL_DESC = {
    "WEB_SALES_CHANNEL": "Web Channel",
    "POS_SALES_CHANNEL": "POS Channel",
    "MOBILE_SALES_CHANNEL": "Mobile Channel",
    "MARKETPLACE_CHANNEL": "Marketplace Channel",
}


def epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def iso_z(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal) -> float:
    return float(value)


HEADER_FIELDS = (
    "orderId",
    "orderTypeId",
    "orderName",
    "externalId",
    "salesChannelEnumId",
    "orderDate",
    "entryDate",
    "statusId",
    "productStoreId",
    "currencyUom",
    "grandTotal",
    "originFacilityId",
    "createdBy",
)


# -- entity rows (OFBiz performFind and the Moqui entity routes share field names) ----------


def order_header_row(order: OrderRecord) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "orderTypeId": "SALES_ORDER",
        "orderName": order.order_name,
        "externalId": order.external_id,
        "salesChannelEnumId": order.sales_channel_enum_id,
        "orderDate": epoch_ms(order.order_date),
        "entryDate": epoch_ms(order.entry_date),
        "statusId": order.status_id,
        "productStoreId": order.product_store_id,
        "currencyUom": order.currency_uom,
        "grandTotal": _number(order.grand_total),
        "originFacilityId": order.facility_id,
        "createdBy": "system",
    }


def lookup_row(order: OrderRecord, now: datetime) -> dict[str, Any]:
    """The header row as `oms/orders?externalId=` matches it. `externalId` and `orderName` are
    OrderHeader fields (ofbiz-oms-udm DatamodelOrderEntitymodel.xml:167-168): expiring an
    OrderIdentification does not change them, so the order is still found by its Shopify id
    (docs/oms-api.md, "Order runbooks")."""
    return order_header_row(order)


def order_item_rows(order: OrderRecord) -> list[dict[str, Any]]:
    return [
        {
            "orderId": order.order_id,
            "orderItemSeqId": item.seq_id,
            "productId": item.product_id,
            "itemDescription": item.product_name,
            "quantity": _number(item.quantity),
            "unitPrice": _number(item.unit_price),
            "statusId": item.status_id,
            "shipGroupSeqId": item.ship_group_seq_id,
        }
        for item in order.items
    ]


def _identification_row(order_id: str, ident: IdentificationRecord) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "orderIdentificationTypeId": ident.type_id,
        "idValue": ident.value,
        "fromDate": epoch_ms(ident.from_date),
        "thruDate": epoch_ms(ident.thru_date),
    }


def identification_rows(order: OrderRecord) -> list[dict[str, Any]]:
    return [_identification_row(order.order_id, ident) for ident in order.identifications]


def status_rows(order: OrderRecord) -> list[dict[str, Any]]:
    return [
        {
            "orderStatusId": status.order_status_id,
            "orderId": order.order_id,
            "statusId": status.status_id,
            "statusDatetime": epoch_ms(status.status_datetime),
            "statusUserLogin": status.user_login,
            "orderItemSeqId": status.order_item_seq_id,
            "changeReason": status.change_reason,
        }
        for status in order.statuses
    ]


def payment_rows(order: OrderRecord) -> list[dict[str, Any]]:
    return [
        {
            "orderPaymentPreferenceId": pay.pref_id,
            "orderId": order.order_id,
            "paymentMethodTypeId": pay.method_type_id,
            "statusId": pay.status_id,
            "maxAmount": _number(pay.max_amount),
        }
        for pay in order.payments
    ]


def mdm_log_rows(log: MdmLog) -> dict[str, Any]:
    """The OFBiz DataManagerLogAndContent view of one log."""
    return {
        "logId": log.log_id,
        "configId": log.config_id,
        "statusId": log.status_id,
        "createdDate": epoch_ms(log.created_date),
        "startDateTime": epoch_ms(log.start_date_time),
        "finishDateTime": epoch_ms(log.finish_date_time),
        "logFileContentId": log.log_content_id,
        "errorRecordContentId": log.error_log_content_id,
        "contentName": f"{log.config_id}.json",
        "dataResourceId": f"{log.log_id}_DR",
        "totalRecordCount": log.total_record_count,
        "failedRecordCount": len(log.failed_records),
        "createdByJobRunId": log.created_by_job_run_id,
    }


def moqui_mdm_log(log: MdmLog) -> dict[str, Any]:
    """One row of Moqui `admin/dataManager/details` (`dataManagerLogs`)."""
    return {
        "logId": log.log_id,
        "configId": log.config_id,
        "description": "Shopify Order MDM",
        "statusId": log.status_id,
        "createdDate": epoch_ms(log.created_date),
        "startDateTime": epoch_ms(log.start_date_time),
        "finishDateTime": epoch_ms(log.finish_date_time),
        "totalRecordCount": log.total_record_count,
        "failedRecordCount": len(log.failed_records),
        "productStoreId": DEMO_STORE,
        "createdByUserLogin": "system",
        "logContentId": log.log_content_id,
        "errorLogContentId": log.error_log_content_id,
        "systemMessageId": None,
        "createdByJobRunId": log.created_by_job_run_id,
    }


def entity_rows(data: SeedData, entity: str) -> list[dict[str, Any]] | None:
    """All rows of one entity, or None when the sandbox does not know that entity."""
    orders = sorted(data.orders.values(), key=lambda order: order.order_id)
    if entity == "OrderHeader":
        return [order_header_row(order) for order in orders]
    per_order = {
        "OrderItem": order_item_rows,
        "OrderStatus": status_rows,
        "OrderPaymentPreference": payment_rows,
    }.get(entity)
    if per_order is not None:
        return [row for order in orders for row in per_order(order)]
    if entity == "OrderIdentification":
        return [row for order in orders for row in identification_rows(order)]
    if entity == "DataManagerLogAndContent":
        return [mdm_log_rows(log) for log in data.mdm_logs]
    return None


# -- Maarg order shapes -------------------------------------------------------------------


def maarg_order(order: OrderRecord) -> dict[str, Any]:
    """One OrderHeader as `GET oms/orders` returns it: the entity list with
    masterName="default" (hotwax/oms service/oms.rest.xml:23-26), whatever dependentLevels
    says. The master nests items under ship groups and carries the order's other rows
    (entity/OrderExtendedEntities.xml:53-74)."""
    row = order_header_row(order)
    row["roles"] = [
        {"orderId": order.order_id, "partyId": order.customer_party_id, "roleTypeId": role}
        for role in ("BILL_TO_CUSTOMER", "PLACING_CUSTOMER", "SHIP_TO_CUSTOMER")
    ]
    row["contactMechs"] = [
        {
            "orderId": order.order_id,
            "contactMechPurposeTypeId": purpose,
            "contactMechId": f"{order.order_id}{suffix}",
        }
        for purpose, suffix in (("SHIPPING_LOCATION", "SL"), ("ORDER_EMAIL", "EM"))
    ]
    row["paymentPreferences"] = payment_rows(order)
    row["adjustments"] = []
    row["attributes"] = []
    row["notes"] = [
        {"orderId": order.order_id, "noteId": f"{order.order_id}N{n + 1}"}
        for n in range(len(order.notes))
    ]
    row["shipGroups"] = [
        {
            "orderId": order.order_id,
            "shipGroupSeqId": "00001",
            "facilityId": order.facility_id,
            "shipmentMethodTypeId": order.shipment_method_type_id,
            "items": order_item_rows(order),
        }
    ]
    row["statuses"] = status_rows(order)
    row["identifications"] = identification_rows(order)
    row["itemAssocs"] = []
    return row


def sales_order_detail(order: OrderRecord) -> dict[str, Any]:
    """The get#SalesOrder answer behind `GET oms/orders/{orderId}`."""
    first, _, last = order.customer_name.partition(" ")
    return {
        "orderDetail": {
            "orderId": order.order_id,
            "orderName": order.order_name,
            "orderExternalId": order.external_id,
            "orderDate": epoch_ms(order.order_date),
            "orderStatusId": order.status_id,
            "productStoreId": order.product_store_id,
            "entryDate": epoch_ms(order.entry_date),
            "grandTotal": _number(order.grand_total),
            "currencyUom": order.currency_uom,
            "salesChannel": order.sales_channel_enum_id,
            "partyId": order.customer_party_id,
            "roleTypeId": "BILL_TO_CUSTOMER",
            "customerFirstName": first,
            "customerLastName": last,
            "shipGroups": [
                {
                    "shipGroupSeqId": "00001",
                    "shipmentMethodTypeId": order.shipment_method_type_id,
                    "facilityId": order.facility_id,
                    "facilityName": order.facility_id.replace("_", " ").title(),
                    "items": order_item_rows(order),
                }
            ],
        }
    }


# -- Solr documents -----------------------------------------------------------------------


def order_solr_docs(order: OrderRecord, now: datetime | None = None) -> list[dict[str, Any]]:
    """docType ORDER: one document per order item, as HotWax indexes them.

    Expired identifications (thruDate passed at `now`) are left out, as a reindex would.
    """
    status = order.indexed_status_id or order.status_id
    idents = [
        f"{ident.type_id}/{ident.value}"
        for ident in order.identifications
        if now is None or ident.active_at(now)
    ]
    docs = []
    for item in order.items:
        docs.append(
            {
                "docType": "ORDER",
                "orderId": order.order_id,
                "orderName": order.order_name,
                "orderItemSeqId": item.seq_id,
                "productId": item.product_id,
                "productName": item.product_name,
                "parentProductName": item.product_name,
                "internalName": item.product_id,
                "quantity": _number(item.quantity),
                "unitPrice": _number(item.unit_price),
                "orderItemStatusId": item.status_id,
                "orderItemStatusDesc": _STATUS_DESC.get(item.status_id, item.status_id),
                "orderTypeId": "SALES_ORDER",
                "productStoreId": order.product_store_id,
                "productStoreName": "Demo Store",
                "shipmentMethodTypeId": order.shipment_method_type_id,
                "facilityId": order.facility_id,
                "facilityName": order.facility_id.replace("_", " ").title(),
                "orderStatusId": status,
                "orderStatusDesc": _STATUS_DESC.get(status, status),
                "statusSeqId": "01",
                "orderDate": iso_z(order.order_date),
                "orderNotes": list(order.notes),
                "customerEmailId": order.customer_email,
                "customerPartyId": order.customer_party_id,
                "customerPartyName": order.customer_name,
                "salesChannelEnumId": order.sales_channel_enum_id,
                "salesChannelDesc": _CHANNEL_DESC.get(order.sales_channel_enum_id),
                "placingPartyName": order.customer_name,
                "orderIdentifications": idents,
                "search_orderIdentifications": idents,
                "shipGroupSeqId": item.ship_group_seq_id,
                "autoCancelDate": None,
                "promisedDatetime": None,
            }
        )
    return docs


def log_insights_doc(failure: ImportFailure) -> dict[str, Any]:
    """docType SHOPIFY_ORDER in core logInsights: one failed Shopify order import, in the
    documented shape (seed 003, hotwax/oms-documentation order-reconciliations.md): `site` is
    the order's status page on the shop's myshopify domain (shop id, a token, `authenticate?key=`),
    and there is no Shopify order id field."""
    expire = failure.timestamp + timedelta(days=60)  # matches ttl "+60DAYS"
    # Zone-less, in the OMS user's zone (docs/oms-api.md, "Times without a zone").
    first = failure.first_attempted.astimezone(PROFILE_TIME_ZONE)
    token = failure.document_id.replace("-", "")
    return {
        "docType": "SHOPIFY_ORDER",
        "site": f"https://{failure.shop_domain or SHOP_DOMAIN}/"
        f"{failure.shopify_shop_id or DEMO_SHOPIFY_SHOP_ID}/orders/{token}/authenticate?key=",
        "shopifyOrderName": failure.shopify_order_name,
        "orderCreatedDate": str(epoch_ms(failure.order_created)),
        "firstAttemptedImport": f"{first:%B} {first.day}, {first:%Y %I:%M:%S %p}",
        "ttl": "+60DAYS",
        "errorMessage": failure.error_message,
        "timestamp": iso_z(failure.timestamp),
        "expire_at": iso_z(expire),
        "document-id": failure.document_id,
        "version": failure.version,
    }
