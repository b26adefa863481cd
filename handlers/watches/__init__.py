"""Job watches: `[[watches]]` in the policy name jobs (OFBiz enum ids, Moqui job names,
category names) and a channel; every replica polls them (bot/engine/watching.py claims each
alert once) and this family says what it found: a failed or crashed run (with its error and
MDM log, and Run now and Show history buttons), a recurring job that is late, a job paused
or unscheduled since the last poll, and a spike of failed imports. `/oms watches` lists the
watches, their last poll and the open alerts.

Other layers use only what is exported here: `resolve` says which jobs a watch's `jobs`
name in an OMS (`oms-bot check-config` checks the names with it)."""

from handlers.watches.targets import Targets, resolve

__all__ = ["Targets", "resolve"]
