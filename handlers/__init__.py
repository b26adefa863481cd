"""One module per runbook family; each adds its commands to the registry in `register`."""

from bot.commands import Registry
from handlers import help, orders

MODULES = (help, orders)


def register_all(registry: Registry) -> None:
    for module in MODULES:
        module.register(registry)
