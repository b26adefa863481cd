"""The "Shopify Order MDM" data manager logs: recent runs, counts and failed records."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.oms.client import OmsClient
from bot.oms.errors import OmsBadResponse
from bot.oms.models import OmsDatetime

SHOPIFY_ORDER_MDM = "SYNC_SHOPIFY_ORDER"
FAILED_STATUSES = "DmlsFailed,DmlsCrashed"


class MdmLog(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    log_id: str = Field(alias="logId")
    config_id: str | None = Field(default=None, alias="configId")
    status_id: str | None = Field(default=None, alias="statusId")
    created_date: OmsDatetime = Field(default=None, alias="createdDate")
    start: OmsDatetime = Field(default=None, alias="startDateTime")
    finish: OmsDatetime = Field(default=None, alias="finishDateTime")
    total_records: int | None = Field(default=None, alias="totalRecordCount")
    failed_records: int | None = Field(default=None, alias="failedRecordCount")
    error_log_content_id: str | None = Field(default=None, alias="errorLogContentId")
    job_run_id: str | None = Field(default=None, alias="createdByJobRunId")

    @property
    def status(self) -> str:
        return (self.status_id or "unknown").removeprefix("Dmls").removeprefix("SERVICE_").title()

    @property
    def failed(self) -> bool:
        return self.status_id in ("DmlsFailed", "DmlsCrashed") or bool(self.failed_records)


@dataclass(frozen=True)
class FailedRecord:
    shopify_order_id: str
    order_name: str
    event_message: str


async def recent_logs(
    oms: OmsClient, *, failed_only: bool = False, since: datetime | None = None, limit: int = 20
) -> list[MdmLog]:
    """The newest MDM runs (optionally only failed ones, only since a time)."""
    params = {"configId": SHOPIFY_ORDER_MDM, "pageSize": str(limit), "pageIndex": "0"}
    if failed_only:
        params.update({"statusId": FAILED_STATUSES, "statusId_op": "in"})
    operation = "read the Shopify Order MDM logs"
    body = await oms.maarg_call(
        "GET", "admin/dataManager/details", operation=operation, params=params
    )
    rows = body.get("dataManagerLogs") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise OmsBadResponse(operation, "no dataManagerLogs list in the answer")
    logs = [MdmLog.model_validate(r) for r in rows if isinstance(r, dict)]
    if since is not None:
        logs = [log for log in logs if log.created_date is None or log.created_date >= since]
    return logs


async def failed_records_file(oms: OmsClient, log: MdmLog) -> str:
    """The failed-records file of a run, as the OMS serves it (CSV)."""
    if not log.error_log_content_id:
        return ""
    return await oms.maarg_download(
        "admin/dataManager/downloadDataManagerFile",
        {"configId": log.config_id or SHOPIFY_ORDER_MDM, "logContentId": log.error_log_content_id},
        operation="download the MDM failed records",
    )


def parse_failed_records(text: str) -> list[FailedRecord]:
    rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(text)))
    return [
        FailedRecord(
            shopify_order_id=str(r.get("shopifyOrderId") or ""),
            order_name=str(r.get("orderName") or ""),
            event_message=str(r.get("eventMessage") or ""),
        )
        for r in rows
    ]
