"""Re-import one Shopify order: replay the shop's order-sync job from just before the order.

HotWax has no public "import this order" endpoint (docs/oms-api.md, "Refresh, composed": [NF]).
HotWax's Company app re-imports by replaying the shop's order-sync ServiceJob: put the job's
FULL parameter list with `fromDate` set, run it now, put the parameters back with `fromDate`
explicitly null, then follow the run (hotwax/company src/composables/useShopify.ts:3645-3695).

What the run does is not the import itself. The job (`queue#FeedSystemMessage`) queues a
SystemMessage; the send is asynchronous, and the orders are staged through the data manager
(MDM configs SYNC_SHOPIFY_ORDER and UPDATE_SHOPIFY_ORDER) and imported later; an order that
has not changed since the last sync is skipped (docs/oms-api.md, "Order runbooks"). So a
finished run proves only that the sync was queued: the caller follows the MDM logs and the
order itself (`handlers/orders/reimport.py`).

The window's end is not ours to choose: with `runAsBatch` the job sets `thruDate` to now minus
its `thruDateBuffer` (one minute by default), whatever is sent, so an order changed in the last
minute is not in the window yet (`ready_at`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.oms.client import OmsClient, path_part
from bot.oms.errors import OmsBadResponse, OmsError

# Maarg rejects ISO timestamps here: "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]".
TIMESTAMP = "%Y-%m-%d %H:%M:%S"
# The replay starts this long before the order's last change in Shopify.
LEAD = timedelta(minutes=1)
# The job's thruDateBuffer default (connector v4.1.1): orders changed this recently wait.
THRU_BUFFER = timedelta(minutes=1)
# Shopify's updatedAt is whole seconds and the OMS's clock is not ours: a little more wait.
READY_MARGIN = timedelta(seconds=2)
FROM_DATE = "fromDate"
REMOTE_PARAMETER = "systemMessageRemoteId"


class SyncMisconfigured(OmsError):
    """The order-sync job is not the one it should be (another shop's, or no remote)."""


class SyncNotRestored(OmsError):
    """After a replay, the job's parameters read back differ from what they were before."""


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


def _values(params: list[dict[str, Any]]) -> dict[str, Any]:
    """name -> value, where a null or empty value counts as absent (HotWax treats both alike:
    no fromDate means "resume from the last message", ShopifySystemMessageServices.xml:1362)."""
    return {
        str(p.get("parameterName")): p.get("parameterValue")
        for p in params
        if p.get("parameterValue") not in (None, "")
    }


def differing(now: list[dict[str, Any]], before: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters whose value `now` differs from `before` (null and empty alike), with
    their value now."""
    a, b = _values(now), _values(before)
    return {k: a.get(k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _with_from_date(
    params: list[dict[str, Any]], job: str, start: datetime
) -> list[dict[str, Any]]:
    value = start.strftime(TIMESTAMP)
    out = [
        {**p, "parameterValue": value} if p.get("parameterName") == FROM_DATE else p for p in params
    ]
    if not any(p.get("parameterName") == FROM_DATE for p in params):
        out.append({"jobName": job, "parameterName": FROM_DATE, "parameterValue": value})
    return out


def _restored(params: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    """The original parameters, with `fromDate` sent explicitly as null when it had none: a
    PUT that merges rather than replaces would otherwise keep the replay's fromDate and pin
    the live sync to it (HotWax's app does the same, useShopify.ts:3678-3695)."""
    if any(p.get("parameterName") == FROM_DATE for p in params):
        return params
    return [*params, {"jobName": job, "parameterName": FROM_DATE, "parameterValue": None}]


class OrderSync:
    def __init__(
        self, oms: OmsClient, job_name: str, remote_id: str, *, poll_seconds: float = 0.5
    ) -> None:
        self.oms = oms
        self.job_name = job_name
        self.remote_id = remote_id
        self.poll_seconds = poll_seconds
        self.thru_buffer = THRU_BUFFER

    @property
    def _path(self) -> str:
        return f"admin/serviceJobs/{path_part(self.job_name)}"

    async def parameters(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The job's parameter list as the OMS holds it now."""
        operation = operation or f"read the order-sync job {self.job_name}"
        body = await self.oms.maarg_call("GET", self._path, operation=operation)
        detail = body.get("jobDetail") if isinstance(body, dict) else None
        if not isinstance(detail, dict):
            raise OmsBadResponse(operation, "no jobDetail in the answer")
        return _param_list(detail, operation)

    async def check(self) -> list[dict[str, Any]]:
        """The job's parameters, after checking the job syncs the configured shop: HotWax
        matches a shop's job by its `systemMessageRemoteId` parameter, not by its name
        (useShopify.ts:1063), so a job named for one shop can feed another."""
        params = await self.parameters()
        values = _values(params)
        remote = values.get(REMOTE_PARAMETER)
        if remote != self.remote_id:
            raise SyncMisconfigured(
                f"check the order-sync job {self.job_name}",
                f"it syncs the shop connection {remote or '(none)'}, not {self.remote_id}; "
                "set `[stores] order_sync_job` to this shop's order-sync job",
            )
        self.thru_buffer = _thru_buffer(values.get("additionalParameters"))
        pinned = values.get(FROM_DATE)
        if pinned is not None:
            # A shop's live sync has no fromDate (ShopifySystemMessageServices.xml:1362-1373):
            # one set now is another replay under way, or one that was not put back. Taking
            # it as the job's state would make it permanent.
            raise SyncMisconfigured(
                f"check the order-sync job {self.job_name}",
                f"it has fromDate {pinned}, which a shop's live sync does not have: another "
                "re-import is under way, or an earlier one was not put back. Wait a minute and "
                "try again; if it stays, empty fromDate in the Job Manager first",
            )
        return params

    def ready_at(self, updated_at: datetime) -> datetime:
        """When a replay can include an order last changed at `updated_at` (the job's
        `thruDateBuffer`, in minutes, as `check` read it; one minute by default)."""
        return updated_at + self.thru_buffer + READY_MARGIN

    async def replay(
        self,
        updated_at: datetime,
        *,
        original: list[dict[str, Any]] | None = None,
        before_run: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Replay the sync from just before `updated_at`; return the job run id.

        `original` is the job's parameters as `check` read them (the caller recorded them to
        put back should this process die); read here when not given. `before_run` is awaited
        between the window and the run, and may stop the replay (a run that lost its lease).
        The job's parameters are put back whatever happens, and read back: SyncNotRestored
        when they differ from before (the live sync would otherwise be left changed)."""
        if original is None:
            original = await self.check()
        window = _with_from_date(original, self.job_name, updated_at - LEAD)
        started: Any = None
        try:
            await self.oms.maarg_call(
                "PUT",
                self._path,
                operation="set the order-sync window",
                json={"jobName": self.job_name, "serviceJobParameters": window},
            )
            if before_run is not None:
                await before_run()
            # Send no body: runNow ignores overrides (docs/oms-api.md, "Order runbooks").
            started = await self.oms.maarg_call(
                "POST", f"{self._path}/runNow", operation="run the order-sync job now"
            )
        finally:
            # Put the job back as it was, whatever happened (even a window PUT that timed out
            # may have been applied): it is the shop's live sync.
            await self._restore(original, window)
        run_id = started.get("jobRunId") if isinstance(started, dict) else None
        if not run_id:
            raise OmsBadResponse("run the order-sync job now", "no jobRunId in the answer")
        return str(run_id)

    async def put_back(self, original: list[dict[str, Any]]) -> None:
        """Put `original` back and read it back (a replay cut off between the window and the
        restore: its process died, or the OMS dropped); SyncNotRestored as for a replay."""
        await self._restore(original, None)

    async def _restore(
        self, original: list[dict[str, Any]], window: list[dict[str, Any]] | None
    ) -> None:
        """Put the original parameters back and read them back; SyncNotRestored, saying what
        the job now holds and what to set, when that cannot be done or does not take."""
        what = "restore the order-sync job"
        fix = f"empty fromDate of {self.job_name} in the Job Manager"
        try:
            await self.oms.maarg_call(
                "PUT",
                self._path,
                operation=what,
                json={
                    "jobName": self.job_name,
                    "serviceJobParameters": _restored(original, self.job_name),
                },
            )
            now = _values(await self.parameters("read the order-sync job back"))
        except OmsError as exc:
            pinned = _values(window).get(FROM_DATE) if window is not None else None
            raise SyncNotRestored(
                what,
                f"{exc.message}. The job may still have fromDate {pinned or 'set'}, which would "
                f"keep the shop's sync running from then: {fix}",
            ) from exc
        before = _values(original)
        if now != before:
            changed = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
            shown = ", ".join(
                f"{k} is {now.get(k) or 'empty'} (was {before.get(k) or 'empty'})" for k in changed
            )
            raise SyncNotRestored(
                what,
                f"{self.job_name} reads back different from before the import: {shown}; set "
                "it back in the Job Manager, or the shop's sync runs from the wrong place",
            )

    async def run(self, job_run_id: str) -> SyncRun:
        """The run's current state."""
        operation = "read the order-sync job run"
        rows = await self.oms.maarg_call(
            "GET",
            f"{self._path}/runs",
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


def _thru_buffer(additional: Any) -> timedelta:
    """The job's `thruDateBuffer` (minutes, in its JSON `additionalParameters`, connector
    v4.1.1 UpgradeData.xml); THRU_BUFFER when it is absent or not a number."""
    try:
        minutes = float(json.loads(str(additional)).get("thruDateBuffer"))
    except (TypeError, ValueError, AttributeError):
        return THRU_BUFFER
    return timedelta(minutes=minutes) if 0 <= minutes <= 24 * 60 else THRU_BUFFER


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
