"""Validation of custom command arguments: pydantic models, JSON-RPC InvalidParams on error."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcInvalidParams

M = TypeVar("M", bound=BaseModel)


class CommandArgs(BaseModel):
    """Base for command argument models: camelCase on the wire, unknown keys rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def parse_args(model: type[M], args: tuple[Any, ...], command: str) -> M:
    """The first argument of ``command`` validated as ``model`` (missing → all defaults)."""
    raw: Any = args[0] if args else {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raw = getattr(raw, "__dict__", raw)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise JsonRpcInvalidParams(f"{command}: {where}: {first['msg']}") from exc
