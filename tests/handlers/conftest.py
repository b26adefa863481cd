"""Fixtures of the runbook tests: `step_runner` runs a runbook's steps without Slack."""

from tests.handlers.steps import step_runner

__all__ = ["step_runner"]
