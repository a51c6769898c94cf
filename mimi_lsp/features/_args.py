"""Validation of custom command arguments: pydantic models, JSON-RPC InvalidParams on error."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pygls.exceptions import JsonRpcInvalidParams

from mimi_lsp.convert import range_to_span
from mimi_lsp.domain import Span
from mimi_lsp.session import Session

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


class PositionArg(CommandArgs):
    line: Coordinate
    character: Coordinate


class RangeArg(CommandArgs):
    start: PositionArg
    end: PositionArg

    def to_range(self) -> types.Range:
        return types.Range(
            start=types.Position(line=self.start.line, character=self.start.character),
            end=types.Position(line=self.end.line, character=self.end.character),
        )

    def span(self, session: Session, uri: str) -> Span:
        """Code-point span in the open document ``uri`` (columns as-is when it is not open)."""
        return range_to_span(session.snapshot(uri), self.to_range(), session.codec)


def plain(value: Any) -> Any:
    """pygls hands untyped params over as namedtuples: make them dicts and lists again."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def parse_args(model: type[M], args: tuple[Any, ...], command: str) -> M:
    """The first argument of ``command`` validated as ``model`` (missing → all defaults)."""
    raw: Any = args[0] if args else {}
    if raw is None:
        raw = {}
    raw = plain(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise JsonRpcInvalidParams(f"{command}: {where}: {first['msg']}") from exc
