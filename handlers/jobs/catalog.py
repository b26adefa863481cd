"""The job and webhook catalogue of HotWax's Job Manager (HotWax's "Job categories";
docs/oms-api.md, "Jobs and webhooks").

This is the OFBiz JobSandbox catalogue: categories group jobs the way the legacy Job Manager
app did; each job has a friendly name users type (`new-orders`), its `systemJobEnumId`
(`JOB_IMP_ORD`) and HotWax's description. Where HotWax names a job but no public source gives
its enum id, the job is left out rather than guessed (thresholds and inventory variance, for
example). The Moqui Job Manager's jobs and categories are the tenant's own data, read from
the OMS (handlers/jobs/moqui.py); a catalogue category's `enum_type_id` is also the id of the
Moqui category of the same jobs (`ORDER_SYS_JOB`). Webhook topics carry the OFBiz handler
endpoint the legacy Job Manager subscribed with (`None`: HotWax configures none) and whether
the Moqui Shopify connector handles them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.kit.suggest import NotAChoice, closest_of


@dataclass(frozen=True)
class JobInfo:
    key: str  # the friendly name, e.g. "new-orders" (the enum id for a job not catalogued)
    enum_id: str  # systemJobEnumId, e.g. "JOB_IMP_ORD"
    name: str
    description: str
    category: str  # the category key ("" when the job's enum type is no catalogue category)
    # False: a job the OMS has that this catalogue does not name; its name is the OMS's.
    catalogued: bool = True


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    enum_type_id: str | None  # None: the jobs are found by their enum ids (initial load)
    description: str
    jobs: tuple[JobInfo, ...]

    @property
    def enum_ids(self) -> list[str]:
        return [job.enum_id for job in self.jobs]


@dataclass(frozen=True)
class Topic:
    key: str  # the friendly name, e.g. "new-orders"
    enum_key: str  # the Job Manager's key, e.g. "NEW_ORDERS"
    name: str
    topic: str  # the Shopify topic, e.g. "orders/create"
    endpoint: str | None  # the OFBiz handler; None when HotWax configures none
    category: str
    # Where HotWax handles the topic: the legacy OFBiz webhook services (with `endpoint`),
    # and/or the Moqui Shopify connector (a SystemMessageType under ShopifyWebhook).
    ofbiz: bool = True
    moqui: bool = False
    # False: a topic the OMS has a subscription for that this catalogue does not name.
    catalogued: bool = True

    @property
    def graphql(self) -> str:
        """The Admin GraphQL topic the connector subscribes (orders/updated -> ORDERS_UPDATED)."""
        return self.topic.upper().replace("/", "_")


def _jobs(category: str, *rows: tuple[str, str, str, str]) -> tuple[JobInfo, ...]:
    return tuple(JobInfo(key, enum_id, name, desc, category) for key, enum_id, name, desc in rows)


CATEGORIES: tuple[Category, ...] = (
    Category(
        "initial-load",
        "Initial load",
        None,
        "Jobs for the initial OMS setup that import all products and orders.",
        _jobs(
            "initial-load",
            (
                "import-products-bulk",
                "JOB_IMP_PROD_NEW_BLK",
                "Import products in bulk",
                "Import all products from Shopify. Run this before importing orders in bulk "
                "during initial setup.",
            ),
            (
                "import-orders-bulk",
                "JOB_IMP_ORD_BLK",
                "Import orders in bulk",
                "Import historical orders in bulk; set up all products first or the order "
                "import will not run correctly.",
            ),
        ),
    ),
    Category(
        "pre-order",
        "Pre-order",
        "PRE_ORD_SYS_JOB",
        "The pre-order and backorder jobs.",
        _jobs(
            "pre-order",
            (
                "auto-refresh-presell-catalog",
                "JOB_REL_PREODR_CAT",
                "Auto refresh presell catalog",
                "Add and remove products from the pre-order and backorder catalogs based on "
                "inventory, purchase orders and order queues.",
            ),
            (
                "sync-variant-details",
                "JOB_PREORDER_CAT_SYC",
                "Sync variant details",
                "Sync pre-selling information to Shopify as tags and meta fields.",
            ),
            (
                "add-preorder-tags",
                "JOB_ADD_TAG_PREORD",
                "Add pre-order tags",
                "Add pre-order tags on orders with pre-selling items in them.",
            ),
            (
                "add-backorder-tags",
                "JOB_ADD_TAG_BACKORD",
                "Add backorder tags",
                "Add backorder tags on orders with pre-selling items in them.",
            ),
            (
                "add-promise-date",
                "JOB_UL_PRMS_DTE",
                "Add promise date",
                "Add a note with the promise date given to the customer when the order was placed.",
            ),
            (
                "update-promise-date",
                "JOB_UL_PRMS_DTE_UPD",
                "Update promise date",
                "Add notes to the impacted order items on Shopify for changed promise dates.",
            ),
            (
                "promise-date-change",
                "SD_PRMSDDTE_CNG_NOTI",
                "Promise date change",
                "Notify customers of any changed promise dates for their orders.",
            ),
            (
                "auto-releasing",
                "JOB_RLS_ORD_DTE",
                "Auto releasing",
                "Find pre-orders whose promise date has passed and release them for fulfillment.",
            ),
        ),
    ),
    Category(
        "orders",
        "Orders",
        "ORDER_SYS_JOB",
        "All order jobs.",
        _jobs(
            "orders",
            ("new-orders", "JOB_IMP_ORD", "New orders", "Import new orders from eCommerce."),
            (
                "approve-orders",
                "JOB_APR_ORD",
                "Approve orders",
                "Check all orders and approve the orders that are created.",
            ),
            (
                "update-orders",
                "JOB_IMP_ORD_UPD",
                "Update orders",
                "Import order updates from eCommerce.",
            ),
            (
                "cancelled-orders",
                "JOB_IMP_ORD_CNCL",
                "Cancelled orders",
                "Check eCommerce for orders that have been cancelled and cancel them in HotWax.",
            ),
            (
                "cancelled-items",
                "JOB_IMP_ITM_CNCL",
                "Cancelled items",
                "Check eCommerce for cancelled order items and cancel them in HotWax without "
                "cancelling the entire order.",
            ),
            (
                "returns",
                "JOB_IMP_RTN",
                "Returns",
                "Check eCommerce for returned orders and create a return for them in HotWax.",
            ),
            (
                "import-last-day-orders",
                "JOB_IMP_MISS_ORD",
                "Import last day orders",
                "Import the orders of the last day that the New orders job missed.",
            ),
        ),
    ),
    Category(
        "brokering",
        "Brokering",
        "BROKER_SYS_JOB",
        "All brokering jobs and their occurrence.",
        _jobs(
            "brokering",
            (
                "brokering",
                "JOB_BKR_ORD",
                "Create new brokering",
                "A brokering batch on new or unfulfilled orders.",
            ),
            (
                "rejected-orders-brokering",
                "JOB_BKR_REJ_ORD",
                "Rejected orders brokering",
                "A brokering batch for rejected orders.",
            ),
        ),
    ),
    Category(
        "fulfillment",
        "Fulfillment",
        "FULFILLMENT_SYS_JOB",
        "All fulfillment jobs.",
        _jobs(
            "fulfillment",
            (
                "shipping",
                "JOB_SHIP_ORD_PKD",
                "Shipping",
                "Ship orders that are packed and have a tracking number if one is required.",
            ),
            (
                "fulfillment-history",
                "JOB_ORD_FLMNT_HST",
                "History",
                "Create or update order fulfillment history records from FTP.",
            ),
            (
                "auto-cancellations",
                "JOB_CNCL_ORD_DTE",
                "Auto cancellations",
                "Cancel unfulfilled orders that pass their auto-cancellation date (in Shopify "
                "too when uploading cancelled orders is enabled).",
            ),
        ),
    ),
    Category(
        "inventory",
        "Inventory",
        "INVENTORY_SYS_JOB",
        "All inventory jobs.",
        _jobs(
            "inventory",
            (
                "upload-inventory",
                "JOB_UL_INV",
                "Upload recent inventory change",
                "Upload recent inventory changes to eCommerce.",
            ),
            (
                "sync-inventory",
                "JOB_IMP_PROD_FAC",
                "Sync inventory from Shopify",
                "Sync inventory from Shopify.",
            ),
        ),
    ),
    Category(
        "products",
        "Products",
        "PRODUCT_SYS_JOB",
        "All product jobs.",
        _jobs(
            "products",
            (
                "sync-products",
                "JOB_IMP_PROD_UPD",
                "Sync",
                "Sync products and category structures from Shopify into HotWax and keep them "
                "up to date.",
            ),
        ),
    ),
    Category(
        "miscellaneous",
        "Miscellaneous",
        "MISC_SYS_JOB",
        "All uncategorised jobs.",
        _jobs(
            "miscellaneous",
            (
                "process-bulk-files",
                "JOB_PRC_PND_DML",
                "Process bulk imported files",
                "Process uploaded files waiting in the data manager (recommended every 5 minutes).",
            ),
        ),
    ),
)

TOPICS: tuple[Topic, ...] = (
    Topic(
        "new-orders",
        "NEW_ORDERS",
        "New orders",
        "orders/create",
        "createOrderShopifyWebhook",
        "orders",
    ),
    Topic(
        "cancelled-orders",
        "CANCELLED_ORDERS",
        "Cancelled orders",
        "orders/cancelled",
        "cancelOrderShopifyWebhook",
        "orders",
    ),
    Topic(
        "payment-status",
        "PAYMENT_STATUS",
        "Payment status",
        "order_transactions/create",
        "getTransactionAndMarkOrderPaid",
        "orders",
    ),
    Topic("returns", "RETURNS", "Returns", "refunds/create", "returnOrderShopifyWebhook", "orders"),
    Topic(
        "inventory-level-update",
        "INVENTORY_LEVEL_UPDATE",
        "Inventory level update",
        "inventory_levels/update",
        "inventoryLevelUpdateFromShopify",
        "inventory",
    ),
    # The Job Manager shows "Configuration missing" for new products: no OMS handler exists.
    Topic("new-products", "NEW_PRODUCTS", "New products", "products/create", None, "products"),
    Topic(
        "delete-products",
        "DELETE_PRODUCTS",
        "Delete products",
        "products/delete",
        "deleteProductFromShopify",
        "products",
    ),
    # The Moqui connector's webhooks (its ShopifyWebhook SystemMessageTypes).
    Topic(
        "orders-updated",
        "ORDERS_UPDATED",
        "Orders updated",
        "orders/updated",
        None,
        "orders",
        ofbiz=False,
        moqui=True,
    ),
    Topic(
        "bulk-operations-finish",
        "BULK_OPERATIONS_FINISH",
        "Bulk operations finish",
        "bulk_operations/finish",
        None,
        "products",
        ofbiz=False,
        moqui=True,
    ),
)
OFBIZ_TOPICS: tuple[Topic, ...] = tuple(t for t in TOPICS if t.ofbiz)
MOQUI_TOPICS: tuple[Topic, ...] = tuple(t for t in TOPICS if t.moqui)

ALL_JOBS: tuple[JobInfo, ...] = tuple(job for cat in CATEGORIES for job in cat.jobs)
_JOBS_BY_ENUM = {job.enum_id: job for job in ALL_JOBS}
_CATEGORIES_BY_KEY = {cat.key: cat for cat in CATEGORIES}


def _norm(text: str) -> str:
    """Compare names without case, spaces, dashes or underscores ("New_Orders" = "new-orders")."""
    return re.sub(r"[^a-z0-9/]", "", text.lower())


def category(key: str) -> Category:
    return _CATEGORIES_BY_KEY[key]


def job_by_enum(enum_id: str) -> JobInfo | None:
    return _JOBS_BY_ENUM.get(enum_id)


def norm(text: str) -> str:
    """The form names are compared in (public: the Moqui names are matched the same way)."""
    return _norm(text)


def oms_job(
    enum_id: str, name: str | None, description: str | None, enum_type_id: str | None
) -> JobInfo:
    """A job the OMS has in JobSandbox that the catalogue does not name (a tenant's own, or
    one HotWax added): addressed by its enum id, named as the OMS names it."""
    cat = category_of_type(enum_type_id)
    return JobInfo(
        enum_id,
        enum_id,
        name or enum_id,
        description or "",
        cat.key if cat else "",
        catalogued=False,
    )


def category_of_type(enum_type_id: str | None) -> Category | None:
    return next((c for c in CATEGORIES if c.enum_type_id and c.enum_type_id == enum_type_id), None)


def job_choices() -> dict[str, str]:
    """What users may type for a catalogue job, each mapped to what to suggest: the friendly
    name for a friendly name, the enum id for an enum id."""
    choices = {job.key: job.key for job in ALL_JOBS}
    choices.update({job.enum_id: job.enum_id for job in ALL_JOBS})
    return choices


def category_choices() -> dict[str, str]:
    choices = {cat.key: cat.key for cat in CATEGORIES}
    choices.update({cat.label: cat.key for cat in CATEGORIES})
    return choices


def topic_choices() -> dict[str, str]:
    choices = {topic.key: topic.key for topic in TOPICS}
    for topic in TOPICS:
        choices.setdefault(topic.enum_key, topic.key)
        choices.setdefault(topic.topic, topic.key)
    return choices


def find_category(text: str) -> Category | None:
    wanted = _norm(text)
    for cat in CATEGORIES:
        if wanted in (_norm(cat.key), _norm(cat.label)) or (
            cat.enum_type_id and wanted == _norm(cat.enum_type_id)
        ):
            return cat
    return None


def parse_category(text: str) -> Category:
    found = find_category(text)
    if found is None:
        valid = ", ".join(cat.key for cat in CATEGORIES)
        raise NotAChoice(
            f"unknown category `{text[:40]}`; the categories are: {valid}",
            closest_of(text, category_choices()),
        )
    return found


def find_job(text: str) -> JobInfo | None:
    wanted = _norm(text)
    return next((j for j in ALL_JOBS if wanted in (_norm(j.key), _norm(j.enum_id))), None)


def parse_job(text: str) -> JobInfo:
    found = find_job(text)
    if found is None:
        valid = ", ".join(job.key for job in ALL_JOBS)
        raise NotAChoice(
            f"unknown job `{text[:40]}`; the jobs are: {valid} "
            "(or their enum ids, such as JOB_IMP_ORD; `/oms jobs <category>` lists them)",
            closest_of(text, job_choices()),
        )
    return found


_SHOPIFY_TOPIC = re.compile(r"^[a-z_]+/[a-z_]+$")


def other_topic(topic: str) -> Topic:
    """A Shopify topic (`orders/paid`) the catalogue does not name: a subscription the OMS
    has may still be shown and removed."""
    return Topic(topic, topic.upper().replace("/", "_"), topic, topic, None, "", True, True, False)


def parse_any_topic(text: str) -> Topic:
    """`parse_topic`, or any Shopify topic written as Shopify writes it (`orders/paid`)."""
    try:
        return parse_topic(text)
    except NotAChoice:
        wanted = text.strip().lower()
        if _SHOPIFY_TOPIC.match(wanted):
            return other_topic(wanted)
        raise


def parse_topic(text: str) -> Topic:
    wanted = _norm(text)
    for topic in TOPICS:
        if wanted in (_norm(topic.key), _norm(topic.enum_key), _norm(topic.topic)):
            return topic
    valid = ", ".join(topic.key for topic in TOPICS)
    raise NotAChoice(
        f"unknown webhook topic `{text[:40]}`; the topics are: {valid}",
        closest_of(text, topic_choices()),
    )
