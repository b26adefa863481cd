"""One HTTP exchange with the OMS: timeouts, retries for reads, network failures as errors.

This layer knows nothing of HotWax's body conventions or of auth; it returns the response or
raises OmsUnavailable. Retrying is decided per call by the caller's `read` flag, because only
the caller knows whether a POST (performFind, solr-query) is a read or a write.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from bot.oms.errors import OmsUnavailable

log = logging.getLogger(__name__)

# Requests one client has in flight at once unless told otherwise (OMS_MAX_CONCURRENT_READS).
DEFAULT_MAX_CONCURRENT_READS = 4

# Gateway-ish statuses: the request most likely never reached the application, so a read is
# safe to repeat. A plain 500 is the application failing and is not retried.
RETRYABLE_STATUSES = frozenset({502, 503, 504})


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception chain: httpx wraps the OSError that says what really happened."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_network_error(exc: httpx.TransportError, timeout: float) -> str:
    """A short human reason; never the raw exception text, which may echo the request."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {_seconds(timeout)}"
    if isinstance(exc, httpx.ConnectError):
        causes = list(_causes(exc))
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "the OMS host name could not be resolved"
        if "refused" in str(exc).lower():
            return "connection refused"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed before a complete answer arrived"
    return f"network error ({type(exc).__name__})"


def describe_status(status: int) -> str:
    try:
        phrase = httpx.codes.get_reason_phrase(status)
    except ValueError:
        phrase = ""
    return f"HTTP {status} {phrase}".strip()


@dataclass(frozen=True, slots=True)
class OmsCall:
    """One HTTP exchange with the OMS, as observers (metrics) see it."""

    operation: str
    method: str
    path: str  # the URL path only: never the query string or the body
    status: str  # the HTTP status, or timeout / connect_error / network_error
    seconds: float


CallObserver = Callable[[OmsCall], None]


def failure_status(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    return "network_error"


def _release_after(slots: asyncio.Semaphore) -> Callable[[asyncio.Future[httpx.Response]], None]:
    """A done callback that gives an exchange's slot back. A read left behind by its caller
    ends with nobody awaiting it: its outcome is taken here, so asyncio does not log it as
    never retrieved (the caller had stopped caring, and said so by cancelling)."""

    def release(exchange: asyncio.Future[httpx.Response]) -> None:
        slots.release()
        if not exchange.cancelled():
            exchange.exception()

    return release


class HttpTransport:
    """A thin wrapper over one httpx.AsyncClient shared by both backends."""

    def __init__(
        self,
        *,
        timeout: float,
        read_retries: int,
        retry_backoff: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrent_reads: int = DEFAULT_MAX_CONCURRENT_READS,
    ) -> None:
        self.timeout = timeout
        self.read_retries = max(0, read_retries)
        self.retry_backoff = max(0.0, retry_backoff)
        self.max_concurrent_reads = max(1, max_concurrent_reads)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport)
        self.observers: list[CallObserver] = []
        # One bound per event loop: an asyncio.Semaphore belongs to the loop it first waits
        # in, and a client may serve more than one (a start-up check, then the bot's loop).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        # Reads in flight, each in its slot (see _exchange).
        self._exchanges: set[asyncio.Future[httpx.Response]] = set()

    def _slots_here(self) -> asyncio.Semaphore:
        """The tenant's request slots, so concurrent runs (and the reads one step sends
        together) never put more than `max_concurrent_reads` requests on the OMS at once.
        Every request takes one, writes too: a POST may be a read (performFind, a Shopify
        GraphQL query). The bound is per process and first come, first served, so a request
        (a write included) waits behind every request queued ahead of it; the wait is not
        counted against `timeout`, and the call log's duration starts in the slot."""
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.max_concurrent_reads)
        return slots

    async def _exchange(
        self, slots: asyncio.Semaphore, method: str, url: str, *, read: bool, **request: Any
    ) -> httpx.Response:
        """One exchange in a slot the caller took from `slots`; the slot is given back when
        the exchange ends.

        A read cancelled while it is out (a read made ahead the step no longer needs, or one
        beside a read that failed) is left to finish on its own and keeps its slot until it
        does: the OMS is still answering it, and the bound is about what the OMS is asked at
        once. A write is never left behind: cancelled, it is cancelled (its audit says so)."""
        if not read:
            try:
                return await self._client.request(method, url, **request)
            finally:
                slots.release()
        exchange = asyncio.ensure_future(self._client.request(method, url, **request))
        self._exchanges.add(exchange)  # asyncio keeps only a weak reference to a task
        exchange.add_done_callback(self._exchanges.discard)
        exchange.add_done_callback(_release_after(slots))
        # asyncio.wait, not shield: it leaves the exchange running when we are cancelled, as
        # shield does, and no future of its holds the answer once we have it (shield's did,
        # until our next await: a large page stayed alive while the next one was read).
        await asyncio.wait({exchange})
        return exchange.result()

    async def aclose(self) -> None:
        # Reads left to finish on their own are not waited for: nobody needs their answers.
        loop = asyncio.get_running_loop()  # those of another loop ended with it
        left = [e for e in self._exchanges if not e.done() and e.get_loop() is loop]
        for exchange in left:
            exchange.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        await self._client.aclose()

    async def send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        read: bool,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        attempts = 1 + (self.read_retries if read else 0)
        for attempt in range(attempts):
            last_try = attempt == attempts - 1
            started = time.monotonic()
            try:
                # The slot is held for one attempt only: a read sleeping before its retry
                # leaves the slot to others.
                slots = self._slots_here()
                await slots.acquire()
                started = time.monotonic()
                response = await self._exchange(
                    slots, method, url, read=read, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                self._observe(operation, method, url, failure_status(exc), started)
                if last_try:
                    reason = describe_network_error(exc, self.timeout)
                    if attempts > 1:
                        reason += f" ({attempts} attempts)"
                    # A connection never made (refused, or timed out connecting) sent nothing.
                    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                    raise OmsUnavailable(operation, reason, sent=sent) from None
            else:
                self._observe(operation, method, url, str(response.status_code), started)
                if response.status_code not in RETRYABLE_STATUSES or last_try:
                    return response
            # Exponential backoff: 0.2s, 0.4s, 0.8s ... gives a restarting OMS time to come back.
            await asyncio.sleep(self.retry_backoff * (2**attempt))
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _observe(self, operation: str, method: str, url: str, status: str, started: float) -> None:
        """Log the call (the correlation id comes from the context) and tell the observers."""
        # The path as httpx.URL(url).path gives it (decoded), at a sixtieth of its cost.
        path = unquote(urlsplit(url).path)
        call = OmsCall(operation, method, path, status, time.monotonic() - started)
        ms = round(call.seconds * 1000, 1)
        log.info(
            "OMS %s %s -> %s in %.0f ms (%s)",
            call.method,
            call.path,
            call.status,
            ms,
            call.operation,
            extra={
                "operation": call.operation,
                "method": call.method,
                "path": call.path,
                "status": call.status,
                "ms": ms,
            },
        )
        for observer in self.observers:
            try:
                observer(call)
            except Exception:
                log.exception("an OMS call observer failed")
