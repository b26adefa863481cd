"""The order runbooks: `/oms order`, `check`, `refresh` (and its recovery), `import`,
`approve` and `mdm`, with what they share (the live version, Shopify access, the re-import
step, the known causes of import failures).

Other families use only what is exported here.
"""

from handlers.orders.causes import CAUSES, KnownCause, explain
from handlers.orders.lookup import references_of

__all__ = ["CAUSES", "KnownCause", "explain", "references_of"]
