"""`reads_together`: run a step's independent OMS reads at once.

A runbook step often needs several things that do not depend on each other (the order in
HotWax, the order in Shopify, the search index, the import failures). Sent one after another
they cost the sum of their times; sent together, about the longest one. The OMS client bounds
how many reads are in flight per tenant (OMS_MAX_CONCURRENT_READS), so this helper needs no
bound of its own.

Errors stay what they were: the first read to fail raises its own exception (an OmsError
names its operation, as when the reads were sequential), never an ExceptionGroup; the other
reads are cancelled, so nothing keeps running behind a failed step. Only reads go through
here: writes stay sequential in the runbooks, since a write's order matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


@overload
async def reads_together(a: Awaitable[A], b: Awaitable[B], /) -> tuple[A, B]: ...


@overload
async def reads_together(
    a: Awaitable[A], b: Awaitable[B], c: Awaitable[C], /
) -> tuple[A, B, C]: ...


@overload
async def reads_together(
    a: Awaitable[A], b: Awaitable[B], c: Awaitable[C], d: Awaitable[D], /
) -> tuple[A, B, C, D]: ...


async def reads_together(*reads: Awaitable[Any]) -> tuple[Any, ...]:
    """Await every read at once; their results in the order given.

    If one fails, the others are cancelled (and awaited, so none outlives the step) and the
    first failure is raised as it is. If the caller is cancelled, so are the reads."""
    tasks = [asyncio.ensure_future(_as_coroutine(read)) for read in reads]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        await _cancel(tasks)
        raise
    failed = [t for t in tasks if t in done and not t.cancelled() and t.exception() is not None]
    if failed:
        await _cancel(list(pending))
        # Several may have failed in the same instant: the first given is the one raised,
        # so the same failure shows whatever the timing.
        error = failed[0].exception()
        assert error is not None
        raise error
    return tuple(t.result() for t in tasks)


async def _as_coroutine(read: Awaitable[Any]) -> Any:
    return await read


async def _cancel(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    # Wait for them to end; their own errors (or cancellations) are not the step's.
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["reads_together"]
