"""The built page shipped in the package matches editors/monaco-web's sources."""

from __future__ import annotations

from mimi_lsp.web import bundle


def test_shipped_bundle_is_built_from_the_current_sources() -> None:
    """A page source changed without `npm run build` + `bundle stamp` fails here."""
    assert bundle.is_built(), "mimi_lsp/web/static is missing: run make setup-web"
    assert bundle.is_fresh(), (
        "editors/monaco-web changed since mimi_lsp/web/static was built: run "
        "`cd editors/monaco-web && npm run build && ../../.venv/bin/python -m mimi_lsp.web.bundle stamp`"
    )


def test_bundle_has_no_source_maps_or_dev_files() -> None:
    """Only the page's runtime files ship."""
    names = [p.name for p in bundle.STATIC_DIR.rglob("*") if p.is_file()]
    assert not [n for n in names if n.endswith(".map")]
    assert "index.html" in names
