"""How often the shop's order sync runs: the interval of its ServiceJob's Quartz cron
expression (`0 */15 * ? * *`), which tells which Shopify orders are too recent to be missing.
The expression is read by `handlers.jobs.cron_interval`, as the job watches read it."""

from __future__ import annotations

from datetime import timedelta

# Without a readable schedule: HotWax's order-sync clones run every 15 minutes in the
# seed data the company app cites [INF]; the message says this default was used.
DEFAULT_INTERVAL = timedelta(minutes=15)
# With runAsBatch the sync stops one minute short of now (thruDateBuffer, connector v4.1.1;
# bot/oms/ordersync.py): an order is due one interval plus this after its creation.
THRU_BUFFER = timedelta(minutes=1)
