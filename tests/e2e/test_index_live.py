"""The index stays right while the user edits: buffers, saves, file events, folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.test_search import (
    embedded,
    eventually,
    index_settings,
    make_workspace,
    search,
    wait_status,
)
from tests.lsp_harness import EDITORS, start_session


def symbols_of(hits: list[dict]) -> list[str]:
    """The hits' definition names without their class (``Payments.refund_order``: refund_order)."""
    return [(h.get("symbol") or "").rsplit(".", 1)[-1] for h in hits]


def open_file(client, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )
    return uri


@pytest.mark.parametrize("editor", EDITORS)
async def test_unsaved_buffer_is_searchable_and_reverts_on_close(
    editor: str, tmp_path: Path
) -> None:
    """Typing a new function shows up in search before saving; closing unsaved drops it."""
    root = make_workspace(tmp_path / "ws")
    path = root / "src" / "upload.py"
    async with start_session(
        editor=editor, settings=index_settings(tmp_path / "cache"), root=root
    ) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        uri = open_file(client, path, path.read_text())
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=0, character=0),
                            end=types.Position(line=0, character=0),
                        ),
                        text="def compress_thumbnail_images(folder):\n    return shrink(folder)\n\n\n",
                    )
                ],
            )
        )
        probe = lambda: search(client, query="compress thumbnail images", mode="bm25")  # noqa: E731
        during = await eventually(
            probe, lambda hits: "compress_thumbnail_images" in symbols_of(hits)
        )
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        after = await eventually(
            probe, lambda hits: "compress_thumbnail_images" not in symbols_of(hits)
        )
    assert "compress_thumbnail_images" in symbols_of(during)
    assert during[0]["range"]["start"]["line"] == 0
    assert "compress_thumbnail_images" not in symbols_of(after)


async def test_did_save_reindexes_the_file(tmp_path: Path) -> None:
    """A file rewritten on disk and saved is re-read: the new function is found, the old gone."""
    root = make_workspace(tmp_path / "ws")
    path = root / "server.go"
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        path.write_text("package server\n\nfunc ShutdownGracefully() error {\n\treturn nil\n}\n")
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=path.as_uri())
            )
        )
        probe = lambda: search(client, query="shutdown gracefully", mode="bm25")  # noqa: E731
        hits = await eventually(probe, lambda hits: "ShutdownGracefully" in symbols_of(hits))
        old = await search(client, query="StartHttpServer", mode="bm25")
    assert "ShutdownGracefully" in symbols_of(hits)
    assert "StartHttpServer" not in symbols_of(old)


async def test_watched_files_are_registered_and_followed(tmp_path: Path) -> None:
    """The server registers a file watcher dynamically; created and deleted files follow."""
    root = make_workspace(tmp_path / "ws")
    async with start_session(settings=index_settings(tmp_path / "cache"), root=root) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        registered = [r.method for r in client.registrations]
        new_file = root / "src" / "billing.py"
        new_file.write_text("def charge_credit_card(amount):\n    return gateway.charge(amount)\n")
        (root / "server.go").unlink()
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(uri=new_file.as_uri(), type=types.FileChangeType.Created),
                    types.FileEvent(
                        uri=(root / "server.go").as_uri(), type=types.FileChangeType.Deleted
                    ),
                ]
            )
        )
        probe = lambda: search(client, query="charge credit card", mode="bm25")  # noqa: E731
        created = await eventually(probe, lambda hits: "charge_credit_card" in symbols_of(hits))
        gone = await eventually(
            lambda: search(client, query="StartHttpServer port", mode="bm25"),
            lambda hits: all(not h["uri"].endswith(".go") for h in hits),
        )
    assert "workspace/didChangeWatchedFiles" in registered
    assert "charge_credit_card" in symbols_of(created)
    assert all(not h["uri"].endswith(".go") for h in gone)


async def test_search_spans_every_workspace_folder(tmp_path: Path) -> None:
    """Multi-root: hits come from all folders; a removed folder stops answering."""
    first = make_workspace(tmp_path / "first")
    second = tmp_path / "second"
    second.mkdir()
    (second / "payments.rb").write_text(
        "class Payments\n  def refund_order(order)\n    order.refund!\n  end\nend\n"
    )
    async with start_session(settings=index_settings(tmp_path / "cache"), root=first) as client:
        await wait_status(client, lambda p: p["state"] == "ready")
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=second.as_uri(), name="second")], removed=[]
                )
            )
        )
        probe = lambda: search(client, query="refund order", mode="bm25")  # noqa: E731
        both = await eventually(probe, lambda hits: "refund_order" in symbols_of(hits))
        upload = await search(client, query="retry failed uploads", mode="bm25")
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[], removed=[types.WorkspaceFolder(uri=second.as_uri(), name="second")]
                )
            )
        )
        removed = await eventually(probe, lambda hits: "refund_order" not in symbols_of(hits))
    assert both[0]["uri"] == (second / "payments.rb").as_uri()
    assert both[0]["symbol"] == "Payments.refund_order"
    assert upload[0]["uri"].startswith(first.as_uri())
    assert "refund_order" not in symbols_of(removed)


async def test_damaged_index_is_rebuilt_and_reported(tmp_path: Path) -> None:
    """A corrupt database file is moved aside, rebuilt, and the user is told once."""
    root = make_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    async with start_session(settings=index_settings(cache), root=root) as client:
        await wait_status(client, embedded)
    [db] = list(cache.glob("*.sqlite"))
    db.write_bytes(b"this is not a database" * 1000)
    async with start_session(settings=index_settings(cache), root=root) as client:
        status = await wait_status(
            client, lambda p: p["state"] == "ready" and "damaged" in p.get("message", "")
        )
        hits = await search(client, query="retry failed uploads", mode="bm25")
    assert status["files"] == 4
    assert hits[0]["symbol"] == "retry_failed_uploads"
    assert list(cache.glob("*.corrupt-*"))
