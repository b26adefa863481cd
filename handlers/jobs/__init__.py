"""The Job Manager from Slack: `/oms jobs`, `/oms job`, running a job now and following it,
pausing it, and `/oms webhooks` (HotWax's "Job categories"), on the Moqui Job Manager and the
legacy OFBiz JobSandbox, whichever the tenant has.

Other families use only what is exported here: a "Run the <job> job" button for any message
(an OFBiz catalogue job), or a Run now button for a Moqui job by its name, and
`start_job_run` to start such a run from their own button (`/oms check` runs the Approve
orders job, then checks the order again). The job watches (handlers/watches/) also name jobs
the way users do: by the catalogue's categories and jobs (`find_category`, `find_job`), and
an OFBiz job the catalogue does not name by what the OMS calls it (`oms_job`,
`job_run_button`). How often a job's Quartz cron fires (`cron_interval`) is read here once,
for the job watches' lateness and the reconciliation's too-recent orders.
"""

from handlers.jobs.catalog import Category, JobInfo, find_category, find_job, oms_job
from handlers.jobs.common import describe_cron
from handlers.jobs.cron import cron_interval
from handlers.jobs.run import job_run_button, run_job_button, run_service_job_button, start_job_run

__all__ = [
    "Category",
    "JobInfo",
    "cron_interval",
    "describe_cron",
    "find_category",
    "find_job",
    "job_run_button",
    "oms_job",
    "run_job_button",
    "run_service_job_button",
    "start_job_run",
]
