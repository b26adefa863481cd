"""The sandbox's in-memory records: HotWax orders, the Shopify side, import-failure logs.

Plain dataclasses, one per HotWax entity the sandbox serves; shapes.py turns them into the
JSON each backend returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# The demo tenant's ids, one set for every part of the sandbox (orders, jobs, MDM logs,
# product stores and shops): the product store the demo orders belong to, and the shop they
# come from (bot/sandbox/stores_data.py seeds both).
DEMO_STORE = "STORE"
DEMO_SHOP = "10000"


@dataclass
class ItemRecord:
    seq_id: str
    product_id: str
    product_name: str
    quantity: Decimal
    unit_price: Decimal
    status_id: str
    ship_group_seq_id: str = "00001"


@dataclass
class IdentificationRecord:
    type_id: str
    value: str
    from_date: datetime
    thru_date: datetime | None = None

    def active_at(self, moment: datetime) -> bool:
        """HotWax "removes" an identification by setting thruDate; it is gone from then on."""
        return self.thru_date is None or self.thru_date > moment


@dataclass
class StatusRecord:
    order_status_id: str
    status_id: str
    status_datetime: datetime
    user_login: str
    order_item_seq_id: str | None = None
    change_reason: str | None = None


@dataclass
class PaymentRecord:
    pref_id: str
    method_type_id: str
    status_id: str
    max_amount: Decimal


@dataclass
class OrderRecord:
    order_id: str
    order_name: str
    external_id: str | None
    status_id: str
    sales_channel_enum_id: str
    order_date: datetime
    entry_date: datetime
    grand_total: Decimal
    customer_party_id: str
    customer_name: str
    customer_email: str
    facility_id: str
    product_store_id: str = DEMO_STORE
    currency_uom: str = "USD"
    shipment_method_type_id: str = "STANDARD"
    items: list[ItemRecord] = field(default_factory=list)
    identifications: list[IdentificationRecord] = field(default_factory=list)
    statuses: list[StatusRecord] = field(default_factory=list)
    payments: list[PaymentRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What Solr last indexed, when it differs from the record (Solr was down): the
    # "Find Order shows created although the order is approved" case.
    indexed_status_id: str | None = None


@dataclass
class ShopifyOrder:
    shopify_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    source_name: str  # "pos" or "web", as Shopify reports it
    fulfillment_status: str | None  # "fulfilled", "partial" or None (unfulfilled)
    financial_status: str
    email: str
    phone: str | None
    shipping_address: dict[str, str] | None
    total_price: Decimal
    line_items: list[dict[str, Any]] = field(default_factory=list)
    # When the order sync last processed this order (its ShopifyOrderHistory mark): an order
    # not changed in Shopify since is skipped as unchanged. None: never imported.
    synced_at: datetime | None = None


@dataclass(frozen=True)
class ImportFailure:
    """One logInsights SHOPIFY_ORDER document: a Shopify order that failed to import."""

    document_id: str
    shopify_order_id: str
    shopify_order_name: str
    order_created: datetime
    first_attempted: datetime
    timestamp: datetime
    error_message: str
    version: int
    # The shop's myshopify domain and Shopify id (`site`); None: the demo shop's.
    shop_domain: str | None = None
    shopify_shop_id: str | None = None


@dataclass
class MdmFailedRecord:
    shopify_order_id: str
    order_name: str
    event_message: str
    payload: dict[str, Any]  # the staged Shopify order, as the failed-records file holds it


@dataclass
class MdmLog:
    """A "Shopify Order MDM" DataManagerLog run and the records it could not import."""

    log_id: str
    config_id: str
    status_id: str
    created_date: datetime
    start_date_time: datetime
    finish_date_time: datetime
    failed_records: list[MdmFailedRecord] = field(default_factory=list)
    # Every Shopify order the run processed (id and name), failed ones included: the
    # "log file" a user downloads; its length is totalRecordCount.
    processed_orders: list[dict[str, Any]] = field(default_factory=list)
    # HotWax's connector does not carry the job run or the SystemMessage into the log yet
    # (hotwax/company docs/shopify-batch-order-sync-api-reuse.md, "Job-run correlation").
    created_by_job_run_id: str | None = None

    @property
    def total_record_count(self) -> int:
        return len(self.processed_orders)

    @property
    def log_content_id(self) -> str:
        return f"{self.log_id}_LOG"

    @property
    def error_log_content_id(self) -> str | None:
        return f"{self.log_id}_ERR" if self.failed_records else None


@dataclass
class JobParameter:
    name: str
    value: str


@dataclass
class ServiceJobRecord:
    """A Moqui ServiceJob (the shop's Shopify order sync is one)."""

    job_name: str
    description: str
    service_name: str
    cron_expression: str
    paused: str  # "Y" / "N", as Moqui stores it
    parameters: list[JobParameter] = field(default_factory=list)
    # Where the next order sync without a fromDate resumes: its last message's date
    # (ShopifySystemMessageServices.xml:1362-1373 in hotwax/mantle-shopify-connector).
    synced_until: datetime | None = None
    # The Job Manager's product of the job (its category comes from the product's category
    # memberships), its type enum, and the template it was cloned from.
    instance_of_product_id: str | None = None
    job_type_enum_id: str | None = None
    parent_job_name: str | None = None

    def parameter(self, name: str) -> str:
        return next((p.value for p in self.parameters if p.name == name), "")


@dataclass
class JobRunRecord:
    """One ServiceJobRun; `end_time` stays None while the run is in progress."""

    job_run_id: str
    job_name: str
    user_id: str
    parameters: dict[str, str]
    start_time: datetime
    end_time: datetime | None = None
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    results: str | None = None


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    reference: str


@dataclass
class SeedData:
    orders: dict[str, OrderRecord]
    shopify: dict[str, ShopifyOrder]
    failures: list[ImportFailure]
    mdm_logs: list[MdmLog]
    service_jobs: dict[str, ServiceJobRecord] = field(default_factory=dict)
    job_runs: list[JobRunRecord] = field(default_factory=list)
    # OrderIdentification rows whose OrderHeader was deleted: like HotWax's raw entity delete,
    # removing the header does not take them along, so they can still be expired afterwards.
