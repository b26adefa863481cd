"""The Job Manager from Slack: `/oms jobs`, `/oms job`, running a job now and following it,
pausing it, and `/oms webhooks` (HotWax's "Job categories"), on the Moqui Job Manager and the
legacy OFBiz JobSandbox, whichever the tenant has.

Other families use only what is exported here: a "Run the <job> job" button for any message
(an OFBiz catalogue job), or a Run now button for a Moqui job by its name, and
`start_job_run` to start such a run from their own button (`/oms check` runs the Approve
orders job, then checks the order again).
"""

from handlers.jobs.run import run_job_button, run_service_job_button, start_job_run

__all__ = ["run_job_button", "run_service_job_button", "start_job_run"]
