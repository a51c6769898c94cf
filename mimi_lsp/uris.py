"""file:// URIs <-> filesystem paths (no pygls here: services use it too)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def uri_to_path(uri: str) -> str:
    """The filesystem path of a ``file://`` URI (other schemes are returned unchanged)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return path


def path_to_uri(path: str) -> str:
    return Path(path).absolute().as_uri()
