"""Run a step's independent OMS reads at once.

A runbook step often needs several things that do not depend on each other (the order in
HotWax, the order in Shopify, the search index, the import failures). Sent one after another
they cost the sum of their times; sent together, about the longest one. The OMS client bounds
how many reads are in flight per tenant (OMS_MAX_CONCURRENT_READS), so these helpers need no
bound of their own. Only reads go through here: writes stay sequential in the runbooks.

Errors stay what they were when the reads ran one after another: the failure raised is the
one the sequence would have met first (the first read, in the order given, that fails), as
it is (an OmsError names its operation), never an ExceptionGroup. The reads after it are
cancelled, so nothing keeps running behind a failed step.

`attempt` is for a read made ahead of need (speculatively): its failure is kept, not raised,
and comes out only if the runbook uses the result, as it would have when read then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
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
    """Await every read at once; their results in the order given (see the module's doc
    for errors)."""
    return tuple(await _all(list(reads)))


async def read_each(reads: Iterable[Awaitable[T]]) -> list[T]:
    """`reads_together` for any number of reads of one kind (one per MDM log, per id)."""
    return await _all(list(reads))


@dataclass(frozen=True, slots=True)
class Attempt(Generic[T]):
    """A read's result or its failure, kept until the runbook asks for it."""

    result: T | None = None
    error: Exception | None = None

    def value(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


async def attempt(read: Awaitable[T]) -> Attempt[T]:
    try:
        return Attempt(result=await read)
    except Exception as exc:
        return Attempt(error=exc)


async def _all(reads: list[Awaitable[Any]]) -> list[Any]:
    tasks = [asyncio.ensure_future(read) for read in reads]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        await _cancel(tasks)  # the caller was cancelled: so are its reads
        raise
    failed = next((i for i, t in enumerate(tasks) if _failed(t)), None)
    if failed is None:
        return [t.result() for t in tasks]
    # Reads after the failure would not have been sent one after another: cancel them. Reads
    # before it would: let them end, since one of them failing is the error to show.
    await _cancel(tasks[failed + 1 :])
    await asyncio.gather(*tasks[:failed], return_exceptions=True)
    first = next(t for t in tasks if _failed(t))
    error = first.exception()
    assert error is not None
    raise error


def _failed(task: asyncio.Future[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    # Wait for them to end; their own errors (or cancellations) are not the step's.
    await asyncio.gather(*tasks, return_exceptions=True)
