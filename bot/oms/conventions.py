"""HotWax's two answer conventions, turned into values or typed errors.

OFBiz (/api/) answers business errors with HTTP 200 and `_ERROR_MESSAGE_`,
`_ERROR_MESSAGE_LIST_` or `error` in the body; "No record found" in `error` is an empty result.
Moqui/Maarg (/rest/s1/) answers errors with a non-2xx status and `{"errors": "..."}`.
Statuses the caller must handle itself (401 -> log in again) are checked before these run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.oms.errors import OmsBadResponse, OmsRequestError, OmsUnavailable
from bot.oms.transport import describe_status

NO_RECORD_FOUND = "No record found"
_SNIPPET = 80
M = TypeVar("M", bound=BaseModel)


def parse_models(model: type[M], rows: Any, operation: str) -> list[M]:
    """JSON rows as `model`s; OmsBadResponse naming the first misfit's place otherwise."""
    if not isinstance(rows, list):
        raise OmsBadResponse(operation, f"expected a JSON list, got {type(rows).__name__}")
    try:
        return [model.model_validate(row) for row in rows]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        # Only the location and pydantic's message: the input may be large or sensitive.
        raise OmsBadResponse(
            operation, f"unexpected {model.__name__} shape at {where or 'top'}: {first['msg']}"
        ) from None


# Where Moqui's `admin/serviceJobs` list may be: `{serviceJobList}` (hotwax/job-manager
# src/store/jobs.ts:96-108), `{serviceJobs}`, or a bare array (hotwax/company
# src/composables/useServiceJobs.ts:146-160 reads every one of these).
SERVICE_JOB_LIST_KEYS = ("serviceJobList", "serviceJobs")


def list_in(body: Any, keys: Sequence[str], operation: str) -> Any:
    """The list in a Moqui service answer: a bare array, or under one of `keys` (null: empty).
    OmsBadResponse when it is neither."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                return body[key] if body[key] is not None else []
    raise OmsBadResponse(operation, f"the answer has no {keys[0]} list")


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 3] + "..."


def decode_json(response: httpx.Response, operation: str) -> Any:
    text = response.text
    # OFBiz's logout (and some older endpoints) prefix JSON with "//" against JSON hijacking.
    if text.startswith("//"):
        text = text[2:]
    try:
        return json.loads(text)
    except ValueError:
        kind = "an empty body" if not text.strip() else f"non-JSON ({_snippet(text)!r})"
        raise OmsBadResponse(
            operation, f"the OMS answered {describe_status(response.status_code)} with {kind}"
        ) from None


def _join_messages(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value if item not in (None, ""))
    if isinstance(value, dict):
        # Solr errors pass through OFBiz as {"error": {"msg": ..., "code": ...}}.
        return str(value.get("msg") or value.get("message") or value)
    return str(value)


def _http_failure(response: httpx.Response, operation: str, message: str | None) -> Exception:
    status = response.status_code
    if status >= 500 and message is None:
        return OmsUnavailable(operation, f"the OMS answered {describe_status(status)}")
    text = message or f"the OMS answered {describe_status(status)}"
    return OmsRequestError(operation, text, status_code=status)


def _error_text_in(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("errors", "_ERROR_MESSAGE_LIST_", "_ERROR_MESSAGE_", "errorMessage", "error"):
        value = body.get(key)
        if value not in (None, "", []):
            return _join_messages(value)
    return None


def _try_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.text)
    except ValueError:
        return None


def ofbiz_payload(response: httpx.Response, operation: str) -> dict[str, Any] | None:
    """The OFBiz body as a dict, or None when OFBiz said "No record found"."""
    if not response.is_success:
        raise _http_failure(response, operation, _error_text_in(_try_json(response)))
    body = decode_json(response, operation)
    if not isinstance(body, dict):
        raise OmsBadResponse(operation, f"expected a JSON object, got {type(body).__name__}")
    if body.get("error") == NO_RECORD_FOUND:
        return None
    for key in ("_ERROR_MESSAGE_LIST_", "_ERROR_MESSAGE_", "error"):
        value = body.get(key)
        if value not in (None, "", []):
            raise OmsRequestError(operation, _join_messages(value), status_code=200)
    return body


def maarg_payload(response: httpx.Response, operation: str) -> Any:
    """The Maarg body (a list for entity routes, an object for services)."""
    if not response.is_success:
        raise _http_failure(response, operation, _error_text_in(_try_json(response)))
    return decode_json(response, operation)


def maarg_text(response: httpx.Response, operation: str) -> str:
    """A Maarg file download (CSV, logs) as text; errors still follow the Maarg convention."""
    if not response.is_success:
        raise _http_failure(response, operation, _error_text_in(_try_json(response)))
    return response.text


def json_type(value: Any) -> str:
    """The JSON type of a decoded value: what a shape report may say instead of the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_count(value: Any, operation: str, what: str) -> int:
    """Counts arrive as numbers or strings ("1") depending on the endpoint and release."""
    if isinstance(value, bool):
        raise OmsBadResponse(operation, f"{what} is not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise OmsBadResponse(operation, f"{what} is not a number: {_snippet(repr(value))}")
