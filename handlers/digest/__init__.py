"""Failed Shopify imports: `/oms failed`, `/oms digest`, `/oms digest now`, and the digest
posted on the policy's `[[digests]]` schedules (HotWax's "Order Reconciliations")."""
