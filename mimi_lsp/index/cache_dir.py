"""Where index databases live: one SQLite file per workspace folder in a per-user cache.

The file name is the folder's base name plus a hash of its real path, so two checkouts of one
project never share an index and a symlinked folder finds its own.
"""

from __future__ import annotations

import hashlib
import os
import re

from mimi_lsp.settings import user_cache_dir


def default_cache_dir() -> str:
    """Per-user cache folder for index databases."""
    return os.path.join(user_cache_dir(), "index")


def db_path_for(root: str, cache_dir: str | None) -> str:
    """The database of workspace folder ``root``: ``<cache>/<sha of real path>.sqlite``."""
    key = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(root.rstrip("/\\")) or "root")[:40]
    return os.path.join(
        os.path.expanduser(cache_dir or default_cache_dir()), f"{name}-{key}.sqlite"
    )
