"""Finding the runbooks: every module under `handlers/` that declares `PROVIDES`.

A new runbook is its module (with its `PROVIDES`), its sandbox scenario and its tests; it is
registered by being found here, never by hand, and a name registered twice stops the start.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import handlers
from bot.engine.provides import Provides


@dataclass(frozen=True)
class Found:
    module: str
    provides: Provides


def discover(package: ModuleType = handlers) -> list[Found]:
    """Every `PROVIDES` in `package` and its subpackages, in module-name order."""
    found: list[Found] = []
    prefix = package.__name__ + "."
    for info in sorted(pkgutil.walk_packages(package.__path__, prefix), key=lambda i: i.name):
        module = importlib.import_module(info.name)
        provides = getattr(module, "PROVIDES", None)
        if provides is None:
            continue
        if not isinstance(provides, Provides):
            raise TypeError(f"{info.name}.PROVIDES is a {type(provides).__name__}, not Provides")
        found.append(Found(info.name, provides))
    return found
