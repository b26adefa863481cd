"""`oms-bot doctor` as a user runs it: a real process against the sandbox playing each kind of
HotWax tenant. Each test asserts the report's lines and that the OMS received no write."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bot.sandbox import (
    DEMO_API_TOKEN,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    TENANTS,
    SandboxServer,
)
from bot.surface.doctor import PROBES
from bot.surface.doctor_reads import READ_ONLY_POSTS
from bot.surface.doctor_report import NO_WRITE
from tests.processes import clean_env, oms_bot

ROW = re.compile(
    r"^\| (?P<probe>.+?) \| (?P<verdict>[A-Z]+) \| (?P<assumes>.+?) \| (?P<evidence>.*) \|$"
)


def _doctor(
    oms: SandboxServer, tmp_path: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    env = clean_env(
        OMS_BASE_URL=oms.url,
        OMS_USERNAME=DEMO_USERNAME,
        OMS_PASSWORD=DEMO_PASSWORD,
        OMS_MAARG_URL_TEMPLATE=f"{oms.url}/instances/{{name}}",
        OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/d.db",
    )
    env.update(extra)
    report = tmp_path / "report.md"
    result = oms_bot("doctor", "--report", str(report), cwd=tmp_path, env=env, timeout=120)
    return result, report.read_text(encoding="utf-8") if report.exists() else ""


def _rows(report: str) -> dict[str, tuple[str, str]]:
    """Probe -> (verdict, evidence), from the report's assumptions table."""
    section = report.split("## Assumptions", 1)[1]
    found = {}
    for line in section.splitlines():
        hit = ROW.match(line)
        if hit and hit["probe"] != "Probe":
            found[hit["probe"]] = (hit["verdict"], hit["evidence"])
    return found


def _assert_read_only(oms: SandboxServer) -> None:
    requests = oms.state.requests()
    assert requests
    assert [r.path for r in requests if r.method not in ("GET", "POST")] == []
    assert {r.path for r in requests if r.method == "POST"} <= READ_ONLY_POSTS


def _assert_redacted(oms: SandboxServer, report: str) -> None:
    """No value the OMS holds: its address, credentials, shop, customers, ids."""
    port = oms.url.rsplit(":", 1)[1]
    for value in (port, DEMO_PASSWORD, "demo-shop", "@example.com", "6100000000002", "10002"):
        assert value not in report, value
    for issued in oms.state.requests():
        if issued.bearer:
            assert issued.bearer not in report


@pytest.mark.parametrize("tenant", sorted(TENANTS))
def test_doctor_reports_every_assumption_without_writing(tenant: str, tmp_path: Path) -> None:
    with SandboxServer(tenant=tenant) as oms:
        result, report = _doctor(oms, tmp_path)
        _assert_read_only(oms)
        _assert_redacted(oms, report)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == NO_WRITE
    assert NO_WRITE in report
    rows = _rows(report)
    assert list(rows) == [probe.name for probe in PROBES]
    assert {verdict for verdict, _ in rows.values()} <= {"CONFIRMED", "DIFFERENT", "UNKNOWN"}
    # Each printed line is in the report too.
    printed = result.stdout.splitlines()
    for name, (verdict, _) in rows.items():
        assert any(line.startswith(f"{verdict:<9}  {name}: ") for line in printed)
    moqui_only = not TENANTS[tenant].ofbiz
    login = rows["login route"]
    assert login[0] == "CONFIRMED"
    route = "POST /rest/s1/admin/login" if moqui_only else "POST /api/login"
    assert login[1] == f"{route} answered expirationTime (number), token (string)"
    assert rows["user profile"][0] == "CONFIRMED"
    assert "username (string)" in rows["user profile"][1]
    maarg = rows["Maarg instance (checkLoginOptions)"]
    assert maarg[0] == "CONFIRMED"
    if tenant == "bare-name":
        assert "bare instance name" in maarg[1] and "the bot reached Maarg there" in maarg[1]
    elif moqui_only:
        assert "no OFBiz /api/checkLoginOptions" in maarg[1]
    else:
        assert "maargInstanceUrl is a full URL" in maarg[1]
    index = rows["order search index"]
    assert index[0] == "CONFIRMED"
    assert ("Maarg admin/runSolrQuery" if moqui_only else "OFBiz solr-query") in index[1]
    if moqui_only:
        assert rows["findJobs empty answer"] == ("UNKNOWN", "no OFBiz on this tenant")
        assert rows["logInsights documents"][0] == "UNKNOWN"
        assert "- Tenant: moqui tenant; jobs: moqui; failed imports: mdm" in report
    else:
        assert rows["findJobs empty answer"][0] == "CONFIRMED"
        assert rows["logInsights documents"][0] == "CONFIRMED"
        assert rows["logInsights sort and filters"][0] == "CONFIRMED"
    # What no read can settle says so.
    for probe in ("ServiceJob PUT parameters", "order-sync create/update/skip"):
        assert rows[probe][0] == "UNKNOWN" and "write" in rows[probe][1]
    if TENANTS[tenant].moqui_jobs:
        assert rows["ServiceJob detail"][0] == "CONFIRMED"
        assert rows["order-sync job parameters"][0] == "CONFIRMED"
        assert "systemMessageRemoteId" in rows["order-sync job parameters"][1]
    else:
        assert rows["ServiceJob list"] == ("CONFIRMED", "{serviceJobList}: no job on this tenant")
        assert rows["order-sync job parameters"][0] == "UNKNOWN"


def test_doctor_with_an_api_token_settles_maarg_bearer(tmp_path: Path) -> None:
    with SandboxServer(tenant="ofbiz-maarg") as oms:
        result, report = _doctor(
            oms, tmp_path, OMS_USERNAME="", OMS_PASSWORD="", OMS_API_TOKEN=DEMO_API_TOKEN
        )
        _assert_read_only(oms)
        assert not oms.state.requests("/api/login")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(report)
    assert rows["API token on Maarg"] == (
        "CONFIRMED",
        "Maarg accepted the configured API token (admin/user/profile answered)",
    )
    assert rows["login route"] == ("UNKNOWN", "the bot uses OMS_API_TOKEN, so it does not log in")
    assert DEMO_API_TOKEN not in report + result.stdout


def test_doctor_names_the_404_form_of_an_empty_find_jobs(tmp_path: Path) -> None:
    with SandboxServer(tenant="ofbiz-jobs") as oms:
        oms.state.inject_fault("/api/findJobs", "json", 5, status=404, body={"error": "none"})
        result, report = _doctor(oms, tmp_path)
    assert result.returncode == 0
    assert _rows(report)["findJobs empty answer"] == (
        "CONFIRMED",
        "nothing found answers HTTP 404 (order-routing's form)",
    )
    assert "| OFBiz jobs | no jobs | findJobs answered 404: no scheduled job |" in report


def test_doctor_says_what_differs(tmp_path: Path) -> None:
    with SandboxServer(tenant="ofbiz-maarg") as oms:
        # A tenant whose MDM answers a bare list: to the profile's probe and the doctor's.
        oms.state.inject_fault(
            "/rest/s1/admin/dataManager/details", "json", 2, body=[{"logId": "x"}]
        )
        result, report = _doctor(oms, tmp_path)
    assert result.returncode == 0  # it ran: differences are findings, not failures
    verdict, evidence = _rows(report)["MDM logs (dataManager/details)"]
    assert verdict == "DIFFERENT"
    assert evidence == "answered array of 1 objects without dataManagerLogs"
    assert "| MDM | absent | admin/dataManager/details has no dataManagerLogs |" in report
    assert "failed imports: logInsights;" in report


def test_doctor_exits_non_zero_when_it_cannot_log_in(tmp_path: Path) -> None:
    with SandboxServer(tenant="moqui-only") as oms:
        result, report = _doctor(oms, tmp_path, OMS_PASSWORD="wrong-password-5")
        _assert_read_only(oms)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == NO_WRITE
    assert "FAILED     login: read the OMS user profile failed: could not log in" in result.stdout
    assert (
        "- Could not run: read the OMS user profile failed: the OMS refused the login or the "
        "session" in report
    )
    assert "wrong-password-5" not in report + result.stdout
