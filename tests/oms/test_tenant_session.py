"""The client's session on each kind of tenant, over real HTTP against the sandbox: the login
route, the profile route, the Maarg instance name, and Solr through Maarg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.oms import OmsAuthError, OmsBadResponse, OmsClient, OmsRequestError, ServiceJobsApi
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.sandbox.tenant import INSTANCE_NAME, JobsEnvelope, variant


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SandboxServer]]:
    started = {name: SandboxServer(tenant=name).start() for name in ("moqui-only", "bare-name")}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def moqui(servers: dict[str, SandboxServer]) -> SandboxServer:
    servers["moqui-only"].state.reset()
    return servers["moqui-only"]


@pytest.fixture
def bare(servers: dict[str, SandboxServer]) -> SandboxServer:
    servers["bare-name"].state.reset()
    return servers["bare-name"]


def client(oms: SandboxServer, **options: object) -> OmsClient:
    settings: dict[str, object] = {
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "timeout": 2.0,
        "retry_backoff": 0.01,
        "maarg_url_template": f"{oms.url}/instances/{{name}}",
    }
    settings.update(options)
    return OmsClient(oms.url, **settings)  # type: ignore[arg-type]


async def test_moqui_only_login_and_profile(moqui: SandboxServer) -> None:
    async with client(moqui) as oms:
        assert await oms.check_login() == DEMO_USERNAME
        assert oms.login_route == "POST /rest/s1/admin/login"
        assert oms.login_answer == {"token": "string", "expirationTime": "number"}
        found = await oms.discovery()
    assert (found.moqui_only, found.route) == (True, "/rest/s1/admin/checkLoginOptions")
    assert moqui.state.requests("/api/login") == []
    assert len(moqui.state.requests("/rest/s1/admin/user/profile")) == 1


async def test_moqui_only_without_a_maarg_instance_uses_the_base(moqui: SandboxServer) -> None:
    moqui.state.inject_fault("/rest/s1/admin/checkLoginOptions", "json", body={})
    async with client(moqui) as oms:
        found = await oms.discovery()
    assert (found.maarg_form, found.maarg_url) == ("base", moqui.url)


async def test_moqui_only_bad_password_is_an_auth_error(moqui: SandboxServer) -> None:
    async with client(moqui, password="wrong-one-123") as oms:
        with pytest.raises(OmsAuthError) as caught:
            await oms.login()
    assert str(caught.value) == "log in failed: Password incorrect for username demo.ops"


async def test_solr_goes_through_maarg_and_a_wrapped_answer_is_unwrapped(
    moqui: SandboxServer,
) -> None:
    query = {"query": "*:*", "filter": "docType: ORDER", "params": {"rows": 1}}
    async with client(moqui) as oms:
        flat = await oms.solr_query(query, core=None, operation="search")
        inner = {"responseHeader": {"status": 0}, "response": {"numFound": 1, "docs": [{"a": 1}]}}
        moqui.state.inject_fault("/rest/s1/admin/runSolrQuery", "json", body={"response": inner})
        wrapped = await oms.solr_query(query, core=None, operation="search")
    assert flat["response"]["numFound"] >= 1
    assert wrapped == inner
    assert moqui.state.requests("/api/solr-query") == []


async def test_an_unknown_solr_core_is_a_maarg_error(moqui: SandboxServer) -> None:
    async with client(moqui) as oms:
        with pytest.raises(OmsRequestError, match="Solr core logInsights not found"):
            await oms.solr_query({"query": "*:*"}, core="logInsights", operation="logs")


async def test_bare_instance_name_expanded(bare: SandboxServer) -> None:
    async with client(bare) as oms:
        assert await oms.maarg_base() == f"{bare.url}/instances/{INSTANCE_NAME}"
        assert await oms.check_login() == DEMO_USERNAME
        assert (await oms.discovery()).maarg_form == "bare-name"
    assert bare.state.requests(f"/instances/{INSTANCE_NAME}/rest/s1/admin/user/profile")


@pytest.mark.parametrize("value", ["evil.example/x#", "a b", "-x", "ftp://host", "httpx://h"])
async def test_a_value_that_is_no_instance_is_refused(bare: SandboxServer, value: str) -> None:
    bare.state.inject_fault("/api/checkLoginOptions", "json", body={"maargInstanceUrl": value})
    async with client(bare) as oms:
        with pytest.raises(OmsRequestError, match="neither an http"):
            await oms.maarg_base()
    # Nothing was sent anywhere the value could have pointed.
    assert [r.path for r in bare.state.requests()] == ["/api/checkLoginOptions"]


async def test_ofbiz_profile_fallback_when_maarg_has_no_profile(bare: SandboxServer) -> None:
    # Faults match the Maarg path the instance prefix leads to.
    bare.state.inject_fault(
        "/rest/s1/admin/user/profile",
        "json",
        status=404,
        body={"errors": "not found"},
    )
    async with client(bare) as oms:
        assert await oms.check_login() == DEMO_USERNAME
    assert len(bare.state.requests("/api/user-profile")) == 1


async def test_a_profile_without_username_is_a_bad_response(moqui: SandboxServer) -> None:
    moqui.state.inject_fault("/rest/s1/admin/user/profile", "json", body={"userId": "X"})
    async with client(moqui) as oms:
        with pytest.raises(OmsBadResponse, match="the user profile has no username"):
            await oms.check_login()


async def test_profile_is_learned_once_and_relearned_after_an_outage(moqui: SandboxServer) -> None:
    async with client(moqui) as oms:
        moqui.state.inject_fault("/rest/s1/admin/serviceJobs", "unavailable", 3)
        first = await oms.profile()
        assert not first.settled and first.job_backends == frozenset()
        second = await oms.profile()
        third = await oms.profile()
    assert second.settled and second.job_backends == frozenset({"moqui"})
    assert third is second
    assert len(moqui.state.requests("/rest/s1/admin/serviceJobs")) == 4  # 3 tries, then once


@pytest.mark.parametrize("envelope", ["serviceJobs", "array"])
async def test_the_moqui_jobs_probe_reads_every_list_shape_the_client_reads(
    moqui: SandboxServer, envelope: JobsEnvelope
) -> None:
    """`admin/serviceJobs` answering `{serviceJobs}` or a bare array (shapes HotWax's Company
    app reads): the profile finds the jobs that ServiceJobsApi.jobs() lists."""
    moqui.state.tenant = variant(moqui.state.tenant, service_jobs_envelope=envelope)
    async with client(moqui) as oms:
        profile = await oms.profile()
        jobs = await ServiceJobsApi(oms).jobs()
    assert jobs
    (probe,) = [p for p in profile.probes if p.source == "Moqui jobs"]
    assert (probe.state, probe.detail) == ("holds jobs", "admin/serviceJobs lists jobs")
    assert profile.job_backends == frozenset({"moqui"})
