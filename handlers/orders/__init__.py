"""The order runbooks: `/oms order`, `check`, `refresh` (and its recovery), `import`,
`approve` and `mdm`, with what they share (the live version, Shopify access, the re-import
step, the known causes of import failures).

Other families use only what is exported here.
"""

from handlers.orders.causes import CAUSES, KnownCause, explain
from handlers.orders.check import check_card
from handlers.orders.lookup import live_version, references_of, status_words
from handlers.orders.pages import known_shop_hosts, page_links

__all__ = [
    "CAUSES",
    "KnownCause",
    "check_card",
    "explain",
    "known_shop_hosts",
    "live_version",
    "page_links",
    "references_of",
    "status_words",
]
