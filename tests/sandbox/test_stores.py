"""The sandbox's shops, SystemMessageRemotes and product stores, through the bot's own OMS
operations (bot/oms/stores.py) and through raw HTTP for the shapes and error conventions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.oms import OmsClient
from bot.oms.errors import OmsRequestError
from bot.oms.stores import (
    find_remote,
    get_product_store,
    list_shops,
    set_access_scope,
    set_store_flag,
)
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.sandbox.stores import fail_remote_write
from bot.sandbox.stores_data import seed_stores

STORE = "/rest/s1/admin/productStores/STORE"


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5.0) as client:
        token = client.post(
            "/api/login", json={"USERNAME": DEMO_USERNAME, "PASSWORD": DEMO_PASSWORD}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


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


def test_a_scope_write_answers_nothing_useful_and_is_read_back(sandbox: SandboxServer) -> None:
    async def work(oms: OmsClient) -> Any:
        await set_access_scope(oms, "SHOP_CONFIG_10000", "SHOP_NO_ACCESS")
        return await find_remote(oms, "10000")

    remote = _with_client(sandbox, work)
    assert remote.scope == "SHOP_NO_ACCESS"
    (put,) = sandbox.state.requests("/rest/s1/oms/systemMessageRemotes/SHOP_CONFIG_10000", "PUT")
    assert put.body == {
        "systemMessageRemoteId": "SHOP_CONFIG_10000",
        "accessScopeEnumId": "SHOP_NO_ACCESS",
    }


def test_a_bad_scope_and_a_failing_remote_are_maarg_errors(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    bad = http.put(
        "/rest/s1/oms/systemMessageRemotes/SHOP_CONFIG_10000",
        json={"systemMessageRemoteId": "SHOP_CONFIG_10000", "accessScopeEnumId": "SHOP_NONE"},
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
