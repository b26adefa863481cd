"""SandboxState: the simulator's data plus the knobs tests and benchmarks turn.

The server runs in its own thread (and event loop) while tests poke the state from theirs, so
every compound access goes through one re-entrant lock. Plain knob attributes (latency, down,
token_ttl) are single assignments, which are atomic in CPython and need no lock.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from bot.sandbox.data import (
    CONTACT_MECH_ERROR,
    DEMO_API_TOKEN,
    DEMO_API_USER,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    MISSING_ADDRESS_ERROR,
    seed,
)
from bot.sandbox.jobs_data import JobsData, seed_jobs
from bot.sandbox.records import (
    IdentificationRecord,
    ItemRecord,
    JobRunRecord,
    OrderRecord,
    PaymentRecord,
    SeedData,
    ShopifyOrder,
    StatusRecord,
)
from bot.sandbox.service_jobs_data import JobManagerData, add_service_jobs, seed_job_manager
from bot.sandbox.shapes import epoch_ms
from bot.sandbox.stores_data import StoresData, seed_stores
from bot.sandbox.tenant import DEFAULT, Tenant

FaultKind = Literal[
    "html", "truncated", "error500", "unavailable", "json", "lost", "hang", "dropped"
]
ORDER_STATUSES = (
    "ORDER_CREATED",
    "ORDER_APPROVED",
    "ORDER_HOLD",
    "ORDER_SENT",
    "ORDER_ACCEPTED",
    "ORDER_COMPLETED",
    "ORDER_CANCELLED",
    "ORDER_REJECTED",
)
_ITEM_STATUS = {
    "ORDER_CREATED": "ITEM_CREATED",
    "ORDER_APPROVED": "ITEM_APPROVED",
    "ORDER_COMPLETED": "ITEM_COMPLETED",
    "ORDER_CANCELLED": "ITEM_CANCELLED",
    "ORDER_REJECTED": "ITEM_REJECTED",
}
_REQUEST_LOG_LIMIT = 10_000
DEFAULT_JOB_RUN_SECONDS = 0.3
DEFAULT_SYNC_DELAY_SECONDS = 0.3
BAD_EMAIL_ERROR = "E-mail address not formatted correctly, must be like: name@domain"


class SandboxServiceError(Exception):
    """A simulated OMS service failure; the message is what HotWax would say."""


class SandboxNotFound(SandboxServiceError):
    """The record a request names does not exist (Maarg answers 404)."""


@dataclass(frozen=True)
class SyncOutcome:
    """What the order sync did with one Shopify order: created, updated, skipped or failed
    (`error`), and in which MDM config it was recorded (None: skipped, no record)."""

    shop: ShopifyOrder
    kind: Literal["created", "updated", "skipped", "failed"]
    order_id: str | None
    error: str | None = None
    config: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    headers: dict[str, str]

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    status: int = 200
    body: Any = None
    method: str | None = None  # only requests with this method (None: any)
    skip: int = 0  # matching requests let through before the fault starts
    # "hang" and "dropped": set when a request is held, and to let it go (tests wait on the
    # first to act at a known point, e.g. kill the bot while its request hangs).
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Token:
    username: str
    expires_at: float  # time.monotonic()


@dataclass
class _Knobs:
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    held: list[Fault] = field(default_factory=list)  # hang/dropped faults, released at reset


class SandboxState:
    def __init__(
        self,
        *,
        now: datetime | None = None,
        token_ttl: float = 3600.0,
        latency: float = 0.0,
        extra_failures: int = 0,
        tenant: Tenant = DEFAULT,
    ) -> None:
        self.lock = threading.RLock()
        # The kind of tenant played (bot/sandbox/tenant.py); tests may switch it, and a
        # reset goes back to the one the sandbox was started as.
        self.tenant = self._started_as = tenant
        self._base_now = (now or datetime.now(UTC)).astimezone(UTC)
        self._extra_failures = extra_failures
        self.token_ttl = token_ttl
        self.latency = latency
        self.down = False
        self._started = time.monotonic()
        self._tokens: dict[str, _Token] = {}
        self._knobs = _Knobs()
        self._requests: list[RecordedRequest] = []
        self.data: SeedData = seed(self._base_now, extra_failures=extra_failures)
        self._next_order = 20001
        # How long a ServiceJob run started with runNow takes to finish (0: before answering).
        self.job_run_seconds = DEFAULT_JOB_RUN_SECONDS
        # How long after a run ends its queued sync is sent and staged through the MDM.
        self.sync_delay_seconds = DEFAULT_SYNC_DELAY_SECONDS
        self.timers: list[threading.Timer] = []
        self.stores: StoresData = seed_stores()
        self.jobs: JobsData = seed_jobs(self._base_now)
        add_service_jobs(self.data, self._base_now)
        self.job_manager: JobManagerData = seed_job_manager()

    # -- clock ----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The seeded `now`, moving forward with real time so a long-running sandbox ages."""
        return self._base_now + timedelta(seconds=time.monotonic() - self._started)

    def new_job_run(self, job_name: str, user: str) -> JobRunRecord:
        """runNow's new ServiceJobRun with the job's current parameters (call with the lock
        held); SandboxNotFound for a job the sandbox does not have."""
        job = self.data.service_jobs.get(job_name)
        if job is None:
            raise SandboxNotFound(f"ServiceJob not found with name {job_name}")
        ids = [int(run.job_run_id) for run in self.data.job_runs if run.job_run_id.isdigit()]
        run = JobRunRecord(
            job_run_id=str(max(ids, default=100000) + 1),
            job_name=job_name,
            user_id=user,
            parameters={p.name: p.value for p in job.parameters},
            start_time=self.now(),
        )
        self.data.job_runs.append(run)
        return run

    def reset(self) -> None:
        """Back to the seeded data with every knob off (tests share one server)."""
        with self.lock:
            self.data = seed(self._base_now, extra_failures=self._extra_failures)
            self._tokens.clear()
            self.release_held()
            self._knobs = _Knobs()
            self._requests.clear()
            self._next_order = 20001
            self.latency = 0.0
            self.down = False
            self.token_ttl = 3600.0
            self.job_run_seconds = DEFAULT_JOB_RUN_SECONDS
            self.sync_delay_seconds = DEFAULT_SYNC_DELAY_SECONDS
            for timer in self.timers:
                timer.cancel()
            self.timers.clear()
            self.stores = seed_stores()
            self.jobs = seed_jobs(self._base_now)
            add_service_jobs(self.data, self._base_now)
            self.job_manager = seed_job_manager()
            self.tenant = self._started_as

    # -- faults ---------------------------------------------------------------------------

    def inject_fault(
        self,
        path: str,
        kind: FaultKind,
        count: int = 1,
        *,
        status: int = 200,
        body: Any = None,
        method: str | None = None,
        skip: int = 0,
    ) -> Fault:
        """Make the next `count` requests on `path` misbehave; returns the fault.

        `path` is exact ("/api/login") or a prefix ending in "*" ("/rest/s1/*"). Kinds: "html"
        (200 + an HTML page), "truncated" (200 + cut-off JSON), "error500", "unavailable"
        (503), "json" (`body` as JSON with `status`, the request itself not applied), "lost"
        (the request IS applied, then its answer is lost: a 504 Gateway Timeout, as from a
        proxy that gave up waiting; a write that timed out but took effect)).
        `method` limits it to one method; `skip` lets that many matching requests through
        first (the second PUT of a sequence, say). "hang": the request is held until the
        fault's `released` is set (or the sandbox is reset), then handled as usual; "dropped":
        held the same way, then answered 504 without being applied (its caller was killed
        while it hung, so it never took effect). `reached` is set when one is held.
        """
        fault = Fault(kind, count, status, body, method, skip)
        with self.lock:
            queue = self._knobs.faults.setdefault(path, deque())
            queue.append(fault)
            if kind in ("hang", "dropped"):
                self._knobs.held.append(fault)
        return fault

    def release_held(self) -> None:
        """Let every held request go (hang: handled; dropped: answered 504)."""
        with self.lock:
            for fault in self._knobs.held:
                fault.released.set()

    def take_fault(self, path: str, method: str = "GET") -> Fault | None:
        with self.lock:
            for pattern, queue in self._knobs.faults.items():
                prefix = pattern.endswith("*")
                matches = path.startswith(pattern[:-1]) if prefix else path == pattern
                if not matches:
                    continue
                # The first fault queued for this method: one for another method waits.
                fault = next((f for f in queue if f.method in (None, method)), None)
                if fault is None:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.remove(fault)
                return fault
            return None

    # -- request log ----------------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            if len(self._requests) >= _REQUEST_LOG_LIMIT:
                del self._requests[: _REQUEST_LOG_LIMIT // 2]
            self._requests.append(request)

    def requests(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self._requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    # -- tokens ---------------------------------------------------------------------------

    def check_credentials(self, username: str, password: str) -> bool:
        return secrets.compare_digest(username, DEMO_USERNAME) and secrets.compare_digest(
            password, DEMO_PASSWORD
        )

    def issue_token(self, username: str) -> tuple[str, float]:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._tokens[token] = _Token(username, time.monotonic() + self.token_ttl)
        return token, self.token_ttl

    def user_for_token(self, token: str | None) -> str | None:
        """The user a bearer token belongs to; None when missing, unknown or expired."""
        if not token:
            return None
        if secrets.compare_digest(token, DEMO_API_TOKEN):
            return DEMO_API_USER
        with self.lock:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            if time.monotonic() >= entry.expires_at:
                del self._tokens[token]
                return None
            return entry.username

    def expire_tokens(self) -> None:
        """Every session token issued so far stops working (the API token is unaffected)."""
        with self.lock:
            self._tokens.clear()

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self._tokens.pop(token, None)

    def issued_token_count(self) -> int:
        with self.lock:
            return len(self._tokens)

    # -- order mutations (the simulated OMS services) -------------------------------------

    @contextmanager
    def _order(self, order_id: str) -> Iterator[OrderRecord]:
        with self.lock:
            order = self.data.orders.get(order_id)
            if order is None:
                raise SandboxServiceError(f"Order [{order_id}] not found")
            yield order

    def change_order_status(
        self, order_id: str, status_id: str, user: str, change_reason: str | None = None
    ) -> None:
        if status_id not in ORDER_STATUSES:
            raise SandboxServiceError(f"Status [{status_id}] is not a valid order status")
        with self._order(order_id) as order:
            if order.status_id == status_id:
                return
            if order.status_id in ("ORDER_CANCELLED", "ORDER_COMPLETED"):
                raise SandboxServiceError(
                    f"Order [{order_id}] is {order.status_id} and cannot change to {status_id}"
                )
            order.status_id = status_id
            order.statuses.append(
                StatusRecord(
                    f"{order_id}{len(order.statuses) + 1:02d}",
                    status_id,
                    self.now(),
                    user,
                    change_reason=change_reason or None,
                )
            )
            item_status = _ITEM_STATUS.get(status_id)
            if item_status:
                # setItemStatus: each item changes too, with its own OrderStatus row.
                for item in order.items:
                    item.status_id = item_status
                    order.statuses.append(
                        StatusRecord(
                            f"{order_id}{len(order.statuses) + 1:02d}",
                            item_status,
                            self.now(),
                            user,
                            order_item_seq_id=item.seq_id,
                            change_reason=change_reason or None,
                        )
                    )

    def versions(self, shopify_id: str) -> list[OrderRecord]:
        """HotWax orders with this Shopify order id (`oms/orders?externalId=`), oldest first."""
        with self.lock:
            found = [o for o in self.data.orders.values() if o.external_id == shopify_id]
            return sorted(found, key=lambda order: (order.entry_date, order.order_id))

    def sync_shopify_order(self, shopify_id: str, user: str = "system") -> SyncOutcome:
        """What the order sync does with one Shopify order in its window.

        Not in HotWax: imported as a new order (MDM config SYNC_SHOPIFY_ORDER). In HotWax and
        unchanged since the sync last processed it: skipped, with no MDM record. In HotWax and
        changed: what `self.tenant.order_update` says (STILL UNKNOWN: HotWax's classifier is
        not public): updated in place (UPDATE_SHOPIFY_ORDER), skipped, or imported as a new
        version. docs/oms-api.md, "The sandbox", gives the sources.
        """
        with self.lock:
            shop = self.data.shopify.get(shopify_id)
            if shop is None:
                raise SandboxNotFound(f"Shopify order [{shopify_id}] not found in Shopify")
            versions = self.versions(shopify_id)
            if not versions:
                return self._sync_create(shop, user, refresh=False)
            if shop.synced_at is not None and shop.updated_at <= shop.synced_at:
                return SyncOutcome(shop, "skipped", versions[-1].order_id)
            mode = self.tenant.order_update
            if mode == "skip":
                return SyncOutcome(shop, "skipped", versions[-1].order_id)
            if mode == "new-version":
                return self._sync_create(shop, user, refresh=True)
            return self._sync_update(shop, versions[-1], user)

    def _sync_create(self, shop: ShopifyOrder, user: str, *, refresh: bool) -> SyncOutcome:
        problem = _import_problem(shop, refresh=refresh)
        if problem:
            return SyncOutcome(shop, "failed", None, problem, config="SYNC_SHOPIFY_ORDER")
        shop.synced_at = shop.updated_at
        order_id = self._create_order(shop, user)
        return SyncOutcome(shop, "created", order_id, config="SYNC_SHOPIFY_ORDER")

    def _sync_update(self, shop: ShopifyOrder, order: OrderRecord, user: str) -> SyncOutcome:
        """Bring the HotWax order up to date: a POS order fulfilled in Shopify is completed.
        The update rebuilds the order's contact mechs from Shopify, so a Shopify order without
        a shipping address fails it as a refresh does (HotWax's runbook "POS Order Refresh
        Failure")."""
        config = "UPDATE_SHOPIFY_ORDER"
        if shop.shipping_address is None:
            return SyncOutcome(shop, "failed", order.order_id, CONTACT_MECH_ERROR, config=config)
        shop.synced_at = shop.updated_at
        fulfilled = shop.fulfillment_status == "fulfilled"
        if (
            fulfilled
            and shop.source_name == "pos"
            and order.status_id
            in (
                "ORDER_CREATED",
                "ORDER_APPROVED",
            )
        ):
            self.change_order_status(order.order_id, "ORDER_COMPLETED", user)
        return SyncOutcome(shop, "updated", order.order_id, config=config)

    def _create_order(self, shop: ShopifyOrder, user: str) -> str:
        order_id = str(self._next_order)
        self._next_order += 1
        now = self.now()
        fulfilled = shop.fulfillment_status == "fulfilled"
        status = "ORDER_COMPLETED" if fulfilled else "ORDER_CREATED"
        channel = "POS_SALES_CHANNEL" if shop.source_name == "pos" else "WEB_SALES_CHANNEL"
        items = [
            ItemRecord(
                seq_id=f"{i + 1:05d}",
                product_id=str(line.get("sku", "UNKNOWN")),
                product_name=str(line.get("title", "")),
                quantity=Decimal(str(line.get("quantity", 1))),
                unit_price=shop.total_price,
                status_id=_ITEM_STATUS[status],
            )
            for i, line in enumerate(shop.line_items)
        ]
        self.data.orders[order_id] = OrderRecord(
            order_id=order_id,
            order_name=shop.name,
            external_id=shop.shopify_id,
            status_id=status,
            sales_channel_enum_id=channel,
            order_date=shop.created_at,
            entry_date=now,
            grand_total=shop.total_price,
            customer_party_id=f"CUST_{order_id}",
            customer_name="Riley Chen",
            customer_email=shop.email,
            facility_id="BROOKLYN_POS" if channel == "POS_SALES_CHANNEL" else "WAREHOUSE_NJ",
            items=items,
            identifications=[
                IdentificationRecord("SHOPIFY_ORD_ID", shop.shopify_id, now),
                IdentificationRecord("SHOPIFY_ORD_NAME", shop.name, now),
                IdentificationRecord("SHOPIFY_ORD_NO", shop.name.lstrip("#"), now),
            ],
            statuses=[StatusRecord(f"{order_id}01", status, now, user)],
            payments=[
                PaymentRecord(f"{order_id}P1", "EXT_SHOPIFY", "PAYMENT_SETTLED", shop.total_price)
            ],
        )
        return order_id

    def add_bulk_orders(self, count: int, *, template_id: str = "10001") -> list[str]:
        """Clone an order `count` times (new ids, Shopify ids and names) for paging and load."""
        with self.lock:
            template = self.data.orders[template_id]
            created: list[str] = []
            for _ in range(count):
                order_id = str(self._next_order)
                self._next_order += 1
                shopify_id = f"63{int(order_id):011d}"
                clone = copy.deepcopy(template)
                clone.order_id = order_id
                clone.order_name = f"#B{order_id}"
                clone.external_id = shopify_id
                clone.identifications = [
                    IdentificationRecord("SHOPIFY_ORD_ID", shopify_id, clone.entry_date),
                    IdentificationRecord("SHOPIFY_ORD_NAME", clone.order_name, clone.entry_date),
                ]
                self.data.orders[order_id] = clone
                created.append(order_id)
            return created

    # -- raw entity deletes and identification expiry (Maarg oms/orders/...) --------------

    def delete_order_item(self, order_id: str, seq_id: str) -> None:
        with self.lock:
            order = self.data.orders.get(order_id)
            if order is None:
                raise SandboxNotFound(f"OrderHeader [{order_id}] not found")
            kept = [item for item in order.items if item.seq_id != seq_id]
            if len(kept) == len(order.items):
                raise SandboxNotFound(f"OrderItem [{order_id}, {seq_id}] not found")
            order.items = kept

    def delete_order_header(self, order_id: str) -> None:
        """The raw OrderHeader delete: a Moqui entity delete does not cascade, so it is
        refused while any row references the header (items, status rows, identifications,
        payments, notes; roles, contact mechs and the ship group always do)."""
        with self.lock:
            order = self.data.orders.get(order_id)
            if order is None:
                raise SandboxNotFound(f"OrderHeader [{order_id}] not found")
            referring = {
                "OrderItem": len(order.items),
                "OrderStatus": len(order.statuses),
                "OrderIdentification": len(order.identifications),
                "OrderPaymentPreference": len(order.payments),
                "OrderRole": 3,
                "OrderContactMech": 2,
                "OrderItemShipGroup": 1,
            }
            shown = ", ".join(f"{n} {entity}" for entity, n in referring.items() if n)
            raise SandboxServiceError(
                f"Cannot delete OrderHeader [{order_id}]: records still reference it ({shown})"
            )

    def set_identification_thru(
        self,
        order_id: str,
        type_id: str,
        from_date_ms: int | None,
        thru_date: datetime | None,
    ) -> None:
        """Expire (or, with thru_date None, revive) an order's identification of one type."""
        with self.lock:
            order = self.data.orders.get(order_id)
            if order is None:
                raise SandboxNotFound(f"OrderHeader [{order_id}] not found")
            idents = order.identifications
            hits = [
                ident
                for ident in idents
                if ident.type_id == type_id
                # +-1 ms: epoch ms round-tripped through a float datetime can be off by one
                and (
                    from_date_ms is None
                    or abs((epoch_ms(ident.from_date) or 0) - from_date_ms) <= 1
                )
            ]
            if not hits:
                raise SandboxNotFound(
                    f"OrderIdentification [{order_id}, {type_id}] not found"
                    + ("" if from_date_ms is None else " with that fromDate")
                )
            for ident in hits:
                ident.thru_date = thru_date


def _import_problem(shop: ShopifyOrder, *, refresh: bool) -> str | None:
    """Why HotWax would refuse to import this Shopify order, or None when it imports."""
    if shop.shipping_address is None:
        if refresh:
            # A refresh copies the old version's contact mechs: the Shopify side has none.
            return CONTACT_MECH_ERROR
        if shop.source_name != "pos":
            return MISSING_ADDRESS_ERROR  # a POS order is picked up in store and needs none
    if "@" not in shop.email:
        return BAD_EMAIL_ERROR
    return None
