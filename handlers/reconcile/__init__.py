"""Reconciliation of Shopify with HotWax: `/oms reconcile [--since 24h] [--store X]`, its
Re-import buttons, and its scheduled form (a `[[digests]]` schedule with `reconcile = true`).

Counts first (Shopify's order count against HotWax's orders with a Shopify id); when they
differ, every Shopify order of the window is looked up in HotWax and each one missing is
reported with what is known about it: a logged import failure (its cause and fix, as
`/oms failed` shows it), no failure recorded, or too recent for the order sync to have
reached it.
"""
