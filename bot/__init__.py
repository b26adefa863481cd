"""oms-bot: a Slack chat-ops bot for HotWax Commerce OMS."""

__version__ = "0.1.0"
