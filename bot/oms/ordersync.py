"""Re-import one Shopify order: replay the shop's order-sync job over a one-minute window.

HotWax has no public "import this order" endpoint (docs/oms-api.md, "Refresh, composed": [NF]).
HotWax's own Company app re-imports one order by replaying the order-sync ServiceJob around the
order's Shopify `updatedAt`: put the job's FULL parameter list with fromDate/thruDate set, run
it now, restore the parameters, then follow the run [SRC
hotwax/company:src/composables/useShopify.ts]."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.oms.client import OmsClient, path_part
from bot.oms.errors import OmsBadResponse

# Maarg rejects ISO timestamps here: "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]".
TIMESTAMP = "%Y-%m-%d %H:%M:%S"
WINDOW = timedelta(minutes=1)


@dataclass
class SyncRun:
    job_run_id: str
    finished: bool = False
    has_error: bool = False
    errors: str = ""
    messages: list[str] = field(default_factory=list)


def _param_list(detail: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    params = detail.get("serviceJobParameters")
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise OmsBadResponse(operation, "the job has no serviceJobParameters list")
    return [dict(p) for p in params]


def _with_window(
    params: list[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    values = {"fromDate": start.strftime(TIMESTAMP), "thruDate": end.strftime(TIMESTAMP)}
    out = [
        {**p, "parameterValue": values[p["parameterName"]]}
        if p.get("parameterName") in values
        else p
        for p in params
    ]
    present = {p.get("parameterName") for p in params}
    job = params[0].get("jobName") if params else None
    out += [
        {"jobName": job, "parameterName": k, "parameterValue": v}
        for k, v in values.items()
        if k not in present
    ]
    return out


class OrderSync:
    def __init__(self, oms: OmsClient, job_name: str, *, poll_seconds: float = 0.5) -> None:
        self.oms = oms
        self.job_name = job_name
        self.poll_seconds = poll_seconds

    async def replay(self, updated_at: datetime) -> str:
        """Start a replay of the window around `updated_at`; return the job run id."""
        path = f"admin/serviceJobs/{path_part(self.job_name)}"
        operation = f"read the order-sync job {self.job_name}"
        body = await self.oms.maarg_call("GET", path, operation=operation)
        detail = body.get("jobDetail") if isinstance(body, dict) else None
        if not isinstance(detail, dict):
            raise OmsBadResponse(operation, "no jobDetail in the answer")
        original = _param_list(detail, operation)
        window = _with_window(original, updated_at - WINDOW, updated_at + WINDOW)
        await self.oms.maarg_call(
            "PUT",
            path,
            operation="set the order-sync window",
            json={"jobName": self.job_name, "serviceJobParameters": window},
        )
        try:
            started = await self.oms.maarg_call(
                "POST", f"{path}/runNow", operation="run the order-sync job now", json={}
            )
        finally:
            # Put the job back as it was, whatever happened: it is the shop's live sync.
            await self.oms.maarg_call(
                "PUT",
                path,
                operation="restore the order-sync job",
                json={"jobName": self.job_name, "serviceJobParameters": original},
            )
        run_id = started.get("jobRunId") if isinstance(started, dict) else None
        if not run_id:
            raise OmsBadResponse("run the order-sync job now", "no jobRunId in the answer")
        return str(run_id)

    async def run(self, job_run_id: str) -> SyncRun:
        """The run's current state."""
        operation = "read the order-sync job run"
        rows = await self.oms.maarg_call(
            "GET",
            f"admin/serviceJobs/{self.job_name}/runs",
            operation=operation,
            params={"pageSize": "20", "pageIndex": "0", "orderByField": "-jobRunId"},
        )
        if not isinstance(rows, list):
            raise OmsBadResponse(operation, "expected a list of runs")
        for row in rows:
            if isinstance(row, dict) and str(row.get("jobRunId")) == job_run_id:
                messages = row.get("messages")
                return SyncRun(
                    job_run_id=job_run_id,
                    finished=bool(row.get("endTime")),
                    has_error=row.get("hasError") == "Y",
                    errors=_text(row.get("errors")),
                    messages=[str(m) for m in messages]
                    if isinstance(messages, list)
                    else [_text(messages)]
                    if messages
                    else [],
                )
        return SyncRun(job_run_id=job_run_id)

    async def follow(self, job_run_id: str, *, timeout: float) -> SyncRun:
        """Poll the run until it ends or `timeout` passes (then `finished` is False)."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.run(job_run_id)
            if state.finished or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(self.poll_seconds)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
