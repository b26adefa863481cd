"""A spike of failed Shopify order imports: more failed orders in the last hour than the
watch's `failed_imports_per_hour`.

The failures are the order MDM's (SYNC_ and UPDATE_SHOPIFY_ORDER logs, read page by page as
the digest reads them, bot/oms/failures.py), each order counted once. The alert is raised when
the count goes over the threshold and closed when it falls back to it; a watch that starts in
the middle of a spike reports it at once.
"""

from __future__ import annotations

from bot.engine import Findings, Recovery, Toolbox, Watch, WatchEvent, WatchView
from bot.kit.durations import slack_time
from bot.oms import failures

SUBJECT = "failed imports"
HOUR = 3600.0


async def detect(tools: Toolbox, watch: Watch, view: WatchView) -> Findings:
    found = Findings()
    threshold = watch.failed_imports_per_hour
    if threshold is None:
        return found
    orders: set[str] = set()
    async for rows in failures.iter_mdm_failures(
        tools.oms,
        since=view.now - HOUR,
        until=view.now,
        page_size=tools.policy.limits.digest_page_size,
    ):
        orders.update(r.shopify_order_id or r.shopify_order_name for r in rows)
    count = len(orders)
    value = "spike" if count > threshold else "normal"
    change = await view.change(SUBJECT, "spike", value)
    if change is None:
        return found
    before, number = change
    if value == "spike":
        found.events.append(
            WatchEvent(
                key=f"spike:{number}",
                kind="spike",
                subject=SUBJECT,
                at=view.now,
                title=f"Failed imports spike: {count} in the last hour",
                text=(
                    f"*{count} Shopify orders failed to import* in the hour before "
                    f"{slack_time(view.now)}, more than this watch's threshold of {threshold} "
                    "an hour. `/oms failed --since 1h` lists them with their causes and fixes."
                ),
            )
        )
    elif before == "spike":
        found.recoveries.append(
            Recovery(
                "spike",
                SUBJECT,
                view.now,
                f"{count} failed imports in the hour before {slack_time(view.now)}, "
                f"within the threshold of {threshold}",
            )
        )
    return found
