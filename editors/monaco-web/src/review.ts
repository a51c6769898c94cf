// Agent edits arrive as LSP WorkspaceEdits (from codeAction/resolve or a workspace/applyEdit
// request). Nothing touches a buffer before the user has seen it: each changed file is shown in a
// Monaco diff editor; Accept applies every file (undoable, left unsaved like any edit), Reject
// applies nothing. Edits computed for an older version of a document are refused.
import { api } from './api';
import { type Doc, type Documents } from './documents';
import { type Json } from './lsp';
import { languageFor, monaco } from './monaco';
import { h, overlay } from './ui';

export interface FileChange {
  path: string;
  uri: string;
  isNew: boolean;
  original: string;
  modified: string;
  edits: Json[];
  /** The document version the server computed against (null: any). */
  version: number | null;
  labels: string[];
}

export class EditRejected extends Error {}

function toRange(range: Json): monaco.Range {
  return new monaco.Range(
    range.start.line + 1,
    range.start.character + 1,
    range.end.line + 1,
    range.end.character + 1,
  );
}

function applyToText(text: string, edits: Json[], language: string): string {
  const model = monaco.editor.createModel(text, language);
  try {
    model.applyEdits(edits.map((e) => ({ range: toRange(e.range), text: e.newText ?? '' })));
    return model.getValue();
  } finally {
    model.dispose();
  }
}

/** Turn a WorkspaceEdit into per-file before/after texts (reading unopened files from disk). */
export async function planEdit(edit: Json, docs: Documents): Promise<FileChange[]> {
  const byPath = new Map<string, FileChange>();
  const created = new Set<string>();
  const annotations: Record<string, Json> = edit?.changeAnnotations ?? {};

  const entry = async (uri: string, version: number | null): Promise<FileChange> => {
    const path = docs.pathOf(uri);
    if (path === null) throw new EditRejected(`the edit touches ${uri}, outside the folder`);
    let change = byPath.get(path);
    if (change) return change;
    const doc = docs.docs.get(path);
    let original = '';
    let isNew = false;
    if (doc) original = doc.model.getValue();
    else {
      try {
        const data = created.has(path) ? await api.readIfExists(path) : await api.read(path);
        if (data.exists === false) isNew = true;
        else original = data.text ?? '';
      } catch (error) {
        throw new EditRejected(`cannot read ${path}: ${(error as Error).message}`);
      }
    }
    change = { path, uri, isNew, original, modified: original, edits: [], version, labels: [] };
    byPath.set(path, change);
    return change;
  };

  const addEdits = async (uri: string, version: number | null, edits: Json[]) => {
    const change = await entry(uri, version);
    if (version !== null && version !== undefined) change.version = version;
    change.edits.push(...edits);
    for (const e of edits) {
      const label = e.annotationId ? annotations[e.annotationId]?.label : undefined;
      if (label && !change.labels.includes(label)) change.labels.push(label);
    }
  };

  if (Array.isArray(edit?.documentChanges)) {
    for (const item of edit.documentChanges) {
      if (item.kind === 'create') {
        const path = docs.pathOf(item.uri);
        if (path === null) throw new EditRejected(`cannot create ${item.uri}: outside the folder`);
        created.add(path);
        await entry(item.uri, null);
      } else if (item.kind === 'rename' || item.kind === 'delete') {
        throw new EditRejected(`the page cannot ${item.kind} files yet (${item.oldUri ?? item.uri})`);
      } else if (item.textDocument) {
        await addEdits(item.textDocument.uri, item.textDocument.version ?? null, item.edits ?? []);
      }
    }
  } else if (edit?.changes) {
    for (const [uri, edits] of Object.entries(edit.changes as Record<string, Json[]>)) {
      await addEdits(uri, null, edits);
    }
  }

  for (const change of byPath.values()) {
    const doc = docs.docs.get(change.path);
    if (doc && change.version !== null && doc.model.getVersionId() !== change.version) {
      throw new EditRejected(
        `${change.path} changed since the edit was computed (version ${change.version}, now ${doc.model.getVersionId()})`,
      );
    }
    const language = doc?.model.getLanguageId() ?? 'plaintext';
    change.modified = applyToText(change.original, change.edits, language);
  }
  return [...byPath.values()].filter((c) => c.isNew || c.modified !== c.original);
}

let reviewing: Promise<unknown> = Promise.resolve();

/** Show the changes in a diff editor; true when the user accepts. One review at a time. */
export function reviewEdits(changes: FileChange[], title: string): Promise<boolean> {
  const next = reviewing.then(() => showReview(changes, title));
  reviewing = next.catch(() => undefined);
  return next;
}

function showReview(changes: FileChange[], title: string): Promise<boolean> {
  return new Promise((resolve) => {
    const files = h('ul', { class: 'review-files', role: 'listbox' });
    const diffHost = h('div', { class: 'review-diff' });
    const accept = h('button', { class: 'primary', id: 'review-accept', title: 'Ctrl+Enter' }, 'Accept');
    const reject = h('button', { id: 'review-reject', title: 'Esc' }, 'Reject');
    const total = changes.length;
    const panel = h(
      'div',
      { class: 'review', role: 'dialog', 'aria-label': 'Review the proposed edit' },
      h(
        'div',
        { class: 'review-head' },
        h('strong', {}, title),
        h('span', { class: 'muted' }, ` — ${total} file${total === 1 ? '' : 's'} changed`),
        h('span', { class: 'spacer' }),
        reject,
        accept,
      ),
      h('div', { class: 'review-body' }, files, diffHost),
    );
    let settled = false;
    const models: monaco.editor.ITextModel[] = [];
    const diff = monaco.editor.createDiffEditor(diffHost, {
      readOnly: true,
      originalEditable: false,
      automaticLayout: true,
      renderSideBySide: true,
      theme: 'vs-dark',
      minimap: { enabled: false },
      scrollBeyondLastLine: false,
    });
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      document.removeEventListener('keydown', onKey, true);
      diff.setModel(null);
      diff.dispose();
      for (const m of models) m.dispose();
      layer.close();
      resolve(ok);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        event.stopPropagation();
        finish(true);
      }
    };
    const layer = overlay(panel, { className: 'review-layer', onClose: () => finish(false) });
    const show = (index: number) => {
      const change = changes[index];
      const language = languageFor(change.path);
      const original = monaco.editor.createModel(change.original, language);
      const modified = monaco.editor.createModel(change.modified, language);
      models.push(original, modified);
      diff.setModel({ original, modified });
      for (const [i, li] of Array.from(files.children).entries()) {
        li.classList.toggle('active', i === index);
        li.setAttribute('aria-selected', String(i === index));
      }
    };
    changes.forEach((change, index) => {
      const li = h(
        'li',
        { role: 'option', title: change.labels.join('; ') || change.path },
        h('span', { class: 'name' }, change.path),
        change.isNew ? h('span', { class: 'badge' }, 'new') : null,
      );
      li.addEventListener('click', () => show(index));
      files.append(li);
    });
    accept.addEventListener('click', () => finish(true));
    reject.addEventListener('click', () => finish(false));
    document.addEventListener('keydown', onKey, true);
    if (changes.length) show(0);
    accept.focus();
  });
}

/** Apply reviewed changes to the buffers (opening tabs as needed); undoable per file. */
export async function applyChanges(changes: FileChange[], docs: Documents): Promise<Doc[]> {
  // Check every file first, so a stale file leaves all of them untouched ("abort").
  const loaded: Array<[FileChange, Doc]> = [];
  for (const change of changes) {
    const doc = await docs.load(change.path, { create: change.isNew });
    if (doc.model.getValue() !== change.original) {
      throw new EditRejected(`${change.path} changed while the edit was being reviewed`);
    }
    loaded.push([change, doc]);
  }
  for (const [change, doc] of loaded) {
    doc.model.pushStackElement();
    doc.model.pushEditOperations(
      [],
      change.edits.map((e) => ({ range: toRange(e.range), text: e.newText ?? '' })),
      () => null,
    );
    doc.model.pushStackElement();
  }
  return loaded.map(([, doc]) => doc);
}
