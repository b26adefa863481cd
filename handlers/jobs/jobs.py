"""`/oms jobs [<category>]`, `/oms job <job>` and `/oms job resume <job>`: HotWax's Job
Manager from Slack (HotWax's "Job categories"), on both backends a tenant may have
(`OmsClient.profile().job_backends`): the Moqui Job Manager (current; handlers/jobs/moqui.py)
and the OFBiz JobSandbox (legacy).

`jobs` counts each backend's jobs per category and says which backend they live in; `jobs
<category>` shows each job's description, schedule, next run (in the user's time zone) and
last run, from every backend that has the category (a catalogue key such as `orders`, or a
Moqui category id or name); `job <job>` shows a job's schedule and last 10 runs with a Run now
button (confirm), and for operators Pause, Resume schedule on a paused job, and Skip once
where it exists (OFBiz: Moqui has no skip); `job resume <job>` offers Resume on its own. A
Moqui job is named by its job name, an OFBiz one by its friendly name or any enum id the OMS
has: the catalogue (handlers/jobs/catalog.py) only adds friendly names and descriptions, and
every job the OMS has in a category is listed. A name that matches nothing gets the closest
one ("did you mean"). Running is the run-job runbook (handlers/jobs/run.py); skip, pause and
resume are single audited writes, each read back. Every change needs the operator role,
checked again when a button is pressed.

Other families offer a job button with `run_job_button("new-orders")` from `handlers.jobs`.
"""

from __future__ import annotations

import re
import time
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine import (
    ActionSpec,
    Arg,
    AuditEvent,
    ButtonSpec,
    Click,
    CommandSpec,
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
from bot.kit.durations import plural
from bot.kit.suggest import closest_of
from bot.oms import (
    JOB_PROBES,
    Frequency,
    Job,
    JobCategory,
    JobNotRunnable,
    JobsApi,
    ServiceJobsApi,
)
from bot.oms import jobs as oms_jobs
from handlers.jobs import moqui
from handlers.jobs.catalog import (
    ALL_JOBS,
    CATEGORIES,
    Category,
    JobInfo,
    category,
    category_choices,
    category_of_type,
    find_category,
    find_job,
    job_by_enum,
    job_choices,
    oms_job,
)
from handlers.jobs.common import (
    BACKEND_LABELS,
    MOQUI,
    OFBIZ,
    ROLE,
    STATUS_ICONS,
    fmt_duration,
    fmt_local,
    lock_key,
    slack_ms,
    status_words,
    user_zone,
)
from handlers.jobs.run import job_run_button

SKIP_ACTION = "jobs.skip"
PAUSE_ACTION = "jobs.pause"
RESUME_ACTION = "jobs.resume"
HISTORY_SIZE = 10
# A resumed schedule's first run is at least this far ahead, so it is not already past when
# the OMS stores it.
RESUME_LEAD_MS = 60_000
# What an OFBiz job enum id looks like (JOB_UL_CNCLD_ORD): anything else is not looked up.
_ENUM_ID = re.compile(r"^[A-Z][A-Z0-9_]{1,59}$")


def _frequency(job: Job | None, freqs: dict[str, Frequency]) -> str:
    if job is None or not job.temp_expr_id:
        return "not scheduled"
    freq = freqs.get(job.temp_expr_id)
    return freq.description if freq else job.temp_expr_id


def _last_run_text(run: Job | None, zone: ZoneInfo) -> str:
    if run is None:
        return "no runs recorded"
    icon = STATUS_ICONS.get(run.status_id or "", "•")
    text = f"{icon} {status_words(run.status_id)} {slack_ms(run.run_time)}"
    if run.status_id != "SERVICE_FINISHED" and run.job_result:
        text += f": {escape(clip(run.job_result, 200))}"
    return text


def _category_of(job: Job) -> Category | None:
    info = job_by_enum(job.system_job_enum_id or "")
    if info is not None:
        return category(info.category)
    return category_of_type(job.enum_type_id)


def _info_of(job: Job) -> JobInfo:
    """A JobSandbox row's job: the catalogue's, or as the OMS names it."""
    enum_id = job.system_job_enum_id or job.job_id
    return job_by_enum(enum_id) or oms_job(
        enum_id, job.description or job.job_name, job.description, job.enum_type_id
    )


def _clicked_job(params: dict[str, Any]) -> JobInfo:
    """The job a button was made for (a job not in the catalogue carries its OMS name)."""
    enum_id = str(params["job"])
    name = params.get("name")
    return job_by_enum(enum_id) or oms_job(enum_id, str(name) if name else None, None, None)


def _job_params(info: JobInfo, **more: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"job": info.enum_id, **more}
    if not info.catalogued:
        params["name"] = info.name
    return params


def _shown_name(info: JobInfo) -> str:
    """How a job is named in a list: with its catalogue key, or its enum id alone."""
    if info.catalogued:
        return f"*{escape(info.name)}* `{info.key}` ({info.enum_id})"
    return f"*{escape(info.name)}* `{escape(info.enum_id)}`"


# ---- /oms jobs -------------------------------------------------------------------------------

OFBIZ_LABEL = BACKEND_LABELS[OFBIZ]


def _name_arg(text: str) -> str:
    # Spaces inside are fine: a quoted category name ("Initial load") is one of its names.
    value = " ".join(text.split())
    if not value or len(value) > 100:
        raise ValueError(f"`{text[:40]}` is not a job or category name")
    return value


async def _backends(inv: Invocation) -> frozenset[str]:
    return frozenset((await inv.tools.oms.profile()).answering_job_backends)


async def jobs_command(inv: Invocation) -> None:
    wanted: str | None = inv.command.arg("category")
    if wanted is None:
        await inv.reply.ephemeral(await _overview(inv), replace=True)
    else:
        await inv.reply.ephemeral(await _category_card(inv, wanted), replace=True)


async def _overview(inv: Invocation) -> Message:
    profile = await inv.tools.oms.profile()
    backends = frozenset(profile.answering_job_backends)
    blocks: list[Block] = [header("Job Manager categories")]
    total = 0
    if MOQUI in backends:
        catalog = await moqui.load_catalog(ServiceJobsApi(inv.tools.oms))
        if catalog.jobs:
            lines = moqui.overview_lines(catalog)
            total += sum(
                1
                for j in catalog.jobs
                if not j.is_template and not j.is_paused and j.cron_expression
            )
            for i, chunk in enumerate(chunk_lines(lines)):
                title = f"*{moqui.LABEL}* (Maarg `admin/serviceJobs`)\n" if i == 0 else ""
                blocks.append(section(title + chunk))
        else:
            blocks.append(section(f"*{moqui.LABEL}*: no jobs in this OMS."))
    if OFBIZ in backends:
        api = JobsApi(inv.tools.oms)
        scheduled = await api.scheduled()
        if scheduled or await api.has_jobs():
            counts: dict[str, set[str]] = {c.key: set() for c in CATEGORIES}
            # Scheduled jobs of an enum type the catalogue has no category for: still shown.
            others: dict[str, set[str]] = {}
            for job in scheduled:
                cat = _category_of(job)
                if cat is not None and job.system_job_enum_id:
                    counts[cat.key].add(job.system_job_enum_id)
                elif job.system_job_enum_id:
                    others.setdefault(job.enum_type_id or "", set()).add(job.system_job_enum_id)
            lines = []
            for cat in CATEGORIES:
                n = len(counts[cat.key])
                # A scheduled job the catalogue does not name is one of the category's jobs.
                known = len(set(cat.enum_ids) | counts[cat.key])
                lines.append(
                    f"*{cat.label}* (`{cat.key}`): {n} scheduled of {plural(known, 'job')}\n"
                    f"      _{escape(cat.description)}_"
                )
            for enum_type, enum_ids in sorted(others.items()):
                shown = f"`{escape(enum_type)}`" if enum_type else "no enum type"
                how = f"`/oms jobs {escape(enum_type)}`" if enum_type else "`/oms job <enum id>`"
                lines.append(
                    f"*{shown}*: {len(enum_ids)} scheduled "
                    f"({escape(', '.join(sorted(enum_ids)))}); not a category of oms-bot's "
                    "catalogue, "
                    f"{how} lists them"
                )
            total += sum(len(v) for v in counts.values()) + sum(len(v) for v in others.values())
            for i, chunk in enumerate(chunk_lines(lines)):
                title = f"*{OFBIZ_LABEL}* (OFBiz `findJobs`)\n" if i == 0 else ""
                blocks.append(section(title + chunk))
        else:
            blocks.append(section(f"*{OFBIZ_LABEL}*: no jobs in this OMS."))
    # A backend the tenant lacks is named with the reason, so nobody looks for its jobs.
    for probe in profile.unused():
        backend = JOB_PROBES.get(probe.source)
        if backend is not None and backend not in backends:
            blocks.append(section(f"*{BACKEND_LABELS[backend]}*: {escape(probe.detail)}."))
    named = {MOQUI: "a Moqui job by its job name", OFBIZ: "an OFBiz one by its name or enum id"}
    how = ", ".join(named[b] for b in (MOQUI, OFBIZ) if b in backends)
    blocks.append(
        context(
            "`/oms jobs <category>` lists a category's jobs; `/oms job <job>` shows one"
            + (f" ({how})." if how else ".")
        )
    )
    return Message(text=f"Job categories: {plural(total, 'job')} scheduled", blocks=blocks)


async def _category_card(inv: Invocation, wanted: str) -> Message:
    backends = await _backends(inv)
    cat = find_category(wanted)
    moqui_cats: list[JobCategory] = []
    catalog: moqui.MoquiCatalog | None = None
    if MOQUI in backends:
        catalog = await moqui.load_catalog(ServiceJobsApi(inv.tools.oms))
        moqui_cats = catalog.find_categories(wanted, also=cat.enum_type_id if cat else None)
    ofbiz_cat = cat if cat is not None and OFBIZ in backends else None
    if ofbiz_cat is None and OFBIZ in backends:
        ofbiz_cat = await _oms_category(JobsApi(inv.tools.oms), wanted)
    if ofbiz_cat is None and not moqui_cats:
        choices = category_choices() if OFBIZ in backends else {}
        for moqui_cat in catalog.categories if catalog else []:
            choices.setdefault(moqui_cat.category_id, moqui_cat.category_id)
            choices.setdefault(moqui_cat.name, moqui_cat.category_id)
        valid = list(dict.fromkeys(choices.values()))
        return error_message(
            f"No job category `{clip(wanted, 40)}`",
            f"unknown category `{clip(wanted, 40)}`"
            + _did_you_mean(closest_of(wanted, choices), "/oms jobs")
            + "the categories are: "
            + ", ".join(valid or ["none in this OMS"]),
        )
    zone = await user_zone(inv.client, inv.user_id)
    label = ofbiz_cat.label if ofbiz_cat else moqui_cats[0].name
    blocks: list[Block] = [header(f"{label} jobs")]
    if ofbiz_cat:
        blocks.append(context(escape(ofbiz_cat.description)))
    scheduled = 0
    if catalog is not None and moqui_cats:
        found, count = await moqui.category_blocks(
            ServiceJobsApi(inv.tools.oms), catalog, moqui_cats, zone
        )
        blocks += found
        scheduled += count
    if ofbiz_cat:
        found, count = await _ofbiz_category_blocks(inv, ofbiz_cat, zone)
        blocks += found
        scheduled += count
    blocks.append(context(f"Times in {zone.key}. `/oms job <job>` shows a job's runs and buttons."))
    return Message(text=f"{label}: {scheduled} jobs scheduled", blocks=blocks)


async def _oms_category(api: JobsApi, wanted: str) -> Category | None:
    """An OFBiz job enum type the catalogue has no category for, when the OMS has jobs of
    it (`/oms jobs RETURN_SYS_JOB`): its jobs are listed as the OMS names them."""
    enum_type = wanted.strip().upper()
    if not _ENUM_ID.match(enum_type):
        return None
    rows = await api.jobs_of(
        [], [oms_jobs.DRAFT, oms_jobs.PENDING], enum_type_id=enum_type, operation="list the jobs"
    )
    if not rows:
        return None
    about = f"The OMS's jobs of enum type {enum_type}, which oms-bot's catalogue does not group."
    return Category(enum_type, enum_type, enum_type, about, ())


def _did_you_mean(guess: str | None, command: str) -> str:
    """What goes between "unknown job `x`" and the list of valid names: ". Did you mean
    `/oms job new-orders`? Otherwise " when a name is close, else "; "."""
    return f". Did you mean `{command} {guess}`? Otherwise " if guess else "; "


async def _ofbiz_category_blocks(
    inv: Invocation, cat: Category, zone: ZoneInfo
) -> tuple[list[Block], int]:
    api = JobsApi(inv.tools.oms)
    rows = await api.jobs_of(
        cat.enum_ids,
        [oms_jobs.DRAFT, oms_jobs.PENDING],
        enum_type_id=cat.enum_type_id,
        operation="list the jobs",
    )
    history = await api.jobs_of(
        cat.enum_ids,
        list(oms_jobs.ENDED),
        enum_type_id=cat.enum_type_id,
        order_by="runTime DESC",
        operation="read the last runs",
    )
    freqs = await api.frequencies()
    blocks: list[Block] = [section(f"*{OFBIZ_LABEL}*")]
    scheduled = 0
    # Every job the OMS has in the category, the catalogue's first: the catalogue only adds
    # friendly names and descriptions.
    jobs = list(cat.jobs)
    for row in rows + history:
        if row.system_job_enum_id and row.system_job_enum_id not in {j.enum_id for j in jobs}:
            jobs.append(_info_of(row))
    for info in jobs:
        mine = [r for r in rows if r.system_job_enum_id == info.enum_id]
        draft = next((r for r in mine if r.status_id == oms_jobs.DRAFT), None)
        schedule = next(
            (r for r in mine if r.status_id == oms_jobs.PENDING and r.temp_expr_id), None
        )
        last = next((h for h in history if h.system_job_enum_id == info.enum_id), None)
        if schedule is not None:
            scheduled += 1
            state = (
                f":large_green_circle: {escape(_frequency(schedule, freqs))} · next run "
                f"{slack_ms(schedule.run_time)}"
            )
        elif draft is not None:
            state = ":white_circle: not scheduled"
        else:
            state = ":grey_question: not set up in this OMS"
        about = escape(info.description) if info.description else "_No description in the OMS._"
        blocks.append(
            section(
                f"{_shown_name(info)}\n{about}\n{state}\nLast run: {_last_run_text(last, zone)}"
            )
        )
    return blocks, scheduled


# ---- /oms job --------------------------------------------------------------------------------


async def _find_ofbiz_job(api: JobsApi, wanted: str) -> JobInfo | None:
    """An OFBiz job by its catalogue name or enum id, or any job enum the OMS has in
    JobSandbox (the catalogue only adds friendly names and descriptions)."""
    info = find_job(wanted)
    if info is not None:
        return info
    enum_id = wanted.strip().upper()
    if not _ENUM_ID.match(enum_id):
        return None
    row = await api.any_row(enum_id)
    return _info_of(row) if row is not None else None


async def job_command(inv: Invocation) -> None:
    wanted: str = inv.command.arg("job")
    backends = await _backends(inv)
    info = find_job(wanted)
    if info is not None and OFBIZ in backends:
        await inv.reply.ephemeral(await _job_card(inv, info), replace=True)
        return
    if MOQUI in backends:
        job = await moqui.find_job(ServiceJobsApi(inv.tools.oms), wanted)
        if job is not None:
            await inv.reply.ephemeral(await moqui.job_card(inv, job), replace=True)
            return
    if OFBIZ in backends:
        found = await _find_ofbiz_job(JobsApi(inv.tools.oms), wanted)
        if found is not None:
            await inv.reply.ephemeral(await _job_card(inv, found), replace=True)
            return
    await inv.reply.ephemeral(await _no_such_job(inv, wanted, info, backends), replace=True)


async def _no_such_job(
    inv: Invocation, wanted: str, info: JobInfo | None, backends: frozenset[str]
) -> Message:
    """Why no job is called `wanted`, with the closest name (catalogue names and enum ids,
    the tenant's Moqui job names) and the valid ones."""
    if info is not None:
        return error_message(
            f"{info.name} is an OFBiz job",
            f"{info.name} ({info.enum_id}) is a legacy OFBiz JobSandbox job, and this OMS has "
            "no OFBiz Job Manager.",
            "`/oms jobs` lists the jobs it has.",
        )
    choices = job_choices() if OFBIZ in backends else {}
    if MOQUI in backends:
        choices.update({j.job_name: j.job_name for j in await ServiceJobsApi(inv.tools.oms).jobs()})
    known = ""
    if OFBIZ in backends:
        known = (
            "the jobs are: " + ", ".join(j.key for j in ALL_JOBS) + " (or an enum id of the "
            "OMS, such as JOB_IMP_ORD)"
        )
    if MOQUI in backends:
        known += (", or " if known else "") + (
            "a Moqui job's name (`/oms jobs <category>` lists them)"
        )
    return error_message(
        f"No job `{clip(wanted, 40)}`",
        f"unknown job `{clip(wanted, 40)}`"
        + _did_you_mean(closest_of(wanted, choices), "/oms job")
        + f"{known}.",
    )


async def _job_card(inv: Invocation, info: JobInfo) -> Message:
    tools = inv.tools
    api = JobsApi(tools.oms)
    draft, schedule = await api.templates(info.enum_id)
    active = await api.active(info.enum_id)
    history = await api.history(info.enum_id, HISTORY_SIZE)
    freqs = await api.frequencies()
    # A job with no schedule may be paused: its cancelled schedule is what Resume restores.
    paused = await api.last_schedule(info.enum_id) if schedule is None else None
    oms_desc = (await api.enum_descriptions([info.enum_id])).get(info.enum_id)
    zone = await user_zone(inv.client, inv.user_id)
    is_operator = await tools.authorizer.has_role(inv.user_id, ROLE)

    desc = escape(info.description)
    if oms_desc and oms_desc.lower() != info.description.lower():
        desc += ("\n" if desc else "") + f"_In the OMS: {escape(oms_desc)}_"
    if not info.catalogued:
        desc += ("\n" if desc else "") + (
            "_Not in oms-bot's job catalogue: named and described as the OMS has it._"
        )
    frequency = _frequency(schedule, freqs)
    if paused is not None:
        frequency = f"paused (was {_frequency(paused, freqs).lower()})"
    blocks: list[Block] = [
        header(f"{info.name} ({info.enum_id})"),
        section(desc or "No description in the OMS."),
        fields(
            [
                ("Backend", OFBIZ_LABEL),
                ("Category", _category_label(info)),
                ("Service", f"`{draft.service_name}`" if draft else "no template in this OMS"),
                ("Frequency", frequency),
                (
                    "Next run",
                    slack_ms(schedule.run_time) if schedule else "not scheduled",
                ),
            ]
        ),
    ]
    for run in active:
        blocks.append(
            section(
                f"{STATUS_ICONS.get(run.status_id or '', '•')} Now {status_words(run.status_id)}:"
                f" job {run.job_id} since {slack_ms(run.start_date_time or run.run_time)}"
            )
        )
    blocks.append(divider())
    if history:
        lines = []
        for run in history:
            words = status_words(run.status_id)
            if run.status_id == oms_jobs.CANCELLED and run.temp_expr_id and not run.start_date_time:
                # A scheduled run cancelled before it started: a Pause, not a run that stopped.
                words = "schedule cancelled (paused)"
            line = (
                f"{STATUS_ICONS.get(run.status_id or '', '•')} {words} · "
                f"{slack_ms(run.run_time)} · {fmt_duration(run.duration_seconds)} · "
                f"job {run.job_id}"
            )
            if run.status_id != "SERVICE_FINISHED" and run.job_result:
                line += f"\n      {escape(clip(run.job_result, 300))}"
            lines.append(line)
        blocks.append(section(f"*Last {plural(len(history), 'run')}*\n" + "\n".join(lines)))
    else:
        blocks.append(section("*Last runs*\nNo runs recorded."))
    buttons = _buttons(info, draft, schedule, freqs, is_operator, zone)
    if is_operator and draft is not None and paused is not None:
        plan = _resume_plan(paused, freqs)
        if isinstance(plan, int):
            buttons.insert(1, _resume_button(info, paused, plan, freqs, zone))
    if buttons:
        _, elements = await tools.actions.buttons(
            buttons, created_by=inv.user_id, channel_id=inv.channel_id, ttl=30 * 60
        )
        blocks.append(actions(elements))
    note = f"Times in {zone.key}."
    if not is_operator:
        note += " Running, skipping, pausing and resuming need the *operator* role."
    blocks.append(context(note))
    return Message(text=f"{info.name} ({info.enum_id}): {frequency}", blocks=blocks)


def _category_label(info: JobInfo) -> str:
    return category(info.category).label if info.category else "none of the catalogue's"


def _buttons(
    info: JobInfo,
    draft: Job | None,
    schedule: Job | None,
    freqs: dict[str, Frequency],
    is_operator: bool,
    zone: ZoneInfo,
) -> list[ButtonSpec]:
    specs: list[ButtonSpec] = []
    if draft is not None:
        specs.append(job_run_button(info, "Run now"))
    if schedule is None or not is_operator:
        return specs
    keys = [lock_key(info.enum_id)]
    freq = freqs.get(schedule.temp_expr_id or "")
    if freq is not None and freq.interval_ms and schedule.run_time is not None:
        new_time = fmt_local(schedule.run_time + freq.interval_ms, zone)
        specs.append(
            ButtonSpec(
                "Skip once",
                SKIP_ACTION,
                _job_params(
                    info,
                    schedule=schedule.job_id,
                    run_time=schedule.run_time,
                    order_keys=keys,
                ),
                allowed_role=ROLE,
                confirm=confirm_dialog(
                    f"Skip the next {info.name} run?",
                    f"The run due {fmt_local(schedule.run_time, zone)} is skipped; the next "
                    f"one is {new_time}.",
                    "Skip once",
                ),
            )
        )
    specs.append(
        ButtonSpec(
            "Pause",
            PAUSE_ACTION,
            _job_params(info, schedule=schedule.job_id, order_keys=keys),
            style="danger",
            allowed_role=ROLE,
            confirm=confirm_dialog(
                f"Pause {info.name}?",
                f"The {_frequency(schedule, freqs).lower()} schedule is cancelled in the OMS; "
                "the job stops running until it is resumed (Resume schedule on `/oms job`).",
                "Pause",
            ),
        )
    )
    return specs


async def _current_schedule(click: Click, info: JobInfo) -> Job | None:
    """The schedule the button was made for, if it is still the job's schedule; else tell."""
    _, schedule = await JobsApi(click.tools.oms).templates(info.enum_id)
    if schedule is None or schedule.job_id != click.params["schedule"]:
        await click.reply.safe_ephemeral(
            error_message(
                f"{info.name} changed since you looked",
                "Its schedule is no longer the one shown, so nothing was changed.",
                f"Run `/oms job {info.key}` again.",
            )
        )
        return None
    return schedule


async def _on_skip(click: Click) -> None:
    info = _clicked_job(click.params)
    schedule = await _current_schedule(click, info)
    if schedule is None:
        return
    api = JobsApi(click.tools.oms)
    zone = await user_zone(click.client, click.user_id)
    if schedule.run_time != click.params["run_time"]:
        await click.reply.safe_ephemeral(
            error_message(
                f"The next {info.name} run moved",
                f"It is now due {fmt_local(schedule.run_time, zone)}, not the time shown; "
                "nothing was skipped.",
                f"Run `/oms job {info.key}` again.",
            )
        )
        return
    freq = (await api.frequencies()).get(schedule.temp_expr_id or "")
    if freq is None or not freq.interval_ms or schedule.run_time is None:
        await click.reply.safe_ephemeral(
            error_message(
                f"Cannot skip {info.name}",
                f"Its frequency {schedule.temp_expr_id} is not a fixed interval.",
            )
        )
        return
    new_time = schedule.run_time + freq.interval_ms
    await click.tools.audit.write(
        api.skip_once(schedule, freq.interval_ms, user=click.user_id),
        operation=f"skip the next run of {info.enum_id}",
        parameters={"jobId": schedule.job_id, "from": schedule.run_time, "runTime": new_time},
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(lock_key(info.enum_id),),
    )
    # What the OMS says now, not what was asked: the job is read back.
    after = await api.job(schedule.job_id)
    ok = after is not None and after.status_id == oms_jobs.PENDING and after.run_time == new_time
    await _audit_read_back(
        click, info, f"read back {info.enum_id} after skipping its next run", ok, after
    )
    if not ok or after is None:
        await click.reply.safe_ephemeral(
            error_message(
                f"The next {info.name} run is not skipped as asked",
                "The OMS accepted the change, but reading the job back shows "
                f"{_now_says(after, schedule.job_id, zone)}, not its next run at "
                f"{fmt_local(new_time, zone)}.",
                f"Check it with `/oms job {info.key}` or in the Job Manager; if the run due "
                f"{fmt_local(schedule.run_time, zone)} is still planned, skip it there.",
            )
        )
        return
    text = (
        f"Skipped the {info.name} run due {slack_ms(schedule.run_time)}. Read back from "
        f"the OMS: the next run is {slack_ms(after.run_time)} (job {after.job_id}, "
        f"{status_words(after.status_id)})."
    )
    await click.reply.safe_ephemeral(Message(text=text, blocks=[section(f":fast_forward: {text}")]))


def _now_says(job: Job | None, job_id: str, zone: ZoneInfo) -> str:
    """What a job read back from the OMS says, in words."""
    if job is None:
        return f"no job {job_id} any more"
    when = fmt_local(job.run_time, zone) if job.run_time is not None else "no run time"
    return f"job {job.job_id} {status_words(job.status_id)}, next run {when}"


async def _audit_read_back(
    click: Click, info: JobInfo, what: str, ok: bool, job: Job | None
) -> None:
    await click.tools.audit.record(
        AuditEvent(
            kind=EventKind.OMS_READ,
            actor=click.user_id,
            outcome="ok" if ok else "failed",
            summary=what,
            detail={
                "jobId": job.job_id if job else None,
                "statusId": job.status_id if job else None,
                "runTime": job.run_time if job else None,
            },
            order_keys=(lock_key(info.enum_id),),
            channel_id=click.channel_id,
        )
    )


async def _on_pause(click: Click) -> None:
    info = _clicked_job(click.params)
    schedule = await _current_schedule(click, info)
    if schedule is None:
        return
    api = JobsApi(click.tools.oms)
    await click.tools.audit.write(
        api.pause(schedule.job_id),
        operation=f"pause {info.enum_id}",
        parameters={"jobId": schedule.job_id, "tempExprId": schedule.temp_expr_id},
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(lock_key(info.enum_id),),
    )
    after = await api.job(schedule.job_id)
    ok = after is not None and after.status_id == oms_jobs.CANCELLED
    await _audit_read_back(click, info, f"read back {info.enum_id} after pausing it", ok, after)
    zone = await user_zone(click.client, click.user_id)
    if not ok:
        await click.reply.safe_ephemeral(
            error_message(
                f"{info.name} is not paused",
                "The OMS accepted the cancellation, but reading the schedule back shows "
                f"{_now_says(after, schedule.job_id, zone)}: it is still scheduled.",
                f"Check it with `/oms job {info.key}`, and cancel the schedule in the Job "
                "Manager if it still runs.",
            )
        )
        return
    text = (
        f"Paused {info.name}: read back from the OMS, its schedule (job {schedule.job_id}, "
        f"{schedule.temp_expr_id}) is cancelled. `/oms job resume {info.key}` schedules it "
        "again."
    )
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":double_vertical_bar: {text}")])
    )


# ---- resume a paused schedule ----------------------------------------------------------------


def _resume_plan(previous: Job, freqs: dict[str, Frequency]) -> int | str:
    """When the resumed schedule first runs (epoch ms): the next time on the cancelled
    schedule's cadence at least a minute ahead; or why the bot cannot tell."""
    freq = freqs.get(previous.temp_expr_id or "")
    if freq is None or not freq.interval_ms or previous.run_time is None:
        return (
            f"its frequency {previous.temp_expr_id or '(none)'} is not a fixed interval, so "
            "oms-bot cannot tell when its next run should be; schedule it in the Job Manager"
        )
    earliest = int(time.time() * 1000) + RESUME_LEAD_MS
    first = previous.run_time
    if first < earliest:
        first += -(-(earliest - first) // freq.interval_ms) * freq.interval_ms
    return first


def _resume_button(
    info: JobInfo, previous: Job, first: int, freqs: dict[str, Frequency], zone: ZoneInfo
) -> ButtonSpec:
    return ButtonSpec(
        "Resume schedule",
        RESUME_ACTION,
        _job_params(info, previous=previous.job_id, order_keys=[lock_key(info.enum_id)]),
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            f"Resume {info.name}?",
            f"The job is scheduled again {_frequency(previous, freqs).lower()}, as before the "
            f"pause; its first run is about {fmt_local(first, zone)}.",
            "Resume schedule",
        ),
    )


async def _resume_card(inv: Invocation, info: JobInfo) -> Message:
    """`/oms job resume` of an OFBiz job: what Resume would do, with the button (confirm)."""
    api = JobsApi(inv.tools.oms)
    draft, schedule = await api.templates(info.enum_id)
    freqs = await api.frequencies()
    zone = await user_zone(inv.client, inv.user_id)
    if schedule is not None:
        text = (
            f"{escape(info.name)} is not paused: it runs "
            f"{escape(_frequency(schedule, freqs).lower())}, next "
            f"{slack_ms(schedule.run_time)}. Nothing to resume."
        )
        return Message(text=text, blocks=[section(text)])
    previous = await api.last_schedule(info.enum_id)
    if previous is None or draft is None:
        why = "no job template" if draft is None else "no paused schedule"
        return error_message(
            f"{info.name} cannot be resumed from here",
            f"{info.name} ({info.enum_id}) has {why} in this OMS, so there is no schedule to "
            "restore.",
            "Schedule it in the Job Manager.",
        )
    plan = _resume_plan(previous, freqs)
    if isinstance(plan, str):
        return error_message(f"{info.name} cannot be resumed from here", f"{info.name}: {plan}.")
    _, elements = await inv.tools.actions.buttons(
        [_resume_button(info, previous, plan, freqs, zone)],
        created_by=inv.user_id,
        channel_id=inv.channel_id,
        ttl=15 * 60,
    )
    title = f"Resume {info.name}?"
    what = (
        f"{escape(info.name)} ({escape(info.enum_id)}) is paused: its "
        f"{escape(_frequency(previous, freqs).lower())} schedule (job "
        f"{escape(previous.job_id)}) was cancelled. Resume schedules it again with the same "
        f"frequency; the first run is about {slack_ms(plan)}."
    )
    return Message(text=title, blocks=[header(title), section(what), actions(elements)])


async def resume_command(inv: Invocation) -> None:
    wanted: str = inv.command.arg("job")
    backends = await _backends(inv)
    info = find_job(wanted)
    if MOQUI in backends and not (info is not None and OFBIZ in backends):
        job = await moqui.find_job(ServiceJobsApi(inv.tools.oms), wanted)
        if job is not None:
            await inv.reply.ephemeral(await moqui.resume_card(inv, job), replace=True)
            return
    if OFBIZ in backends:
        found = await _find_ofbiz_job(JobsApi(inv.tools.oms), wanted)
        if found is not None:
            await inv.reply.ephemeral(await _resume_card(inv, found), replace=True)
            return
    await inv.reply.ephemeral(await _no_such_job(inv, wanted, info, backends), replace=True)


async def _on_resume(click: Click) -> None:
    info = _clicked_job(click.params)
    api = JobsApi(click.tools.oms)
    draft, schedule = await api.templates(info.enum_id)
    freqs = await api.frequencies()
    zone = await user_zone(click.client, click.user_id)
    if schedule is not None:
        text = (
            f"{escape(info.name)} is scheduled already "
            f"({escape(_frequency(schedule, freqs).lower())}, next run "
            f"{slack_ms(schedule.run_time)}); nothing was changed."
        )
        await click.reply.safe_ephemeral(Message(text=text, blocks=[section(text)]))
        return
    previous = await api.last_schedule(info.enum_id)
    if draft is None or previous is None or previous.job_id != click.params["previous"]:
        await click.reply.safe_ephemeral(
            error_message(
                f"{info.name} changed since you looked",
                "Its paused schedule is no longer the one shown, so nothing was changed.",
                f"Run `/oms job {info.key}` again.",
            )
        )
        return
    plan = _resume_plan(previous, freqs)
    try:
        if isinstance(plan, str):
            raise JobNotRunnable(plan)
        write = api.resume(draft, previous, plan, user=click.user_id)
    except JobNotRunnable as exc:
        await click.reply.safe_ephemeral(
            error_message(f"{info.name} was not resumed", f"{exc}.", "Nothing was changed.")
        )
        return
    await click.tools.audit.write(
        write,
        operation=f"resume {info.enum_id}",
        parameters={
            "template": draft.job_id,
            "tempExprId": previous.temp_expr_id,
            "runTime": plan,
            "paused": previous.job_id,
        },
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(lock_key(info.enum_id),),
    )
    # What the OMS says now: a pending schedule with the old frequency and the asked time.
    _, after = await api.templates(info.enum_id)
    ok = (
        after is not None and after.temp_expr_id == previous.temp_expr_id and after.run_time == plan
    )
    await _audit_read_back(click, info, f"read back {info.enum_id} after resuming it", ok, after)
    if not ok or after is None:
        now_says = (
            _now_says(after, after.job_id, zone) if after is not None else "no schedule at all"
        )
        await click.reply.safe_ephemeral(
            error_message(
                f"{info.name} is not scheduled as asked",
                "The OMS accepted the schedule, but reading the job back shows "
                f"{now_says}, not {_frequency(previous, freqs).lower()} from "
                f"{fmt_local(plan, zone)}.",
                f"Check it with `/oms job {info.key}` and set its schedule in the Job Manager.",
            )
        )
        return
    text = (
        f"Resumed {escape(info.name)}: read back from the OMS, it runs "
        f"{escape(_frequency(after, freqs).lower())} again (job {escape(after.job_id)}); the "
        f"next run is {slack_ms(after.run_time)}."
    )
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":arrow_forward: {text}")])
    )


# ---- what this module provides ------------------------------------------------------------


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="jobs",
            summary="Job categories of both Job Managers with their jobs, or one category's jobs.",
            handler=jobs_command,
            args=(
                Arg(
                    "category",
                    "a job category: " + ", ".join(c.key for c in CATEGORIES) + ", or a Moqui "
                    "category id or name",
                    required=False,
                    parse=_name_arg,
                ),
            ),
            examples=("/oms jobs", "/oms jobs orders"),
        ),
        CommandSpec(
            name="job",
            summary="A job's schedule and last 10 runs, with Run now, Skip once, Pause and Resume.",
            handler=job_command,
            args=(
                Arg(
                    "job",
                    "a job: a Moqui job name such as queue_ShopifyOrderSync_10000, or an OFBiz "
                    "name such as new-orders or enum id such as JOB_IMP_ORD",
                    parse=_name_arg,
                ),
            ),
            examples=(
                "/oms job new-orders",
                "/oms job JOB_APR_ORD",
                "/oms job queue_ShopifyOrderSync_10000",
            ),
        ),
        CommandSpec(
            name="job resume",
            summary="Schedule a paused job again as it was (asks to confirm).",
            handler=resume_command,
            args=(
                Arg(
                    "job",
                    "a paused job: a Moqui job name, or an OFBiz name or enum id",
                    parse=_name_arg,
                ),
            ),
            examples=("/oms job resume approve-orders",),
            role=ROLE,
            changes_oms=True,
        ),
    ),
    actions=(
        ActionSpec(SKIP_ACTION, _on_skip, pressed_note=lambda c: f"Skip once by <@{c.user_id}>"),
        ActionSpec(PAUSE_ACTION, _on_pause, pressed_note=lambda c: f"Paused by <@{c.user_id}>"),
        ActionSpec(RESUME_ACTION, _on_resume, pressed_note=lambda c: f"Resumed by <@{c.user_id}>"),
    ),
)
