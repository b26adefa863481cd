"""The Moqui Job Manager (HotWax's current Job Manager) in `/oms jobs` and `/oms job`.

Jobs and categories are the tenant's own data, read the way HotWax's Job Manager reads them:
the jobs that have a product (`admin/serviceJobs`), the categories whose primary parent is
SYSTEM_JOB, and each job's categories from its product's category memberships. Like HotWax's
app, a template (a job whose store parameter is empty) is shown only where no job of the same
product is set up. A job is named by its `jobName`. Pausing is a PUT of `paused: "Y"`,
resuming one of `paused: "N"`, each read back; Moqui has no "skip once" (docs/oms-api.md,
"Jobs and webhooks").
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.engine import (
    ActionSpec,
    AuditEvent,
    ButtonSpec,
    Click,
    EventKind,
    Invocation,
    Provides,
)
from bot.kit.blocks import (
    Block,
    Message,
    actions,
    chunk_lines,
    clip,
    confirm_dialog,
    context,
    divider,
    error_message,
    escape,
    fields,
    header,
    section,
)
from bot.kit.durations import plural, slack_time, slack_time_or
from bot.oms import JobCategory, ServiceJob, ServiceJobRun, ServiceJobsApi
from handlers.jobs.catalog import norm
from handlers.jobs.common import (
    BACKEND_LABELS,
    MOQUI,
    ROLE,
    describe_cron,
    lock_key,
    parameter_text,
    run_line,
    user_zone,
)
from handlers.jobs.run import run_service_job_button, template_text

PAUSE_ACTION = "jobs.pause_service_job"
RESUME_ACTION = "jobs.resume_service_job"
HISTORY_SIZE = 10
MAX_LISTED = 25  # jobs listed in one category card
LABEL = BACKEND_LABELS[MOQUI]


@dataclass(frozen=True)
class MoquiCatalog:
    """The tenant's jobs, its job categories, and each product's categories."""

    jobs: list[ServiceJob]
    categories: list[JobCategory]
    members: dict[str, set[str]]

    def of(self, category_id: str) -> list[ServiceJob]:
        """A category's jobs, as HotWax's Job Manager shows them: the jobs set up for a
        store, and a template only for a product that has none."""
        mine = [
            j
            for j in self.jobs
            if j.instance_of_product_id
            and category_id in self.members.get(j.instance_of_product_id, set())
        ]
        set_up = {j.instance_of_product_id for j in mine if not j.is_template}
        shown = [j for j in mine if not j.is_template or j.instance_of_product_id not in set_up]
        return sorted(shown, key=lambda j: j.job_name.lower())

    def categories_of(self, job: ServiceJob) -> list[JobCategory]:
        ids = self.members.get(job.instance_of_product_id or "", set())
        return [c for c in self.categories if c.category_id in ids]

    def find_categories(self, text: str, also: str | None = None) -> list[JobCategory]:
        wanted = norm(text)
        return [
            c
            for c in self.categories
            if wanted in (norm(c.category_id), norm(c.name)) or c.category_id == also
        ]


async def load_catalog(api: ServiceJobsApi) -> MoquiCatalog:
    jobs = await api.jobs()
    categories = await api.categories()
    members = await api.category_members([c.category_id for c in categories])
    return MoquiCatalog(jobs, categories, members)


def state_text(job: ServiceJob, zone: ZoneInfo) -> str:
    if job.is_template:
        empty = ", ".join(f"`{p.name}`" for p in job.store_parameters)
        return f":white_circle: template, not set up for a store ({empty} empty)"
    if job.is_paused:
        return f":double_vertical_bar: paused ({describe_cron(job.cron_expression)})"
    if not job.cron_expression:
        return ":white_circle: no schedule"
    upcoming = f" · next run {slack_time(job.next_execution)}" if job.next_execution else ""
    return f":large_green_circle: {describe_cron(job.cron_expression)}{upcoming}"


def _last_run(runs: list[ServiceJobRun], zone: ZoneInfo) -> str:
    if not runs:
        return "no runs recorded"
    return run_line(runs[0], zone, error_chars=200)


# ---- /oms jobs -------------------------------------------------------------------------------


def overview_lines(catalog: MoquiCatalog) -> list[str]:
    """One line per category: how many jobs are scheduled, paused and templates."""
    lines = []
    for cat in catalog.categories:
        jobs = catalog.of(cat.category_id)
        scheduled = sum(
            1 for j in jobs if not j.is_template and not j.is_paused and j.cron_expression
        )
        paused = sum(1 for j in jobs if not j.is_template and j.is_paused)
        templates = sum(1 for j in jobs if j.is_template)
        lines.append(
            f"*{escape(cat.name)}* (`{escape(cat.category_id)}`): {scheduled} scheduled, "
            f"{paused} paused, {templates} templates"
        )
    other = [j for j in catalog.jobs if not catalog.categories_of(j)]
    if other:
        lines.append(f"_In no category_: {plural(len(other), 'job')}")
    return lines


async def category_blocks(
    api: ServiceJobsApi, catalog: MoquiCatalog, cats: list[JobCategory], zone: ZoneInfo
) -> tuple[list[Block], int]:
    """The blocks listing the jobs of `cats`, and how many are scheduled."""
    seen: set[str] = set()
    jobs: list[ServiceJob] = []
    for cat in cats:
        for job in catalog.of(cat.category_id):
            if job.job_name not in seen:
                seen.add(job.job_name)
                jobs.append(job)
    names = ", ".join(f"{escape(c.name)} (`{escape(c.category_id)}`)" for c in cats)
    title = f"*{LABEL}*: {names}"
    if not jobs:
        return [section(f"{title}\nNo jobs in this category.")], 0
    entries = []
    for job in jobs[:MAX_LISTED]:
        runs = [] if job.is_template else await api.runs(job.job_name, 1)
        about = f" — {escape(clip(job.description, 150))}" if job.description else ""
        entries.append(
            f"*{escape(job.job_name)}*{about}\n{state_text(job, zone)}\n"
            f"Last run: {_last_run(runs, zone)}"
        )
    blocks = [section(title)] + [section(text) for text in chunk_lines(entries)]
    rest = jobs[MAX_LISTED:]
    if rest:
        # Every job of the category is named, the ones past the cards by name only.
        names = ", ".join(f"`{escape(j.job_name)}`" for j in rest)
        blocks.append(
            context(clip(f"{len(rest)} more (`/oms job <name>` shows one): {names}", 2900))
        )
    scheduled = sum(1 for j in jobs if not j.is_template and not j.is_paused and j.cron_expression)
    return blocks, scheduled


# ---- /oms job --------------------------------------------------------------------------------


async def find_job(api: ServiceJobsApi, text: str) -> ServiceJob | None:
    """A job by its exact name, else the listed job whose name matches without case,
    dashes or underscores."""
    job = await api.job(text)
    if job is not None:
        return job
    wanted = norm(text)
    listed = next((j for j in await api.jobs() if norm(j.job_name) == wanted), None)
    return await api.job(listed.job_name) if listed else None


async def job_card(inv: Invocation, job: ServiceJob) -> Message:
    tools = inv.tools
    api = ServiceJobsApi(tools.oms)
    runs = await api.runs(job.job_name, HISTORY_SIZE)
    categories = await api.categories()
    members = await api.category_members([c.category_id for c in categories])
    catalog = MoquiCatalog([job], categories, members)
    zone = await user_zone(inv.client, inv.user_id)
    is_operator = await tools.authorizer.has_role(inv.user_id, ROLE)

    names = ", ".join(c.name for c in catalog.categories_of(job)) or "none"
    parameters = ", ".join(
        f"`{escape(p.name)}={escape(parameter_text(p.name, p.value))}`"
        for p in job.parameters
        if p.value
    )
    blocks: list[Block] = [
        header(job.job_name),
        section(escape(job.description or "No description in the OMS.")),
        fields(
            [
                ("Backend", LABEL),
                ("Category", escape(names)),
                ("Service", f"`{escape(job.service_name or 'unknown')}`"),
                ("Schedule", state_text(job, zone)),
                ("Product", f"`{escape(job.instance_of_product_id or 'none')}`"),
                ("Parameters", parameters or "none set"),
            ]
        ),
    ]
    for run in [r for r in runs if r.status == "running"]:
        blocks.append(
            section(
                f":hourglass_flowing_sand: Now running: run {run.job_run_id} since "
                f"{slack_time_or(run.start_time)}"
            )
        )
    blocks.append(divider())
    if runs:
        lines = [run_line(run, zone) for run in runs]
        blocks.append(section(f"*Last {plural(len(runs), 'run')}*\n" + "\n".join(lines)))
    else:
        blocks.append(section("*Last runs*\nNo runs recorded."))
    buttons = _buttons(job, is_operator)
    if buttons:
        _, elements = await tools.actions.buttons(
            buttons, created_by=inv.user_id, channel_id=inv.channel_id, ttl=30 * 60
        )
        blocks.append(actions(elements))
    note = (
        f"Times in {zone.key}. Skip once does not exist on the Moqui Job Manager (HotWax has "
        "no skip there): pause the job, or change its schedule in the Job Manager."
    )
    if job.is_template:
        note += f" {template_text(job)}"
    if not is_operator:
        note += " Running, pausing and resuming need the *operator* role."
    blocks.append(context(escape(note) if job.is_template else note))
    return Message(
        text=f"{job.job_name}: {describe_cron(job.cron_expression)}"
        + (" (paused)" if job.is_paused else ""),
        blocks=blocks,
    )


def resume_problem(job: ServiceJob) -> str | None:
    """Why a job cannot be resumed from here, or None. HotWax's Job Manager refuses to save
    a job without a schedule ("Please select a scheduling for job") and clones a template for
    a store before scheduling it (job-manager src/views/JobDetail.vue:965-991)."""
    if job.is_template:
        return template_text(job).replace("run that store's copy", "resume that store's copy")
    if not job.is_paused:
        schedule = describe_cron(job.cron_expression)
        return f"{job.job_name} is not paused ({schedule}); nothing to resume."
    if not job.cron_expression:
        return (
            f"{job.job_name} has no schedule (no cron expression), so resuming it would not "
            "run it: give it a schedule in the Job Manager."
        )
    return None


def resume_button(job: ServiceJob) -> ButtonSpec:
    """Resume schedule: `paused` back to N, with Slack's confirm dialog."""
    return ButtonSpec(
        "Resume schedule",
        RESUME_ACTION,
        {"job": job.job_name, "order_keys": [lock_key(job.job_name)]},
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            f"Resume {job.job_name}?",
            f"The job runs again on its schedule ({describe_cron(job.cron_expression)}) in "
            "the OMS; its parameters are not changed.",
            "Resume schedule",
        ),
    )


async def resume_card(inv: Invocation, job: ServiceJob) -> Message:
    """`/oms job resume` of a Moqui job: what Resume would do, with the button (confirm)."""
    problem = resume_problem(job)
    if problem is not None:
        return Message(text=problem, blocks=[section(escape(problem))])
    _, elements = await inv.tools.actions.buttons(
        [resume_button(job)], created_by=inv.user_id, channel_id=inv.channel_id, ttl=15 * 60
    )
    title = f"Resume {job.job_name}?"
    what = (
        f"{job.job_name} is paused. Resume sets paused = N in the OMS, so it runs again on its "
        f"schedule ({describe_cron(job.cron_expression)}); nothing else is changed."
    )
    return Message(text=title, blocks=[header(title), section(escape(what)), actions(elements)])


def _buttons(job: ServiceJob, is_operator: bool) -> list[ButtonSpec]:
    if job.is_template:
        return []
    specs = [run_service_job_button(job.job_name, "Run now")]
    if is_operator and resume_problem(job) is None:
        specs.append(resume_button(job))
    if is_operator and not job.is_paused:
        specs.append(
            ButtonSpec(
                "Pause",
                PAUSE_ACTION,
                {"job": job.job_name, "order_keys": [lock_key(job.job_name)]},
                style="danger",
                allowed_role=ROLE,
                confirm=confirm_dialog(
                    f"Pause {job.job_name}?",
                    f"The job's schedule ({describe_cron(job.cron_expression)}) stops in the "
                    "OMS until the job is resumed (Resume schedule on `/oms job`).",
                    "Pause",
                ),
            )
        )
    return specs


async def _on_pause(click: Click) -> None:
    name = str(click.params["job"])
    api = ServiceJobsApi(click.tools.oms)
    before = await _job_at_press(click, api, name)
    if before is None:
        return
    if before.is_paused:
        text = f"{name} is already paused; nothing was changed."
        await click.reply.safe_ephemeral(Message(text=text, blocks=[section(escape(text))]))
        return
    _, differences = await _write_paused(click, api, before, "Y")
    if differences:
        await click.reply.safe_ephemeral(
            error_message(
                f"{name} does not read back as paused with nothing else changed",
                "The OMS accepted the pause (only `paused: Y` was sent), but reading the job "
                "back shows: " + "; ".join(differences) + ".",
                f"Open {name} in the Job Manager and set back what changed (each line gives "
                "the value before the pause; secret values are hidden), then check it with "
                f"`/oms job {name}`.",
            )
        )
        return
    text = (
        f"Paused {name}: read back from the OMS with paused = Y; its schedule "
        f"({describe_cron(before.cron_expression)}) and parameters read back unchanged. Resume "
        f"it with `/oms job resume {name}`."
    )
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":double_vertical_bar: {escape(text)}")])
    )


async def _job_at_press(click: Click, api: ServiceJobsApi, name: str) -> ServiceJob | None:
    """The job as the OMS has it when its button is pressed; None after telling the user it
    is gone."""
    job = await api.job(name)
    if job is None:
        await click.reply.safe_ephemeral(
            error_message(f"{name} is gone", "The OMS no longer has this job; nothing changed.")
        )
    return job


# The verb of each value of `paused`, as the audit names the write and its read-back.
_PAUSED_VERBS = {"Y": ("pause", "pausing"), "N": ("resume", "resuming")}


async def _write_paused(
    click: Click, api: ServiceJobsApi, before: ServiceJob, paused: str
) -> tuple[ServiceJob | None, list[str]]:
    """Send `paused` (Y or N) and nothing else, audited, then read the job back: what it reads
    now, and what differs from `before` besides the flag (audited too)."""
    name = before.job_name
    verb, doing = _PAUSED_VERBS[paused]
    await click.tools.audit.write(
        api.pause(name) if paused == "Y" else api.resume(name),
        operation=f"{verb} {name}",
        parameters={"jobName": name, "paused": paused, "cronExpression": before.cron_expression},
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(lock_key(name),),
    )
    after = await api.job(name)
    differences = _pause_differences(before, after, paused=paused)
    await _audit_read_back(click, f"read back {name} after {doing} it", before, after, differences)
    return after, differences


async def _audit_read_back(
    click: Click,
    what: str,
    before: ServiceJob,
    after: ServiceJob | None,
    differences: list[str],
) -> None:
    name = before.job_name
    await click.tools.audit.record(
        AuditEvent(
            kind=EventKind.OMS_READ,
            actor=click.user_id,
            outcome="failed" if differences else "ok",
            summary=what,
            # Names only: a parameter's value may be a credential.
            detail={
                "paused": after.paused if after else None,
                "cron_kept": after is not None and after.cron_expression == before.cron_expression,
                "parameters_changed": _changed_parameters(before, after),
            },
            order_keys=(lock_key(name),),
            channel_id=click.channel_id,
        )
    )


async def _on_resume(click: Click) -> None:
    name = str(click.params["job"])
    api = ServiceJobsApi(click.tools.oms)
    before = await _job_at_press(click, api, name)
    if before is None:
        return
    problem = resume_problem(before)
    if problem is not None:
        # Read again at the press: someone may have resumed it meanwhile.
        await click.reply.safe_ephemeral(Message(text=problem, blocks=[section(escape(problem))]))
        return
    after, differences = await _write_paused(click, api, before, "N")
    if differences or after is None:
        await click.reply.safe_ephemeral(
            error_message(
                f"{name} does not read back as resumed with nothing else changed",
                "The OMS accepted the change (only `paused: N` was sent), but reading the job "
                "back shows: " + "; ".join(differences or ["nothing"]) + ".",
                f"Open {name} in the Job Manager and check its schedule and parameters (each "
                "line gives the value before; secret values are hidden), then check it with "
                f"`/oms job {name}`.",
            )
        )
        return
    upcoming = (
        f" The next run is {slack_time(after.next_execution)}." if after.next_execution else ""
    )
    text = (
        f"Resumed {escape(name)}: read back from the OMS with paused = N; its schedule "
        f"({escape(describe_cron(after.cron_expression))}) and parameters read back "
        f"unchanged.{upcoming}"
    )
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":arrow_forward: {text}")])
    )


def _changed_parameters(before: ServiceJob, after: ServiceJob | None) -> list[str]:
    """The names of the parameters whose value differs (or that came or went)."""
    if after is None:
        return []
    was = {p.name: p.value for p in before.parameters}
    now = {p.name: p.value for p in after.parameters}
    return sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))


def _pause_differences(
    before: ServiceJob, after: ServiceJob | None, paused: str = "Y"
) -> list[str]:
    """What the job read back after a pause (or a resume, `paused` N) says that the write
    did not ask for, in words."""
    if after is None:
        return ["the job is no longer in the OMS"]
    found = []
    if after.paused != paused:
        found.append(
            f"paused = {after.paused or 'not set'}, not {paused}: the job is "
            + ("still scheduled" if paused == "Y" else "still paused")
        )
    if after.cron_expression != before.cron_expression:
        found.append(
            f"its schedule is now {describe_cron(after.cron_expression)} "
            f"(was {describe_cron(before.cron_expression)})"
        )
    was = {p.name: p.value for p in before.parameters}
    now = {p.name: p.value for p in after.parameters}
    for key in _changed_parameters(before, after):
        old = parameter_text(key, was.get(key)) if key in was else "(none)"
        new = parameter_text(key, now.get(key)) if key in now else "(removed)"
        found.append(f"parameter `{key}` is now {new} (was {old})")
    return found


PROVIDES = Provides(
    actions=(
        ActionSpec(PAUSE_ACTION, _on_pause, pressed_note=lambda c: f"Paused by <@{c.user_id}>"),
        ActionSpec(RESUME_ACTION, _on_resume, pressed_note=lambda c: f"Resumed by <@{c.user_id}>"),
    ),
)
