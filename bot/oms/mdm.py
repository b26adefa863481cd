"""The Shopify order data manager (MDM) logs: the imports of the order sync and their failures.

The order sync stages Shopify orders through two MDM configs, SYNC_SHOPIFY_ORDER (new orders)
and UPDATE_SHOPIFY_ORDER (orders already in HotWax); a failed import leaves a failed record
there, not an error on the sync's job run (docs/oms-api.md, "Order runbooks"). Logs are read
newest first (`orderByField=-createdDate`, `createdDate_from`), as HotWax's Company app does
(src/workers/domains/dataManagerLogDomain.ts:70-78).

A failed-records file is JSON wrapped in `{csvData: "<text>"}` (`{}` when nothing is stored),
its records carrying `_ERROR_MESSAGE_`, `_recordNumber` and the nested Shopify order; older
configs store CSV (hotwax/job-manager src/composables/mdmLogs.ts:44-62). The records are
customer data: only the order's id and name and the error are kept, nothing else.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.kit.redact import redact_contacts
from bot.oms.client import OmsClient
from bot.oms.conventions import parse_models
from bot.oms.errors import OmsBadResponse
from bot.oms.models import Id, OmsDatetime, Text
from bot.oms.together import read_each

SYNC_SHOPIFY_ORDER = "SYNC_SHOPIFY_ORDER"
UPDATE_SHOPIFY_ORDER = "UPDATE_SHOPIFY_ORDER"
ORDER_CONFIGS = (SYNC_SHOPIFY_ORDER, UPDATE_SHOPIFY_ORDER)
# job-manager src/utils/config.ts:9-15 (a log with failed records may still be DmlsFinished).
FAILED_STATUSES = ("DmlsFailed", "DmlsCrashed")
ENDED_STATUSES = ("DmlsFinished", "DmlsCancelled", *FAILED_STATUSES)
LOGS_OPERATION = "read the Shopify order MDM logs"
# A runaway guard for paging: a server that keeps answering full pages forever.
MAX_PAGES = 1000
# `recent_logs` looks this far back at most, in at most this many pages per config.
RECENT_DAYS = 30
RECENT_PAGES = 10
ERROR_MAX = 500  # characters of an import error kept (the rest is most often a stack)
_GID = re.compile(r"gid://shopify/Order/(\d+)")
_OLDEST = datetime.min.replace(tzinfo=UTC)
_ERROR_KEYS = ("_ERROR_MESSAGE_", "_ERROR_MESSAGE_LIST_", "error", "errorMessage", "eventMessage")


class MdmLog(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    log_id: Id = Field(alias="logId")
    config_id: Text = Field(default=None, alias="configId")
    status_id: Text = Field(default=None, alias="statusId")
    created_date: OmsDatetime = Field(default=None, alias="createdDate")
    start: OmsDatetime = Field(default=None, alias="startDateTime")
    finish: OmsDatetime = Field(default=None, alias="finishDateTime")
    total_records: int | None = Field(default=None, alias="totalRecordCount")
    failed_records: int | None = Field(default=None, alias="failedRecordCount")
    error_log_content_id: Text = Field(default=None, alias="errorLogContentId")
    system_message_id: Text = Field(default=None, alias="systemMessageId")
    job_run_id: Text = Field(default=None, alias="createdByJobRunId")

    @property
    def status(self) -> str:
        return (self.status_id or "unknown").removeprefix("Dmls").removeprefix("SERVICE_").title()

    @property
    def failed(self) -> bool:
        return self.status_id in FAILED_STATUSES or bool(self.failed_records)

    @property
    def ended(self) -> bool:
        return self.status_id in ENDED_STATUSES


@dataclass(frozen=True)
class FailedRecord:
    """One order the MDM could not import: its Shopify id and name, and the error."""

    shopify_order_id: str
    order_name: str
    error: str
    record_number: str | None = None

    def is_order(self, shopify_id: str, name: str) -> bool:
        """Whether this record is that Shopify order: by its id when it has one (a name can
        be another shop's order), by its name otherwise."""
        if self.shopify_order_id:
            return self.shopify_order_id == shopify_id
        return bool(self.order_name) and self.order_name == name


def iso_ms(moment: datetime) -> str:
    """A moment as HotWax's apps send `createdDate_from`: JavaScript's toISOString, UTC with
    milliseconds and Z (company src/workers/domains/dataManagerLogDomain.ts:75)."""
    if moment.tzinfo is None:
        raise ValueError("an MDM time filter needs an aware datetime")
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


async def iter_logs(
    oms: OmsClient,
    config: str,
    *,
    since: datetime,
    until: datetime | None = None,
    page_size: int = 50,
    max_pages: int = MAX_PAGES,
) -> AsyncIterator[MdmLog]:
    """The logs of one config created in [since, until), newest first, page by page.

    No status filter is sent: a log with failed records is most often DmlsFinished
    (job-manager's `hasFailedRecords`), and Moqui ignores a parameter it does not know, so
    every filter is checked again here."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    size = page_size
    for index in range(max_pages):
        body = await oms.maarg_call(
            "GET",
            "admin/dataManager/details",
            operation=LOGS_OPERATION,
            params={
                "configId": config,
                "createdDate_from": iso_ms(since),
                "orderByField": "-createdDate",
                "pageIndex": str(index),
                "pageSize": str(size),
            },
        )
        rows = body.get("dataManagerLogs") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise OmsBadResponse(LOGS_OPERATION, "no dataManagerLogs list in the answer")
        total = _count(body.get("dataManagerLogsCount"))
        logs = parse_models(MdmLog, [r for r in rows if isinstance(r, dict)], LOGS_OPERATION)
        for log in logs:
            created = log.created_date
            if log.config_id is None:  # the config asked for: its files are read under it
                log = log.model_copy(update={"config_id": config})
            if (
                log.config_id == config
                and created is not None
                and since <= created
                and (until is None or created < until)
            ):
                yield log
        oldest = logs[-1].created_date if logs else None
        if not rows or (oldest is not None and oldest < since):
            return  # newest first: a page reaching back before the window ends it
        if len(rows) < size:
            if index > 0 or total is None or total <= len(rows):
                return  # a short page is the last one
            # A short first page with more rows announced: the server caps the page size.
            # Go on with its real size, so pageIndex offsets line up.
            size = len(rows)
        elif total is not None and (index + 1) * size >= total:
            return


def _count(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


async def recent_logs(
    oms: OmsClient,
    *,
    configs: Sequence[str] = ORDER_CONFIGS,
    failed_only: bool = False,
    since: datetime | None = None,
    limit: int = 20,
) -> list[MdmLog]:
    """The newest `limit` MDM logs of `configs` (only failed ones, only since a time, when
    asked), newest first. Without `since`, the last RECENT_DAYS days are read."""
    start = since or datetime.now(UTC) - timedelta(days=RECENT_DAYS)

    async def newest_of(config: str) -> list[MdmLog]:
        found: list[MdmLog] = []
        async for log in iter_logs(
            oms, config, since=start, page_size=max(limit, 20), max_pages=RECENT_PAGES
        ):
            if not failed_only or log.failed:
                found.append(log)
                if len(found) >= limit:
                    break
        return found

    # The configs' logs are independent reads: together they take one config's time.
    per_config = await read_each(newest_of(config) for config in configs)
    logs = [log for found in per_config for log in found]
    logs.sort(key=lambda log: log.created_date or _OLDEST, reverse=True)
    return logs[:limit]


async def failed_records(oms: OmsClient, log: MdmLog) -> list[FailedRecord]:
    """The failed records of one log (none when it stored no failed-records file)."""
    if not log.error_log_content_id:
        return []
    text = await oms.maarg_download(
        "admin/dataManager/downloadDataManagerFile",
        {
            "configId": log.config_id or SYNC_SHOPIFY_ORDER,
            "logContentId": log.error_log_content_id,
        },
        operation="download the MDM failed records",
    )
    return parse_failed_records(text)


def parse_failed_records(text: str) -> list[FailedRecord]:
    """Read a failed-records file as the OMS serves it: JSON (in its `csvData` envelope or
    bare) first, CSV otherwise."""
    content: Any = text
    with contextlib.suppress(ValueError):
        content = json.loads(text)
    if isinstance(content, dict) and "csvData" in content:
        content = content["csvData"]
        if isinstance(content, str):
            with contextlib.suppress(ValueError):
                content = json.loads(content)
    if isinstance(content, dict) and content:
        # One record, or the records under a single key ({"records": [...]}).
        lists = [v for v in content.values() if isinstance(v, list)]
        content = lists[0] if len(lists) == 1 and len(content) == 1 else [content]
    if isinstance(content, list):
        return [r for r in (_from_json(row) for row in content) if r is not None]
    if isinstance(content, str) and content.strip():
        return [r for r in (_from_csv(row) for row in csv.DictReader(io.StringIO(content))) if r]
    return []


def _error_of(record: dict[str, Any]) -> str:
    for key in _ERROR_KEYS:
        value = record.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        if isinstance(value, str) and value.strip():
            return _shown_error(value)
    return "no error message recorded"


# A digest reads up to hundreds of thousands of records whose errors mostly repeat: each
# distinct text is redacted once.
@lru_cache(maxsize=4096)
def _shown_error(text: str) -> str:
    return redact_contacts(" ".join(text.split()))[:ERROR_MAX]


def _walk(value: Any) -> Iterable[dict[str, Any]]:
    """Every object in a nested JSON value, outermost first."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _gid_of(node: dict[str, Any]) -> re.Match[str] | None:
    for key in ("admin_graphql_api_id", "id"):
        found = _GID.fullmatch(str(node.get(key) or ""))
        if found:
            return found
    return None


def _from_json(record: Any) -> FailedRecord | None:
    """The order's id and name from wherever the nested Shopify order holds them: a GraphQL
    GID (`id`, or REST's `admin_graphql_api_id`), a REST order's numeric `id` next to its
    `order_number`, or the flat fields of older configs."""
    if not isinstance(record, dict):
        return None
    shopify_id, name = "", ""
    # The staged order is most often the record itself, the first node walked: tried first.
    gid = _gid_of(record)
    if gid:
        shopify_id, name = gid.group(1), str(record.get("name") or "")
    else:
        for node in _walk(record):
            gid = _gid_of(node)
            if gid:
                shopify_id, name = gid.group(1), str(node.get("name") or "")
                break
    if not shopify_id:
        for node in _walk(record):
            if node.get("order_number") is not None and str(node.get("id") or "").isdigit():
                shopify_id, name = str(node["id"]), str(node.get("name") or "")
                break
    if not shopify_id:
        legacy = record.get("shopifyOrderId") or record.get("legacyResourceId")
        shopify_id = str(legacy or "")
        name = str(record.get("orderName") or record.get("name") or "")
    number = record.get("_recordNumber")
    return FailedRecord(
        shopify_order_id=shopify_id,
        order_name=name,
        error=_error_of(record),
        record_number=None if number is None else str(number),
    )


def _from_csv(row: dict[str, Any]) -> FailedRecord | None:
    if not any(row.values()):
        return None
    gid = _GID.fullmatch(str(row.get("id") or ""))
    shopify_id = gid.group(1) if gid else str(row.get("shopifyOrderId") or row.get("id") or "")
    return FailedRecord(
        shopify_order_id=shopify_id,
        order_name=str(row.get("orderName") or row.get("name") or ""),
        error=_error_of(row),
        record_number=str(row["_recordNumber"]) if row.get("_recordNumber") else None,
    )
