"""Validation of custom command arguments: pydantic models, JSON-RPC InvalidParams on error."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcInvalidParams

M = TypeVar("M", bound=BaseModel)


# Bounded field types for command arguments: nothing a client sends is unbounded.
Uri = Annotated[str, Field(min_length=1, max_length=4_096)]
Ident = Annotated[str, Field(max_length=256)]
Text = Annotated[str, Field(max_length=100_000)]
"""A message or instruction (about 25k tokens)."""
Coordinate = Annotated[int, Field(ge=0, le=100_000_000)]
"""A line or character offset."""


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
