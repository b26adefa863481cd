"""Test harness: a fake Slack (Web API, response_url, Socket Mode), a Block Kit gate, and a
driver that sends signed requests to the app the way Slack does."""

from .blockkit import check_blocks, check_message, check_view
from .driver import Sent, SlackDriver, find_element, slash_command_fields
from .fakeslack import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    Channel,
    Ephemeral,
    FakeSlack,
    GateViolation,
    ManualClock,
    Message,
    OpenedView,
    ResponsePost,
    Revision,
    UploadedFile,
    User,
)
from .signing import sign, signed_headers
from .socketmode import SocketModeServer

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Channel",
    "Ephemeral",
    "FakeSlack",
    "GateViolation",
    "ManualClock",
    "Message",
    "OpenedView",
    "ResponsePost",
    "Revision",
    "Sent",
    "SlackDriver",
    "SocketModeServer",
    "UploadedFile",
    "User",
    "check_blocks",
    "check_message",
    "check_view",
    "find_element",
    "sign",
    "signed_headers",
    "slash_command_fields",
]
