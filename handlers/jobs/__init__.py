"""The Job Manager from Slack: `/oms jobs`, `/oms job`, running a job now and following it,
and `/oms webhooks` (HotWax's "Job categories").

Other families use only what is exported here: a "Run the <job> job" button for any message.
"""

from handlers.jobs.run import run_job_button

__all__ = ["run_job_button"]
