"""Failed Shopify order imports recorded by the order MDM, page by page, as `FailedImport` rows.

The order sync stages Shopify orders through the MDM configs SYNC_SHOPIFY_ORDER (new orders) and
UPDATE_SHOPIFY_ORDER (orders already in HotWax); an order that fails is a failed record in its
log's error file (bot/oms/mdm.py reads those). This walks one window of logs of both configs,
newest first, page by page (`orderByField=-createdDate`, `createdDate_from`, `pageIndex`), as
HotWax's Company app pages them (src/workers/domains/dataManagerLogDomain.ts:70-78), and
yields each failed log's records: memory holds one page of logs and one log's records.

A log counts as failed when its status is failed or it counts failed records (job-manager's
`hasFailedRecords`), so logs are not filtered by status on the server: a finished log with
failed records would be missed. Every filter is checked again here, since Moqui ignores a
parameter it does not know. The MDM logs name no shop (admin/dataManager/details ignores shop
filters, company docs/cache-sync-remaining-work.md:190-191): the rows carry no shop.

The failed records hold the whole Shopify order (the customer, the addresses): mdm.py keeps
only the order's id and name and the error, and so does everything here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from bot.oms import mdm
from bot.oms.client import OmsClient
from bot.oms.loginsights import MDM, FailedImport


def _row(log: mdm.MdmLog, record: mdm.FailedRecord, shop: str | None) -> FailedImport:
    moment = log.created_date or log.finish or datetime.now(UTC)
    number = f" record {record.record_number}" if record.record_number else ""
    return FailedImport(
        source=MDM,
        reference=f"MDM log {log.log_id}{number}",
        shopify_order_name=record.order_name.strip() or "(no order name)",
        shopify_order_id=record.shopify_order_id or None,
        shop=shop,
        error_message=record.error,
        first_attempted="",
        order_created=None,
        timestamp=moment,
    )


async def iter_mdm_failures(
    oms: OmsClient, *, since: float, until: float, page_size: int, shop: str | None = None
) -> AsyncIterator[list[FailedImport]]:
    """The failed records of every failed log of both order configs in [since, until): one
    list per failed log, newest log first within each config. The MDM names no shop: `shop`
    is the one the caller knows every record comes from, if any."""
    seen: set[str] = set()  # a log moved to a later page while we paged is read once
    for config in mdm.ORDER_CONFIGS:
        async for log in mdm.iter_logs(
            oms,
            config,
            since=datetime.fromtimestamp(since, UTC),
            until=datetime.fromtimestamp(until, UTC),
            page_size=page_size,
        ):
            if log.log_id in seen or not log.failed:
                continue
            seen.add(log.log_id)
            records = await mdm.failed_records(oms, log)
            yield [_row(log, record, shop) for record in records]
