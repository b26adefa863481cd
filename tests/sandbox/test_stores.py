"""The sandbox's shops, SystemMessageRemotes and product stores, through the bot's own OMS
operations (bot/oms/stores.py) and through raw HTTP for the shapes and error conventions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bot.oms import OmsClient
from bot.oms.errors import OmsRequestError
from bot.oms.stores import (
    AmbiguousRemote,
    check_shopify_access,
    find_remote,
    get_product_store,
    list_product_stores,
    list_shops,
    set_access_scope,
    set_store_flag,
    shop_connection,
)
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.sandbox.stores import add_remote, fail_remote_write, stale_proxy_scope
from bot.sandbox.stores_data import seed_stores

STORE = "/rest/s1/admin/productStores/STORE"


def _with_client(sandbox: SandboxServer, work: Any) -> Any:
    async def go() -> Any:
        async with OmsClient(
            sandbox.url, username=DEMO_USERNAME, password=DEMO_PASSWORD, timeout=3
        ) as oms:
            return await work(oms)

    return asyncio.run(go())


def test_shops_and_remotes_are_listed_per_store_and_shop(sandbox: SandboxServer) -> None:
    async def work(oms: OmsClient) -> Any:
        shops = await list_shops(oms, "STORE")
        outlet = await list_shops(oms, "OUTLET")
        remote = await find_remote(oms, "10001")
        missing = await find_remote(oms, "99999")
        return shops, outlet, remote, missing

    shops, outlet, remote, missing = _with_client(sandbox, work)
    assert [(s.shop_id, s.name) for s in shops] == [
        ("10000", "Demo Shop US"),
        ("10001", "Demo Shop CA"),
    ]
    assert outlet == [] and missing is None
    assert remote.system_message_remote_id == "SHOP_CONFIG_10001"
    assert remote.scope == "SHOP_RW_ACCESS"
    # Shop 10000 carries its SsctShopifyDefaultApp link; shop 10001 none (an older instance).
    assert shops[0].default_app_links == ["DEMO_SHOP_REMOTE"] and shops[1].shop_remotes is None
    assert shops[0].domain == "demo-shop.myshopify.com"


def test_connections_by_link_by_metadata_and_ambiguous(sandbox: SandboxServer) -> None:
    add_remote(
        sandbox.state,
        {"systemMessageRemoteId": "10001", "accessScopeEnumId": "SHOP_READ_ACCESS"},
    )

    async def work(oms: OmsClient) -> Any:
        linked = await shop_connection(oms, "10000")
        legacy = await shop_connection(oms, "10001")
        with pytest.raises(AmbiguousRemote) as raised:
            await find_remote(oms, "10001")
        return linked, legacy, raised.value

    linked, legacy, ambiguous = _with_client(sandbox, work)
    assert (linked.basis, linked.remote_ids) == ("link", ["DEMO_SHOP_REMOTE"])
    assert legacy.basis == "legacy" and legacy.remote is None
    assert legacy.remote_ids == ["10001", "SHOP_CONFIG_10001"]
    assert ambiguous.message == (
        "2 Shopify connections match it: 10001 (remote id = shop id); SHOP_CONFIG_10001 "
        "(internalId = shop id, remoteId = Shopify shop id 60123456790)"
    )


def test_the_remotes_list_filters_by_field_and_answers_whole_rows(http: httpx.Client) -> None:
    rows = http.get("/rest/s1/oms/systemMessageRemotes", params={"remoteId": "60123456790"})
    (row,) = rows.json()
    assert row["systemMessageRemoteId"] == "SHOP_CONFIG_10001" and row["password"]
    assert http.get("/rest/s1/oms/systemMessageRemotes", params={"internalId": "9"}).json() == []
    every = http.get("/rest/s1/oms/systemMessageRemotes", params={"nope": "x"}).json()
    assert len(every) == 2  # an unknown filter is ignored, as Moqui ignores it
    stores = http.get("/rest/s1/admin/productStores").json()
    assert [s["productStoreId"] for s in stores] == ["OUTLET", "STORE"]


def test_the_shopify_proxy_refuses_a_remote_without_access(sandbox: SandboxServer) -> None:
    async def work(oms: OmsClient) -> Any:
        open_ = await check_shopify_access(oms, "DEMO_SHOP_REMOTE")
        await set_access_scope(oms, "DEMO_SHOP_REMOTE", "SHOP_NO_ACCESS")
        blocked = await check_shopify_access(oms, "DEMO_SHOP_REMOTE")
        stale_proxy_scope(sandbox.state, "SHOP_CONFIG_10001", "SHOP_RW_ACCESS")
        await set_access_scope(oms, "SHOP_CONFIG_10001", "SHOP_NO_ACCESS")
        cached = await check_shopify_access(oms, "SHOP_CONFIG_10001")
        unknown = await check_shopify_access(oms, "NOPE")
        stores = await list_product_stores(oms)
        return open_, blocked, cached, unknown, stores

    open_, blocked, cached, unknown, stores = _with_client(sandbox, work)
    assert open_.blocked is False and cached.blocked is False
    assert blocked.blocked is True
    assert blocked.answer == (
        "No Access is enabled for Shopify with systemMessageRemoteId, DEMO_SHOP_REMOTE."
    )
    assert unknown.blocked is None and "SystemMessageRemote not found with ID NOPE" in (
        unknown.answer
    )
    assert stores == [("OUTLET", "Outlet Store"), ("STORE", "Demo Store")]


def test_a_scope_write_answers_nothing_useful_and_is_read_back(sandbox: SandboxServer) -> None:
    async def work(oms: OmsClient) -> Any:
        await set_access_scope(oms, "DEMO_SHOP_REMOTE", "SHOP_NO_ACCESS")
        return await find_remote(oms, "10000")

    remote = _with_client(sandbox, work)
    assert remote.scope == "SHOP_NO_ACCESS"
    (put,) = sandbox.state.requests("/rest/s1/oms/systemMessageRemotes/DEMO_SHOP_REMOTE", "PUT")
    assert put.body == {
        "systemMessageRemoteId": "DEMO_SHOP_REMOTE",
        "accessScopeEnumId": "SHOP_NO_ACCESS",
    }


def test_a_bad_scope_and_a_failing_remote_are_maarg_errors(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    bad = http.put(
        "/rest/s1/oms/systemMessageRemotes/DEMO_SHOP_REMOTE",
        json={"systemMessageRemoteId": "DEMO_SHOP_REMOTE", "accessScopeEnumId": "SHOP_NONE"},
    )
    assert bad.status_code == 400 and "SHOP_NONE" in bad.json()["errors"]
    fail_remote_write(sandbox.state, "SHOP_CONFIG_10001", "Shopify config is locked")

    async def work(oms: OmsClient) -> Any:
        await set_access_scope(oms, "SHOP_CONFIG_10001", "SHOP_NO_ACCESS")

    with pytest.raises(OmsRequestError) as raised:
        _with_client(sandbox, work)
    assert raised.value.message == "Shopify config is locked"
    assert "set the access scope of SHOP_CONFIG_10001" in raised.value.operation
    with sandbox.state.lock:
        assert sandbox.state.stores.remotes["SHOP_CONFIG_10001"]["accessScopeEnumId"] == (
            "SHOP_RW_ACCESS"
        )


def test_a_product_store_is_written_whole_or_not_at_all(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    partial = http.put(STORE, json={"productStoreId": "STORE", "enableBrokering": "N"})
    assert partial.status_code == 400
    assert "record is incomplete: missing storeName" in partial.json()["errors"]
    assert http.get(STORE).json()["enableBrokering"] == "Y"

    async def work(oms: OmsClient) -> Any:
        record = await get_product_store(oms, "STORE")
        stored = await set_store_flag(oms, record, "enableBrokering", "N")
        return record, stored, await get_product_store(oms, "STORE")

    before, stored, after = _with_client(sandbox, work)
    seeded = seed_stores().product_stores["STORE"]
    assert before == seeded
    assert stored == after == {**seeded, "enableBrokering": "N"}
    assert http.get("/rest/s1/admin/productStores/NOPE").status_code == 404


def test_the_routes_need_a_token(sandbox: SandboxServer) -> None:
    answer = httpx.get(f"{sandbox.url}/rest/s1/oms/shopifyShops/shops", timeout=5.0)
    assert answer.status_code == 401 and "errors" in answer.json()


def test_a_product_store_flag_may_be_null(sandbox: SandboxServer, http: httpx.Client) -> None:
    """Moqui stores a field sent null as null: an unset flag is written back explicitly."""
    record = http.get(STORE).json()
    cleared = http.put(STORE, json={**record, "enableBrokering": None})
    assert cleared.status_code == 200 and cleared.json()["enableBrokering"] is None
    assert http.get(STORE).json()["enableBrokering"] is None
    unset = http.put(STORE, json={**record, "enableBrokering": "unset"})
    assert unset.status_code == 400 and "must be Y, N or null" in unset.json()["errors"]
    assert http.get(STORE).json()["enableBrokering"] is None
