"""The HotWax OMS client: HTTP, HotWax shapes and errors; nothing of Slack.

The public names are below: the client, its errors, the order models and references, the
classes other layers hold, and the operation modules as namespaces (`mdm.recent_logs`,
`records.cancel_order`, `stores.list_shops`, ...). Everything else in the package (the
transport, the session, the error conventions) is the client's own. docs/oms-api.md maps
every operation to its endpoint and public source. The client imports only the kit.
"""

from bot.oms import (
    failures,
    jobs,
    loginsights,
    mdm,
    reconcile,
    records,
    search,
    service_jobs,
    shopify,
    stores,
)
from bot.oms.client import MaargList, OmsClient
from bot.oms.errors import (
    OmsAuthError,
    OmsBadResponse,
    OmsError,
    OmsRequestError,
    OmsUnavailable,
)
from bot.oms.jobs import Frequency, Job, JobNotRunnable, JobsApi, Webhook
from bot.oms.loginsights import FailedImport
from bot.oms.models import (
    Order,
    OrderIdentification,
    OrderItem,
    PaymentPreference,
    StatusChange,
    UserProfile,
)
from bot.oms.ordersync import OrderSync, SyncRun, differing
from bot.oms.profile import FAILURE_PROBES, JOB_PROBES, TenantProfile
from bot.oms.refs import (
    FoundRefs,
    OrderLink,
    OrderRef,
    button_ref,
    find_order_refs,
    hotwax_order_url,
    order_manager_url,
    parse_order_link,
    parse_order_ref,
    parse_store_id,
    shopify_admin_url,
)
from bot.oms.service_jobs import (
    JobCategory,
    ServiceJob,
    ServiceJobRun,
    ServiceJobsApi,
    ShopifyWebhook,
)
from bot.oms.shopify import ShopifyOrder, ShopifyProxy
from bot.oms.stores import ShopifyShop
from bot.oms.together import Attempt, attempt, read_each, reads_together

__all__ = [
    "FAILURE_PROBES",
    "JOB_PROBES",
    "Attempt",
    "FailedImport",
    "FoundRefs",
    "Frequency",
    "Job",
    "JobCategory",
    "JobNotRunnable",
    "JobsApi",
    "MaargList",
    "OmsAuthError",
    "OmsBadResponse",
    "OmsClient",
    "OmsError",
    "OmsRequestError",
    "OmsUnavailable",
    "Order",
    "OrderIdentification",
    "OrderItem",
    "OrderLink",
    "OrderRef",
    "OrderSync",
    "PaymentPreference",
    "ServiceJob",
    "ServiceJobRun",
    "ServiceJobsApi",
    "ShopifyOrder",
    "ShopifyProxy",
    "ShopifyShop",
    "ShopifyWebhook",
    "StatusChange",
    "SyncRun",
    "TenantProfile",
    "UserProfile",
    "Webhook",
    "attempt",
    "button_ref",
    "differing",
    "failures",
    "find_order_refs",
    "hotwax_order_url",
    "jobs",
    "loginsights",
    "mdm",
    "order_manager_url",
    "parse_order_link",
    "parse_order_ref",
    "parse_store_id",
    "read_each",
    "reads_together",
    "reconcile",
    "records",
    "search",
    "service_jobs",
    "shopify",
    "shopify_admin_url",
    "stores",
]
