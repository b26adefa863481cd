"""One module per runbook family. Each adds its commands to the registry in `register`, and
may add runbooks, button actions and dangerous actions to the services in `setup`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands import Registry
from handlers import (
    approvals,
    approve,
    check,
    failed,
    help,
    history,
    imports,
    jobs,
    mdm,
    orders,
    refresh,
    rollback,
    webhooks,
)

if TYPE_CHECKING:
    from bot.services import Services

MODULES = (
    help,
    orders,
    check,
    refresh,
    imports,
    mdm,
    approve,
    history,
    approvals,
    rollback,
    jobs,
    webhooks,
    failed,
)


def register_all(registry: Registry) -> None:
    for module in MODULES:
        module.register(registry)


def setup_all(services: Services) -> None:
    for module in MODULES:
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(services)
