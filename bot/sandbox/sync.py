"""The shop's Shopify order sync as HotWax runs it: a job run queues it, the MDM imports it.

`runNow` on the shop's order-sync ServiceJob starts a run that only queues a ShopifyOrderSync
SystemMessage and ends (`state.job_run_seconds` later). The send is asynchronous
(`state.sync_delay_seconds` after that): it takes the Shopify orders updated from the job's
`fromDate` (or, without one, from where the last sync stopped) up to now minus the one-minute
`thruDateBuffer`, whatever `thruDate` says, and stages them through the data manager: new
orders in a SYNC_SHOPIFY_ORDER log, orders already in HotWax in an UPDATE_SHOPIFY_ORDER log,
unchanged ones in none. A failed import is a failed record of its MDM log, never an error of
the job run. Sources: docs/oms-api.md, "Order runbooks" and "The sandbox".
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.data import (
    SYNC_SHOPIFY_ORDER,
    UPDATE_SHOPIFY_ORDER,
    rest_payload,
    shopify_payload,
)
from bot.sandbox.records import JobRunRecord, MdmFailedRecord, MdmLog
from bot.sandbox.shapes import moqui_mdm_log
from bot.sandbox.state import SandboxState, SyncOutcome
from bot.sandbox.tenant import Tenant
from bot.sandbox.web import maarg_authed, maarg_error, parse_int

TIMESTAMP_ERROR = "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]"
DATE_PARAMETERS = ("fromDate", "thruDate")
DEFAULT_WINDOW = timedelta(minutes=15)  # a job with no sync history: its 15-minute cadence
# The job's thruDateBuffer default (connector v4.1.1): the window ends a minute before now.
THRU_BUFFER = timedelta(minutes=1)
DEFAULT_PAGE_SIZE = 20
PAGE_CAP = 50
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")


def parse_timestamp(value: str) -> datetime | None:
    """`yyyy-MM-dd HH:mm:ss[.f]` in UTC, "" -> None; ValueError with Moqui's text otherwise."""
    text = value.strip()
    if not text:
        return None
    if not _TIMESTAMP.match(text):
        raise ValueError(TIMESTAMP_ERROR)
    whole, _, fraction = text.partition(".")
    try:
        moment = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(TIMESTAMP_ERROR) from None
    return moment + timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


# -- job runs -----------------------------------------------------------------------------


def run_now(state: SandboxState, job_name: str, user: str) -> str:
    """Start a run with the job's current parameters; it ends after job_run_seconds."""
    with state.lock:
        run = state.new_job_run(job_name, user)
    _later(state, state.job_run_seconds, finish_run, state, run)
    return run.job_run_id


def _later(state: SandboxState, delay: float, action: Any, *args: Any) -> None:
    """Run `action(*args)` after `delay` seconds on a timer (at once when delay <= 0)."""
    if delay <= 0:
        action(*args)
        return
    timer = threading.Timer(delay, action, args=args)
    timer.daemon = True
    with state.lock:
        state.timers[:] = [t for t in state.timers if t.is_alive()]
        state.timers.append(timer)
    timer.start()


def _still_there(state: SandboxState, run: JobRunRecord) -> bool:
    # The sandbox may have been reset while the run was in flight.
    return any(r is run for r in state.data.job_runs)


def finish_run(state: SandboxState, run: JobRunRecord) -> None:
    """End the run the way queue#FeedSystemMessage does: check its parameters, queue the
    sync, done. The send happens later (`send_sync`)."""
    with state.lock:
        if run.end_time is not None or not _still_there(state, run):
            return
        params = run.parameters
        remote = params.get("systemMessageRemoteId", "")
        try:
            start = parse_timestamp(params.get("fromDate") or "")
        except ValueError as exc:
            _fail_run(state, run, str(exc))
            return
        if state.stores.proxy_scope(remote) is None:
            _fail_run(state, run, f"SystemMessageRemote not found with ID {remote}")
            return
        run.messages.append(f"Queued a ShopifyOrderSync system message for {remote}")
        run.results = "queued"
        run.end_time = state.now()
    _later(state, state.sync_delay_seconds, send_sync, state, run, start)


def send_sync(state: SandboxState, run: JobRunRecord, start: datetime | None) -> None:
    """The asynchronous send: stage the window's orders through the MDM and import them."""
    with state.lock:
        if not _still_there(state, run):
            return
        now = state.now()
        # thruDate is overwritten under runAsBatch, whatever it was: now - thruDateBuffer.
        until = now - _thru_buffer(run.parameters.get("additionalParameters"))
        job = state.data.service_jobs.get(run.job_name)
        if start is None:
            start = (job.synced_until if job else None) or run.start_time - DEFAULT_WINDOW
            if job is not None:
                job.synced_until = until
        window = sorted(
            (o for o in state.data.shopify.values() if start <= o.updated_at <= until),
            key=lambda order: (order.updated_at, order.shopify_id),
        )
        outcomes = [state.sync_shopify_order(o.shopify_id, run.user_id) for o in window]
        for config in (SYNC_SHOPIFY_ORDER, UPDATE_SHOPIFY_ORDER):
            staged = [o for o in outcomes if o.config == config]
            if staged:
                _append_log(state, run, config, staged, now)


def _thru_buffer(additional: str | None) -> timedelta:
    """The job's `thruDateBuffer` in minutes (its JSON additionalParameters), else a minute."""
    try:
        return timedelta(minutes=float(json.loads(additional or "{}")["thruDateBuffer"]))
    except (KeyError, TypeError, ValueError):
        return THRU_BUFFER


def _fail_run(state: SandboxState, run: JobRunRecord, error: str) -> None:
    run.errors.append(error)
    run.end_time = state.now()


def _append_log(
    state: SandboxState, run: JobRunRecord, config: str, staged: list[SyncOutcome], at: datetime
) -> None:
    numbers = [int(log.log_id[3:]) for log in state.data.mdm_logs if log.log_id[3:].isdigit()]
    failed = [
        MdmFailedRecord(o.shop.shopify_id, o.shop.name, o.error or "", shopify_payload(o.shop))
        for o in staged
        if o.kind == "failed"
    ]
    state.data.mdm_logs.append(
        MdmLog(
            log_id=f"DML{max(numbers, default=10000) + 1}",
            config_id=config,
            status_id="DmlsFailed" if failed else "DmlsFinished",
            created_date=at,
            start_date_time=at,
            finish_date_time=state.now(),
            failed_records=failed,
            processed_orders=[{"id": o.shop.shopify_id, "name": o.shop.name} for o in staged],
            created_by_job_run_id=run.job_run_id if state.tenant.mdm_log_names_run else None,
        )
    )


# -- MDM logs -----------------------------------------------------------------------------


def _records_file(state: SandboxState, log: MdmLog, content_id: str) -> dict[str, Any]:
    """A data manager file as downloadDataManagerFile answers it: `{csvData: <text>}`, whose
    text is JSON for the order configs (job-manager src/composables/mdmLogs.ts:44-62); the
    staged order in the tenant's record layout."""
    if content_id == log.error_log_content_id:
        rest = state.tenant.mdm_record_layout == "rest"
        records = [
            {
                **(rest_payload(r.payload) if rest else r.payload),
                "_ERROR_MESSAGE_": r.event_message,
                "_recordNumber": n,
            }
            for n, r in enumerate(log.failed_records, start=1)
        ]
        return {"csvData": json.dumps(records)}
    return {"csvData": json.dumps(log.processed_orders)}


def _moment(value: str) -> datetime:
    """An ISO timestamp or epoch milliseconds (Moqui accepts both for a date filter)."""
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _log_filter(query: Any, tenant: Tenant) -> dict[str, Any]:
    """The filters of admin/dataManager/details this sandbox knows (company
    src/workers/domains/dataManagerLogDomain.ts:70-78, job-manager src/store/mdmConfig.ts
    :141-153); any other parameter is ignored, as Moqui ignores it. Whether
    `createdByJobRunId` is one is not public (`Tenant.mdm_filters_by_run`)."""
    found: dict[str, Any] = {}
    names = ["configId", "logId", "systemMessageId"]
    if tenant.mdm_filters_by_run:
        names.append("createdByJobRunId")
    for name in names:
        if query.get(name):
            found[name] = query[name]
    status = query.get("statusId")
    if status:
        op = query.get("statusId_op", "equals")
        found["statusId"] = {s.strip() for s in status.split(",")} if op == "in" else {status}
    for name in ("createdDate_from", "createdDate_thru"):
        if query.get(name):
            try:
                found[name] = _moment(query[name])
            except ValueError:
                raise ValueError(f"{name} is not a date: {query[name]}") from None
    return found


def _matches(log: MdmLog, filters: dict[str, Any]) -> bool:
    row = moqui_mdm_log(log)
    for name in ("configId", "logId", "systemMessageId", "createdByJobRunId"):
        if name in filters and row.get(name) != filters[name]:
            return False
    if "statusId" in filters and log.status_id not in filters["statusId"]:
        return False
    if "createdDate_from" in filters and log.created_date < filters["createdDate_from"]:
        return False
    # `_thru` is inclusive: LESS_THAN_EQUAL_TO (moqui-framework EntityFindBase.groovy:531-533).
    return not ("createdDate_thru" in filters and log.created_date > filters["createdDate_thru"])


def sync_routes(state: SandboxState) -> list[Route]:
    async def mdm_details(request: Request, user: str) -> Response:
        query = request.query_params
        try:
            filters = _log_filter(query, state.tenant)
            size = parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE)
            index = parse_int(query.get("pageIndex"), "pageIndex", 0)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        size = size or DEFAULT_PAGE_SIZE
        order_by = query.get("orderByField", "")
        with state.lock:
            logs = [log for log in state.data.mdm_logs if _matches(log, filters)]
            if order_by.lstrip("-") == "createdDate":
                logs.sort(key=lambda log: (log.created_date, log.log_id))
                if order_by.startswith("-"):
                    logs.reverse()
            # Without orderByField the rows come as stored: the oldest first.
            rows = [moqui_mdm_log(log) for log in logs[index * size : (index + 1) * size]]
        return JSONResponse({"dataManagerLogs": rows, "dataManagerLogsCount": len(logs)})

    async def mdm_download(request: Request, user: str) -> Response:
        config_id = request.query_params.get("configId", "")
        content_id = request.query_params.get("logContentId", "")
        if not config_id or not content_id:
            return maarg_error(
                400, "The following required parameters are missing: configId, logContentId"
            )
        with state.lock:
            for log in state.data.mdm_logs:
                if log.config_id == config_id and content_id in (
                    log.error_log_content_id,
                    log.log_content_id,
                ):
                    return JSONResponse(_records_file(state, log, content_id))
        # Nothing stored under that id: an empty object (job-manager mdmConfig.ts:183-190).
        return JSONResponse({})

    base = "/rest/s1/admin"
    return [
        Route(f"{base}/dataManager/details", maarg_authed(state, mdm_details), methods=["GET"]),
        Route(
            f"{base}/dataManager/downloadDataManagerFile",
            maarg_authed(state, mdm_download),
            methods=["GET"],
        ),
    ]
