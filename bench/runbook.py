"""The bot's cost on a runbook: wall time against the OMS calls, as the OMS saw them.

The bot runs in-process through the console front end (the same Bolt app, a local Slack
stand-in, SQLite). Its OMS client talks to a sandbox served by a process of its own, as a real
OMS is (bench/spans.py's OmsProcess, reset to the demo data before every run), which adds a
fixed latency to every call and records when each request arrived and when its answer left.
In its own process the sandbox's HTTP parsing takes no turns of the bot's interpreter.
Per runbook it prints: the OMS calls, the sum of their times, the critical path (the longest
chain of calls each starting after the previous one ended: what the calls cost if every
independent one overlapped), the wall time, the ratios wall / sum and wall / critical path,
and wall / the critical path as a bare httpx client sees it (each call longer by the HTTP
round trip measured in the same run: what any OMS client pays). A ratio wall / sum below 1
means reads overlapped; wall / critical path near 1 means the bot adds little of its own.

The baseline is measured in the same run: the same runbooks with the OMS client bound to one
read at a time (OMS_MAX_CONCURRENT_READS=1), which is what the bot did before reads ran
together. For the refresh it also prints the overhead per step: the step's wall time less
its OMS calls' critical path and less the waits the runbook makes on purpose (its polls),
then the same less what a bare httpx client needs for the same calls (the round trip).

Usage: python bench/runbook.py [--rounds N] [--slow-rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spans import OmsProcess, Span, critical_path  # noqa: E402
from bot.engine.runs import RunEngine  # noqa: E402
from bot.kit.config import load_settings  # noqa: E402
from bot.oms import OmsClient  # noqa: E402
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME  # noqa: E402
from bot.store import runs as run_store  # noqa: E402
from bot.surface.console import Console  # noqa: E402
from bot.surface.wiring import create_services  # noqa: E402

CASES = {
    "check 10002 (POS, fulfilled)": ["/oms check 10002"],
    "check #1006 (missing, failure)": ["/oms check #1006"],
    "check 10009 (stale index)": ["/oms check 10009"],
    "order #1003": ["/oms order #1003"],
    "refresh 10002 (card + run)": ["/oms refresh 10002", "click 1"],
}
POLICY = """
[roles]
operator = []

[limits]
sync_poll_seconds = 0.05
"""


class Waits:
    """The runbook's deliberate waits: every asyncio.sleep the runbooks' own code makes
    (polls), summed per step, so the overhead of a step leaves them out."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []  # (start, end) perf_counter
        self._real: Callable[..., Awaitable[Any]] = asyncio.sleep

    def install(self) -> None:
        real = self._real

        async def sleep(delay: float, result: Any = None) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if not caller.startswith(("handlers.", "bot.oms.")) or delay <= 0:
                return await real(delay, result)
            start = time.perf_counter()
            try:
                return await real(delay, result)
            finally:
                self.calls.append((start, time.perf_counter()))

        asyncio.sleep = sleep

    def uninstall(self) -> None:
        asyncio.sleep = self._real  # type: ignore[assignment]

    def within(self, start: float, end: float) -> float:
        return sum(max(0.0, min(e, end) - max(s, start)) for s, e in self.calls)


class Engine:
    """Time the engine and the store spend inside each step: updating the run's message
    (render + chat.update) and the database work (every asyncio.to_thread: the store is
    synchronous SQLAlchemy). Told apart from the step's overhead so the runbook's own cost
    shows; overlapping intervals count once."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []
        self._update = RunEngine._show
        self._to_thread = asyncio.to_thread

    def install(self) -> None:
        update, to_thread = self._update, self._to_thread

        async def timed_update(engine: RunEngine, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                await update(engine, *args, **kwargs)
            finally:
                self.calls.append((start, time.perf_counter()))

        async def timed_to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await to_thread(func, *args, **kwargs)
            finally:
                self.calls.append((start, time.perf_counter()))

        RunEngine._show = timed_update  # type: ignore[method-assign, assignment]
        asyncio.to_thread = timed_to_thread

    def uninstall(self) -> None:
        RunEngine._show = self._update  # type: ignore[method-assign]
        asyncio.to_thread = self._to_thread

    def within(self, start: float, end: float) -> float:
        """The time inside [start, end] covered by at least one call."""
        clipped = sorted((max(s, start), min(e, end)) for s, e in self.calls if e > start)
        total, reach = 0.0, start
        for s, e in clipped:
            if e > reach:
                total += e - max(s, reach)
                reach = e
        return total


def _step_windows(services: Any) -> list[tuple[float, float]]:
    """Each step of the runs as the engine recorded them (time.time()), on the
    perf_counter clock of the spans. The store's own reads: a benchmark, not a runbook."""
    shift = time.perf_counter() - time.time()
    windows = []
    for run in run_store.list_runs(services.store):
        for step in run_store.get_steps(services.store, run.id):
            if step.started_at is not None and step.finished_at is not None:
                windows.append((step.started_at + shift, step.finished_at + shift))
    return windows


async def measure(
    lines: list[str],
    db: str,
    policy: Path,
    latency: float,
    max_reads: int,
    waits: Waits,
    updates: Engine,
    timed: OmsProcess,
    floor: float,
) -> dict[str, Any]:
    settings = load_settings(_env_file=None, omsbot_database_url=db, omsbot_policy=policy)
    services = create_services(settings)
    services.prepare()
    timed.reset(latency=latency, job_run_seconds=0.0, sync_delay_seconds=0.0)
    await services.oms.aclose()
    services.oms = OmsClient(
        timed.url,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        max_concurrent_reads=max_reads,
    )
    await services.oms.check_login()  # log in before the clock starts
    await services.oms.profile()  # learned once per process: not the runbook's cost
    console = Console(services, user_id="U0BENCH", out=io.StringIO())
    # When each message reached the Slack stand-in: a line's wall time ends at its last
    # message, not when the console has finished waiting for the bot to settle (its own
    # polling, which is no cost of the bot's).
    arrived: list[float] = []
    listener = console._slack._listener

    def timed_listener(message: Any) -> None:
        arrived.append(time.perf_counter())
        listener(message)

    console._slack._listener = timed_listener
    console.start()
    try:
        # Bolt learns who the bot is (auth.test) at its first request, once per process: a
        # first line that touches no OMS pays it before the clock starts.
        assert await console.run_line("/oms help")
        timed.clear()
        waits.calls.clear()
        updates.calls.clear()
        start = time.perf_counter()
        ok = []
        wall = 0.0
        for line in lines:
            began = time.perf_counter()
            ok.append(await console.run_line(line))
            wall += max([t for t in arrived if t >= began], default=time.perf_counter()) - began
        end = time.perf_counter()
        windows = _step_windows(services)
    finally:
        console.stop()
        await services.aclose()
    spans = timed.spans()
    return {
        "wall": wall,
        "oms": sum(s.seconds for s in spans),
        "critical": critical_path(spans),
        "critical_bare": critical_path(spans, floor),
        "calls": len(spans),
        "ok": all(ok),
        "waits": waits.within(start, end),
        "steps": _step_overheads(windows, spans, waits),
        "steps_bare": _step_overheads(windows, spans, waits, floor),
        "step_updates": [updates.within(s, e) for s, e in windows],
    }


def _step_overheads(
    windows: list[tuple[float, float]], spans: list[Span], waits: Waits, floor: float = 0.0
) -> list[float]:
    """Per step of a run: wall - critical path of its OMS calls - its deliberate waits. With
    a `floor`, each call of the path counts as long as a bare httpx client sees it (its span
    plus the round trip floor), so what is left is the bot's own cost."""
    out = []
    for start, end in windows:
        inside = [s for s in spans if s.start >= start and s.end <= end]
        out.append((end - start) - critical_path(inside, floor) - waits.within(start, end))
    return out


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def run_all(
    latency: float,
    rounds: int,
    tmp: str,
    policy: Path,
    waits: Waits,
    updates: Engine,
    timed: OmsProcess,
) -> None:
    timed.reset(latency=latency)
    floor = timed.round_trip_floor()
    print(f"\nOMS latency {latency * 1000:.0f} ms per call; median of {rounds} rounds")
    print(
        f"HTTP round trip of a bare httpx client beyond the OMS's own time (baseline, this "
        f"run): {1000 * floor:.2f} ms a call"
    )
    head = f"{'runbook':<32} {'reads':<9} {'calls':>5} {'sum s':>7} {'crit s':>7} {'wall s':>7}"
    print(f"{head} {'w/sum':>6} {'w/crit':>6} {'w/crit+rt':>9}")
    for name, lines in CASES.items():
        for label, max_reads in (("baseline", 1), ("together", 4)):
            runs = [
                asyncio.run(
                    measure(
                        lines,
                        f"sqlite:///{tmp}/b{time.monotonic_ns()}.db",
                        policy,
                        latency,
                        max_reads,
                        waits,
                        updates,
                        timed,
                        floor,
                    )
                )
                for _ in range(rounds)
            ]
            assert all(r["ok"] for r in runs), f"{name} failed"
            wall, oms, crit, bare_crit = (
                _median(runs, k) for k in ("wall", "oms", "critical", "critical_bare")
            )
            calls = _median(runs, "calls")
            print(
                f"{name:<32} {label:<9} {calls:>5.0f} {oms:>7.3f} {crit:>7.3f} {wall:>7.3f} "
                f"{wall / oms:>6.2f} {wall / crit:>6.2f} {wall / bare_crit:>9.2f}"
            )
            steps = [x for r in runs for x in r["steps"]]
            bare = [x for r in runs for x in r["steps_bare"]]
            if steps:
                per_step = ", ".join(f"{1000 * x:.1f}" for x in runs[0]["steps"])
                own = [
                    x - u for r in runs for x, u in zip(r["steps"], r["step_updates"], strict=True)
                ]
                print(
                    f"{'':<32} {label:<9} overhead per step: median "
                    f"{1000 * statistics.median(steps):.1f} ms over {len(steps)} steps "
                    f"(first round: {per_step} ms); less the engine's message updates and "
                    f"database work {1000 * statistics.median(own):.1f} ms; deliberate waits "
                    f"{_median(runs, 'waits'):.3f} s"
                )
                print(
                    f"{'':<32} {label:<9} overhead per step beyond what a bare httpx client "
                    f"needs for the same calls: median {1000 * statistics.median(bare):.1f} ms"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds at 50 ms a call")
    parser.add_argument("--slow-rounds", type=int, default=1, help="rounds at 500 ms a call")
    args = parser.parse_args()
    waits, updates = Waits(), Engine()
    waits.install()
    updates.install()
    timed = OmsProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            policy = Path(tmp) / "policy.toml"
            policy.write_text(POLICY)
            run_all(0.05, args.rounds, tmp, policy, waits, updates, timed)
            if args.slow_rounds:
                run_all(0.5, args.slow_rounds, tmp, policy, waits, updates, timed)
    finally:
        timed.stop()
        waits.uninstall()
        updates.uninstall()


if __name__ == "__main__":
    main()
