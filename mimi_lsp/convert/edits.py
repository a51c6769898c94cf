"""The one ``WorkspaceEdit`` builder: an agent's ``EditPlan`` as the client can apply it.

Used by both ``mimi.agent.edit`` (sent with ``workspace/applyEdit``) and ``codeAction/resolve``
(returned as the action's ``edit``). The plan becomes ``documentChanges``: a
``TextDocumentEdit`` per file carrying the version the plan was computed from (the session's
version for open documents, ``null`` for files on disk), ``CreateFile`` plus an insert for new
files, and change annotations with ``needsConfirmation`` so the editor shows a preview. Clients
without ``documentChanges`` get ``changes`` (and no file creation); files a client cannot
create are left out and named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types

from mimi_lsp.agent.plan import EditPlan, FileChange, text_changes
from mimi_lsp.convert.positions import span_to_range
from mimi_lsp.session import ClientSupport, PositionCodec, split_lines


@dataclass(slots=True)
class BuiltEdit:
    edit: types.WorkspaceEdit
    skipped: list[str] = field(default_factory=list)
    """Workspace-relative files left out (new files the client cannot create)."""


def _text_edits(
    change: FileChange, codec: PositionCodec, annotation_id: str | None
) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    lines = split_lines(change.base_text)
    edits: list[types.TextEdit | types.AnnotatedTextEdit] = []
    for c in text_changes(change.base_text, change.new_text):
        rng = span_to_range(lines, c.span, codec)
        if annotation_id:
            edits.append(
                types.AnnotatedTextEdit(range=rng, new_text=c.text, annotation_id=annotation_id)
            )
        else:
            edits.append(types.TextEdit(range=rng, new_text=c.text))
    return edits


def workspace_edit(
    plan: EditPlan, support: ClientSupport, codec: PositionCodec, label: str
) -> BuiltEdit:
    """The plan as a WorkspaceEdit the client understands, and the files it had to leave out."""
    ws = plan.workspace
    built = BuiltEdit(types.WorkspaceEdit())
    if not support.document_changes:
        changes: dict[str, list[types.TextEdit]] = {}
        for change in plan.changes_list:
            if change.created:
                built.skipped.append(ws.relative(change.path))
                continue
            changes[ws.uri(change.path)] = [
                e for e in _text_edits(change, codec, None) if isinstance(e, types.TextEdit)
            ]
        built.edit = types.WorkspaceEdit(changes=changes)
        return built

    document_changes: list[types.TextDocumentEdit | types.CreateFile] = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for n, change in enumerate(plan.changes_list):
        rel = ws.relative(change.path)
        uri = ws.uri(change.path)
        annotation_id = None
        if support.change_annotations:
            annotation_id = f"mimi-{n}"
            annotations[annotation_id] = types.ChangeAnnotation(
                label=label,
                needs_confirmation=True,
                description=f"{rel} (new file)" if change.created else rel,
            )
        if change.created:
            if not support.create_files:
                built.skipped.append(rel)
                continue
            document_changes.append(
                types.CreateFile(
                    uri=uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation_id,
                )
            )
        document_changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=None if change.created else change.base_version
                ),
                edits=list(_text_edits(change, codec, annotation_id)),
            )
        )
    built.edit = types.WorkspaceEdit(
        document_changes=list(document_changes), change_annotations=annotations or None
    )
    return built
