"""Did you mean …: the closest known value to a mistyped one (difflib).

Wherever an argument value is picked from a known list (a job, a category, a webhook topic, an
option name), a typo gets the closest value instead of only the whole list. `closest` compares
without case, spaces, dashes or underscores, so `New_Order` is as close to `new-orders` as
`new-order` is; `closest_of` maps each spelling users might type (a key, an enum id, a
topic) to the value to suggest. `NotAChoice` is the ValueError an argument parser raises with its
suggestion; the engine's parser shows the suggestion as "Did you mean …".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

# Below this difflib ratio two names are not close enough to suggest one for the other.
CUTOFF = 0.6


def _plain(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.lower())


def closest(word: str, names: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The name closest to `word`, or None when none is close."""
    return closest_of(word, {name: name for name in names}, cutoff=cutoff)


def closest_of(word: str, spellings: Mapping[str, str], *, cutoff: float = CUTOFF) -> str | None:
    """Like `closest` over the keys of `spellings` (what users may type: a key, an enum
    id, a topic), returning the value of the closest key (what to suggest)."""
    plain: dict[str, str] = {}
    for spelling, value in spellings.items():
        plain.setdefault(_plain(spelling), value)
    wanted = _plain(word)
    if not wanted or not plain:
        return None
    if wanted in plain:
        return plain[wanted]
    match = difflib.get_close_matches(wanted, list(plain), n=1, cutoff=cutoff)
    if match:
        return plain[match[0]]
    # A typed prefix of one choice only ("refunds" for "refunds/create") is a fair guess too.
    starting = {plain[p] for p in plain if len(wanted) >= 3 and p.startswith(wanted)}
    return starting.pop() if len(starting) == 1 else None


class NotAChoice(ValueError):
    """A value that is not one of the known ones; `suggestion` is the closest, if any."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion
