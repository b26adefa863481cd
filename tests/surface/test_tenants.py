"""The bot on each kind of HotWax tenant, through the real endpoint: a Moqui-only tenant (no
OFBiz `/api`: it logs in at Maarg and queries Solr through Maarg) and a tenant whose
`checkLoginOptions` names Maarg by a bare instance name. Each test asserts what the user sees
and what the sandbox OMS received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.sandbox.tenant import INSTANCE_NAME
from tests.conftest import BotFactory, RunningBot, gated, text_of, write_policy
from tests.processes import clean_env, oms_bot

INSTANCE = f"/instances/{INSTANCE_NAME}"
# Every read-only command of the bot (none of these writes to the OMS).
READ_ONLY = (
    "order 10002",
    "order #1003",
    "check 10002",
    "check #1006",
    "check 10009",
    "history",
    "mdm",
    "mdm --failed --since 7d",
    "failed --since 7d",
    "jobs",
    "jobs orders",
    "job new-orders",
    "webhooks",
    "rollback status STORE",
    "approvals",
    "digest",
    "help",
)


@pytest.fixture
def moqui_only() -> Iterator[SandboxServer]:
    with SandboxServer(tenant="moqui-only") as server:
        yield server


@pytest.fixture
def bare_name() -> Iterator[SandboxServer]:
    with SandboxServer(tenant="bare-name") as server:
        yield server


def _on(make_bot: BotFactory, tmp_path: Path, oms: SandboxServer, **settings: Any) -> RunningBot:
    return make_bot(
        oms_base_url=oms.url, omsbot_policy=write_policy(tmp_path, two_person=False), **settings
    )


def _answer(bot: RunningBot, text: str) -> str:
    """Run `/oms <text>` to its end; everything the user was shown for it, as text."""
    before = len(bot.fake.messages())
    sent = bot.slash(text)
    assert sent.http.status_code == 200, sent.http.text
    shown = [text_of(gated(sent.http.json()))] if sent.http.text else []
    if shown and shown[0].startswith("Working on"):
        # Answered after the ack: wait for the answer and for the work to end.
        bot.fake.wait_for(lambda: bot.fake.response_posts(sent.response_url), timeout=20)
        bot.fake.wait_for(lambda: bot.services.tasks.pending == 0, timeout=20)
    shown += [text_of(post.body) for post in bot.fake.response_posts(sent.response_url)]
    shown += [text_of({"text": m.text, "blocks": m.blocks}) for m in bot.fake.messages()[before:]]
    return "\n".join(shown)


def _oms_paths(oms: SandboxServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in oms.state.requests()]


# -- Moqui-only ------------------------------------------------------------------------------


def test_moqui_only_logs_in_at_maarg_and_shows_the_order(
    make_bot: BotFactory, tmp_path: Path, moqui_only: SandboxServer
) -> None:
    bot = _on(make_bot, tmp_path, moqui_only)
    shown = _answer(bot, "order 10002")
    assert "Order #1002" in shown and "Created" in shown and "internal error" not in shown
    logins = moqui_only.state.requests("/rest/s1/admin/login", "POST")
    assert [r.body for r in logins] == [{"username": DEMO_USERNAME, "password": DEMO_PASSWORD}]
    # No OFBiz login, and every OFBiz call stops after discovery found no /api.
    assert ("POST", "/api/login") not in _oms_paths(moqui_only)
    assert [p for m, p in _oms_paths(moqui_only) if p.startswith("/api/")] == [
        "/api/checkLoginOptions"
    ]


def test_moqui_only_searches_the_index_through_maarg(
    make_bot: BotFactory, tmp_path: Path, moqui_only: SandboxServer
) -> None:
    bot = _on(make_bot, tmp_path, moqui_only)
    shown = _answer(bot, "check 10009")
    assert "The order search index is stale" in shown
    queries = moqui_only.state.requests("/rest/s1/admin/runSolrQuery", "POST")
    assert queries and "ORDER" in queries[0].body["json"]["filter"]
    assert "coreName" not in queries[0].body  # enterpriseSearch, Solr's default core


def test_moqui_only_finds_import_failures_in_the_mdm_alone(
    make_bot: BotFactory, tmp_path: Path, moqui_only: SandboxServer
) -> None:
    bot = _on(make_bot, tmp_path, moqui_only)
    shown = _answer(bot, "check #1006")
    assert "HotWax failed to import it" in shown and "customer address is missing" in shown
    # No logInsights query: the tenant has no such core (its profile says so).
    assert not [
        r
        for r in moqui_only.state.requests("/rest/s1/admin/runSolrQuery")
        if r.body.get("coreName") == "logInsights"
    ]


def test_moqui_only_every_read_only_command_answers(
    make_bot: BotFactory, tmp_path: Path, moqui_only: SandboxServer
) -> None:
    bot = _on(make_bot, tmp_path, moqui_only)
    for command in READ_ONLY:
        shown = _answer(bot, command)
        assert "internal error" not in shown, (command, shown)
        assert "could not log in" not in shown, (command, shown)
        assert "The OMS call" not in shown, (command, shown)  # no call the tenant refuses
    # Sources the tenant does not have are named as such, not crashed on.
    assert "*OFBiz JobSandbox (legacy)*: no OFBiz on this tenant." in _answer(bot, "jobs")
    assert "Shopify Order MDM" in _answer(bot, "mdm")
    writes = [r for r in moqui_only.state.requests() if r.method in ("PUT", "DELETE", "PATCH")]
    assert writes == []


def test_moqui_only_bad_password_shows_moqui_words(
    make_bot: BotFactory, tmp_path: Path, moqui_only: SandboxServer
) -> None:
    bot = _on(make_bot, tmp_path, moqui_only, oms_password="not-the-password-77")
    shown = _answer(bot, "order 10002")
    assert "could not log in: Password incorrect for username demo.ops" in shown
    assert "not-the-password-77" not in shown


# -- a bare Maarg instance name --------------------------------------------------------------


def test_bare_instance_name_is_expanded_with_the_template(
    make_bot: BotFactory, tmp_path: Path, bare_name: SandboxServer
) -> None:
    template = f"{bare_name.url}/instances/{{name}}"
    bot = _on(make_bot, tmp_path, bare_name, oms_maarg_url_template=template)
    for command in READ_ONLY:
        shown = _answer(bot, command)
        assert "internal error" not in shown, (command, shown)
        assert "The OMS call" not in shown, (command, shown)  # an OFBiz + Maarg tenant: all work
    assert "Order #1002" in _answer(bot, "order 10002")
    maarg = [p for _, p in _oms_paths(bare_name) if "/rest/s1/" in p]
    # Every Maarg call but Moqui's own checkLoginOptions went to the expanded instance URL.
    assert maarg and all(p.startswith(f"{INSTANCE}/rest/s1/") for p in maarg)


def test_a_wrong_template_is_an_oms_error_not_a_crash(
    make_bot: BotFactory, tmp_path: Path, bare_name: SandboxServer
) -> None:
    template = f"{bare_name.url}/elsewhere/{{name}}"
    bot = _on(make_bot, tmp_path, bare_name, oms_maarg_url_template=template)
    shown = _answer(bot, "order 10002")
    assert "The OMS call “find order by order id” failed" in shown
    assert "HTTP 404" in shown and "internal error" not in shown
    wrong = f"/elsewhere/{INSTANCE_NAME}/rest/s1/oms/orders"
    assert ("GET", wrong) in _oms_paths(bare_name)


# -- the tenant profile, as check-config prints it -------------------------------------------

PROFILES = {
    "ofbiz-maarg": "ofbiz+maarg tenant (Maarg {url}); jobs: moqui and ofbiz; "
    "failed imports: logInsights and mdm",
    "moqui-only": "moqui tenant (Maarg {url}); jobs: moqui; failed imports: mdm; not used: "
    "OFBiz jobs (no OFBiz on this tenant), logInsights (no OFBiz on this tenant)",
    "bare-name": "ofbiz+maarg tenant (Maarg {url}/instances/sandbox-maarg); jobs: moqui and "
    "ofbiz; failed imports: logInsights and mdm",
    "ofbiz-jobs": "ofbiz+maarg tenant (Maarg {url}); jobs: ofbiz; failed imports: logInsights "
    "and mdm; not used: Moqui jobs (admin/serviceJobs lists no job)",
}


def _check_config(oms: SandboxServer, tmp_path: Path, **extra: str) -> list[str]:
    env = clean_env(
        OMS_BASE_URL=oms.url,
        OMS_USERNAME=DEMO_USERNAME,
        OMS_PASSWORD=DEMO_PASSWORD,
        OMS_MAARG_URL_TEMPLATE=f"{oms.url}/instances/{{name}}",
        OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db",
        **extra,
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("tenant", sorted(PROFILES))
def test_check_config_prints_the_tenant_profile(tenant: str, tmp_path: Path) -> None:
    with SandboxServer(tenant=tenant) as oms:
        lines = _check_config(oms, tmp_path)
        assert f"ok     tenant: {PROFILES[tenant].format(url=oms.url)}" in lines
        # The probes only read.
        assert not [r for r in oms.state.requests() if r.method in ("PUT", "DELETE", "PATCH")]
    if tenant == "bare-name":
        assert any("discovered as a bare instance name" in line for line in lines)


def test_an_empty_find_jobs_404_means_no_ofbiz_jobs(tmp_path: Path) -> None:
    with SandboxServer(tenant="ofbiz-jobs") as oms:
        # order-routing's form of "nothing found" (src/store/channel.ts:7-9,275).
        oms.state.inject_fault("/api/findJobs", "json", 5, status=404, body={"error": "none"})
        lines = _check_config(oms, tmp_path)
    tenant = next(line for line in lines if line.startswith("ok     tenant:"))
    assert "jobs: none" in tenant
    assert "OFBiz jobs (findJobs answered 404: no scheduled job)" in tenant


def test_a_probe_that_fails_keeps_its_reason(tmp_path: Path) -> None:
    with SandboxServer(tenant="ofbiz-maarg") as oms:
        oms.state.inject_fault(
            "/rest/s1/admin/dataManager/details", "json", 5, status=403, body={"errors": "denied"}
        )
        lines = _check_config(oms, tmp_path)
    tenant = next(line for line in lines if line.startswith("ok     tenant:"))
    assert "failed imports: logInsights;" in tenant and "MDM (denied)" in tenant


def test_the_template_setting_is_checked(tmp_path: Path) -> None:
    for bad in ("https://hotwax.io", "sandbox-{name}", "https://{name}.{region}.hotwax.io"):
        result = oms_bot("check-config", cwd=tmp_path, env=clean_env(OMS_MAARG_URL_TEMPLATE=bad))
        assert result.returncode == 1, result.stdout
        assert "OMS_MAARG_URL_TEMPLATE" in result.stdout and "{name}" in result.stdout
