"""Orders met outside `/oms`: the "Check this order" message shortcut and the order cards
unfurled under HotWax and Shopify admin order links."""
