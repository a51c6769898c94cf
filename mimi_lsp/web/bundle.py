"""The built Monaco page shipped inside the package, and whether it matches its sources.

``editors/monaco-web`` is built by Vite into ``mimi_lsp/web/static/`` and that build is
committed, so ``pip install`` users and ``make run`` need no Node. ``build-info.json`` records a
digest of the sources it was built from; ``make setup-web`` rebuilds only when the digest no
longer matches, and a test fails when someone changed the page without rebuilding.

Usage: ``python -m mimi_lsp.web.bundle check`` (exit 1 when stale) or ``... stamp``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
BUILD_INFO = STATIC_DIR / "build-info.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO_ROOT / "editors" / "monaco-web"
SOURCE_FILES = (
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "index.html",
    "tsconfig.json",
)
SOURCE_DIRS = ("src", "public")


def source_digest(source_dir: Path = SOURCE_DIR) -> str:
    """SHA-256 over the page's sources (paths and contents, in a stable order)."""
    files: list[Path] = [source_dir / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        base = source_dir / folder
        if base.is_dir():
            files.extend(sorted(p for p in base.rglob("*") if p.is_file()))
    digest = hashlib.sha256()
    for path in files:
        if not path.is_file():
            continue
        digest.update(path.relative_to(source_dir).as_posix().encode() + b"\0")
        # Normalise line endings so a Windows checkout digests the same.
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def build_info() -> dict[str, object]:
    """What the shipped build says about itself ({} when there is no build)."""
    try:
        return dict(json.loads(BUILD_INFO.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def is_built() -> bool:
    return (STATIC_DIR / "index.html").is_file()


def is_fresh() -> bool:
    """Whether the shipped build was made from the current sources."""
    return is_built() and build_info().get("sourceDigest") == source_digest()


def stamp() -> None:
    """Record the current sources' digest in the build (run right after ``vite build``)."""
    info = build_info()
    info["sourceDigest"] = source_digest()
    BUILD_INFO.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    if command == "check":
        if not SOURCE_DIR.is_dir():
            return 0  # an installed package: nothing to compare against
        if is_fresh():
            return 0
        sys.stderr.write("mimi-lsp web: the page bundle is missing or older than its sources\n")
        return 1
    if command == "stamp":
        stamp()
        return 0
    sys.stderr.write("usage: python -m mimi_lsp.web.bundle check|stamp\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
