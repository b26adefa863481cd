"""The shop's Shopify order-sync ServiceJob and its "Shopify Order MDM" logs (Maarg admin/...).

HotWax re-imports one Shopify order by replaying a window on this job: PUT the job's FULL
parameter list with `fromDate`/`thruDate` around the order's Shopify `updatedAt`, POST
`runNow`, then restore the parameters [SRC hotwax/company:src/composables/useShopify.ts
replayWindow / retryIndividualOrder]. A run imports every Shopify order updated inside the
window it saw at `runNow` time, finishes `state.job_run_seconds` later, and appends one
SYNC_SHOPIFY_ORDER data manager log (docs/oms-api.md, "Order runbooks").
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.data import DEMO_SHOPIFY_REMOTE, SYNC_SHOPIFY_ORDER, shopify_payload
from bot.sandbox.records import JobRunRecord, MdmFailedRecord, MdmLog
from bot.sandbox.shapes import moqui_mdm_log
from bot.sandbox.state import SandboxNotFound, SandboxServiceError, SandboxState
from bot.sandbox.web import maarg_authed, maarg_error, parse_int

TIMESTAMP_ERROR = "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]"
DEFAULT_WINDOW = timedelta(minutes=15)  # an empty fromDate: the job's own 15-minute cadence
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
    """Start a run with the job's current parameters; it finishes after job_run_seconds."""
    with state.lock:
        job = state.data.service_jobs.get(job_name)
        if job is None:
            raise SandboxNotFound(f"ServiceJob not found with name {job_name}")
        ids = [int(run.job_run_id) for run in state.data.job_runs if run.job_run_id.isdigit()]
        run = JobRunRecord(
            job_run_id=str(max(ids, default=100000) + 1),
            job_name=job_name,
            user_id=user,
            parameters={p.name: p.value for p in job.parameters},
            start_time=state.now(),
        )
        state.data.job_runs.append(run)
        delay = state.job_run_seconds
        if delay > 0:
            timer = threading.Timer(delay, finish_run, args=(state, run))
            timer.daemon = True
            state.timers[:] = [t for t in state.timers if t.is_alive()]
            state.timers.append(timer)
            timer.start()
    if delay <= 0:
        finish_run(state, run)
    return run.job_run_id


def finish_run(state: SandboxState, run: JobRunRecord) -> None:
    """Do what the run does: import the Shopify orders updated inside its window."""
    with state.lock:
        if run.end_time is not None or not any(r is run for r in state.data.job_runs):
            return  # already finished, or the sandbox was reset while the run was in flight
        params = run.parameters
        remote = params.get("systemMessageRemoteId", "")
        try:
            start = parse_timestamp(params.get("fromDate", ""))
            end = parse_timestamp(params.get("thruDate", ""))
        except ValueError as exc:
            _fail_run(state, run, str(exc))
            return
        if remote != DEMO_SHOPIFY_REMOTE:
            _fail_run(state, run, f"SystemMessageRemote not found with ID {remote}")
            return
        start = start or run.start_time - DEFAULT_WINDOW
        end = end or run.start_time
        window = sorted(
            (o for o in state.data.shopify.values() if start <= o.updated_at <= end),
            key=lambda order: (order.updated_at, order.shopify_id),
        )
        failed: list[MdmFailedRecord] = []
        created = skipped = 0
        for order in window:
            try:
                outcome = state.import_shopify_order(order.shopify_id, run.user_id)
            except SandboxServiceError as exc:
                run.errors.append(str(exc))
                run.messages.append(f"Shopify order {order.name} failed to import: {exc}")
                failed.append(
                    MdmFailedRecord(order.shopify_id, order.name, str(exc), shopify_payload(order))
                )
                continue
            run.messages.append(outcome.message)
            created, skipped = created + outcome.created, skipped + (not outcome.created)
        if not window:
            run.messages.append(
                f"No Shopify orders updated between {start:%Y-%m-%d %H:%M:%S} and "
                f"{end:%Y-%m-%d %H:%M:%S} UTC"
            )
        run.results = f"{created} imported, {skipped} skipped, {len(failed)} failed"
        run.end_time = state.now()
        _append_log(state, run, [shopify_payload(order) for order in window], failed)


def _fail_run(state: SandboxState, run: JobRunRecord, error: str) -> None:
    run.errors.append(error)
    run.end_time = state.now()
    _append_log(state, run, [], [])


def _append_log(
    state: SandboxState,
    run: JobRunRecord,
    processed: list[dict[str, Any]],
    failed: list[MdmFailedRecord],
) -> None:
    numbers = [int(log.log_id[3:]) for log in state.data.mdm_logs if log.log_id[3:].isdigit()]
    end = run.end_time or state.now()
    state.data.mdm_logs.append(
        MdmLog(
            log_id=f"DML{max(numbers, default=10000) + 1}",
            config_id=SYNC_SHOPIFY_ORDER,
            status_id="DmlsFailed" if failed or run.errors else "DmlsFinished",
            created_date=run.start_time,
            start_date_time=run.start_time,
            finish_date_time=end,
            failed_records=failed,
            processed_orders=processed,
            created_by_job_run_id=run.job_run_id,
        )
    )


# -- MDM logs -----------------------------------------------------------------------------


def _failed_records_csv(log: MdmLog) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["shopifyOrderId", "orderName", "eventMessage"])
    for record in log.failed_records:
        writer.writerow([record.shopify_order_id, record.order_name, record.event_message])
    return out.getvalue()


def _log_filter(query: Any) -> tuple[str | None, set[str] | None, str | None]:
    config_id = query.get("configId") or None
    status = query.get("statusId")
    statuses: set[str] | None = None
    if status:
        op = query.get("statusId_op", "equals")
        if op not in ("equals", "in"):
            raise ValueError(f"Unsupported operator statusId_op={op}")
        statuses = {s.strip() for s in status.split(",")} if op == "in" else {status}
    return config_id, statuses, query.get("createdByJobRunId") or None


def sync_routes(state: SandboxState) -> list[Route]:
    async def mdm_details(request: Request, user: str) -> Response:
        query = request.query_params
        try:
            config_id, statuses, run_id = _log_filter(query)
            size = parse_int(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE)
            index = parse_int(query.get("pageIndex"), "pageIndex", 0)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        size = size or DEFAULT_PAGE_SIZE
        with state.lock:
            logs = [
                log
                for log in state.data.mdm_logs
                if (config_id is None or log.config_id == config_id)
                and (statuses is None or log.status_id in statuses)
                and (run_id is None or log.created_by_job_run_id == run_id)
            ]
            logs.sort(key=lambda log: (log.created_date, log.log_id), reverse=True)
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
                if log.config_id != config_id:
                    continue
                if content_id == log.error_log_content_id:
                    return Response(_failed_records_csv(log), media_type="text/csv")
                if content_id == log.log_content_id:
                    text = json.dumps({"orders": log.processed_orders}, indent=2)
                    return Response(text, media_type="application/json")
        return maarg_error(404, f"No data manager file {content_id} found for config {config_id}")

    base = "/rest/s1/admin"
    return [
        Route(f"{base}/dataManager/details", maarg_authed(state, mdm_details), methods=["GET"]),
        Route(
            f"{base}/dataManager/downloadDataManagerFile",
            maarg_authed(state, mdm_download),
            methods=["GET"],
        ),
    ]
