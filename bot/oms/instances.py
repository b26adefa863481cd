"""What `checkLoginOptions` says about the Maarg host, turned into a base URL.

`maargInstanceUrl` is either a URL or a bare instance name. HotWax's apps use a value that
starts with "http" as it is and expand any other value to `https://{name}.hotwax.io`
(hotwax/accxui common/utils/commonUtil.ts:368-375); the bot does the same with the template
`OMS_MAARG_URL_TEMPLATE`, so a private deployment can say where its instances live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.kit.config import DEFAULT_MAARG_URL_TEMPLATE

MaargForm = Literal["url", "bare-name"]

# A bare name becomes part of a host name (or a path) the token is sent to, so it must be one
# DNS label: anything else ("evil.example/x#") could point the bot, and its token, elsewhere.
_INSTANCE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


class NotAnInstance(ValueError):
    """The value is neither an http(s) URL nor an instance name."""


@dataclass(frozen=True)
class MaargInstance:
    url: str  # the base URL, without "/rest/s1"
    form: MaargForm  # how checkLoginOptions gave it


def strip_suffix(url: str, suffix: str) -> str:
    """The URL without a trailing slash or the API suffix ("/api", "/rest/s1")."""
    cleaned = url.strip().rstrip("/")
    if cleaned.endswith(suffix):
        cleaned = cleaned[: -len(suffix)].rstrip("/")
    return cleaned


def maarg_instance(value: str, template: str = DEFAULT_MAARG_URL_TEMPLATE) -> MaargInstance:
    """The Maarg base URL `maargInstanceUrl` names (raises NotAnInstance)."""
    text = value.strip()
    if text.startswith("http"):
        if not text.startswith(("http://", "https://")):
            raise NotAnInstance("maargInstanceUrl is neither an http(s) URL nor an instance name")
        # HotWax keeps a value that already holds /rest/s1 and appends it otherwise.
        return MaargInstance(strip_suffix(text.split("/rest/s1", 1)[0], "/rest/s1"), "url")
    if not _INSTANCE_NAME.match(text):
        raise NotAnInstance("maargInstanceUrl is neither an http(s) URL nor an instance name")
    expanded = template.replace("{name}", text)
    return MaargInstance(strip_suffix(expanded, "/rest/s1"), "bare-name")


__all__ = ["MaargForm", "MaargInstance", "NotAnInstance", "maarg_instance", "strip_suffix"]
