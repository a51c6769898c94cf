// Next-edit suggestions: the edit the server predicts from the user's recent edits, often away
// from the cursor (rename a parameter and its uses follow). After a change (debounced) the page
// asks `textDocument/copilotInlineEdit` (Copilot's method and shape: {edits: [{range, text,
// textDocument: {uri, version}, command}]}) and draws the answer with Monaco decorations at its
// own site: the replaced text struck through and the new text right after it. Tab jumps to the
// suggestion, Tab again applies it (its accept command is sent); Escape hides it. An answer for
// an older model version is dropped; any change clears what is shown. Ghost text is never held
// up: this is a separate request, and Tab goes to ghost text first when one is visible.
import { type Documents } from './documents';
import { type Json, type LspClient } from './lsp';
import { monaco } from './monaco';

const METHOD = 'textDocument/copilotInlineEdit';
const DEBOUNCE_MS = 300;

export interface NextEditState {
  /** The protocol edit on screen, or null. */
  edit: Json | null;
  requests: number;
  shown: number;
  accepted: number;
  dropped: number;
  jumps: number;
}

const STYLE = `
.mimi-next-edit-old { text-decoration: line-through; background: rgba(255, 80, 80, 0.25); }
.mimi-next-edit-new { color: #3fb950 !important; background: rgba(63, 185, 80, 0.18); }
.mimi-next-edit-hint { color: #8b949e !important; font-style: italic; }
`;

export function registerNextEdits(
  lsp: LspClient,
  docs: Documents,
  editor: monaco.editor.IStandaloneCodeEditor,
): NextEditState {
  const state: NextEditState = { edit: null, requests: 0, shown: 0, accepted: 0, dropped: 0, jumps: 0 };
  const style = document.createElement('style');
  style.textContent = STYLE;
  document.head.appendChild(style);
  const decorations = editor.createDecorationsCollection();
  const visible = editor.createContextKey<boolean>('mimiNextEdit', false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;

  const rangeOf = (edit: Json) =>
    new monaco.Range(
      edit.range.start.line + 1,
      edit.range.start.character + 1,
      edit.range.end.line + 1,
      edit.range.end.character + 1,
    );

  const clear = () => {
    state.edit = null;
    decorations.clear();
    visible.set(false);
  };

  const draw = (edit: Json) => {
    const range = rangeOf(edit);
    const text = String(edit.text ?? '').replace(/\r\n/g, '\n');
    const items: monaco.editor.IModelDeltaDecoration[] = [];
    if (!range.isEmpty()) {
      items.push({ range, options: { inlineClassName: 'mimi-next-edit-old' } });
    }
    items.push({
      range: new monaco.Range(range.endLineNumber, range.endColumn, range.endLineNumber, range.endColumn),
      options: {
        showIfCollapsed: true,
        after: { content: text.replace(/\n/g, ' ⏎ '), inlineClassName: 'mimi-next-edit-new' },
      },
    });
    const cursor = editor.getPosition();
    if (cursor && cursor.lineNumber !== range.startLineNumber) {
      const model = editor.getModel();
      const end = model ? model.getLineMaxColumn(cursor.lineNumber) : cursor.column;
      items.push({
        range: new monaco.Range(cursor.lineNumber, end, cursor.lineNumber, end),
        options: {
          showIfCollapsed: true,
          after: { content: `  next edit: line ${range.startLineNumber} (Tab)`, inlineClassName: 'mimi-next-edit-hint' },
        },
      });
    }
    decorations.set(items);
    visible.set(true);
  };

  const request = async () => {
    const model = editor.getModel();
    const position = editor.getPosition();
    const doc = [...docs.docs.values()].find((d) => d.model === model);
    if (!model || !position || !doc || !lsp.ready) return;
    const version = model.getVersionId();
    const mine = ++generation;
    state.requests += 1;
    let result: Json;
    try {
      result = await lsp.request(METHOD, {
        textDocument: { uri: doc.uri, version },
        position: { line: position.lineNumber - 1, character: position.column - 1 },
      });
    } catch {
      return; // disconnected or refused: nothing to show
    }
    const edit = result?.edits?.[0];
    if (mine !== generation || !edit?.range) return;
    if (edit.textDocument?.uri !== doc.uri || edit.textDocument?.version !== model.getVersionId()) {
      state.dropped += 1; // stale (or in another file)
      return;
    }
    state.edit = edit;
    draw(edit);
    state.shown += 1;
    lsp.notify('textDocument/didShowInlineEdit', { item: { command: edit.command } });
  };

  editor.onDidChangeModelContent(() => {
    generation += 1;
    clear();
    clearTimeout(timer);
    timer = setTimeout(() => void request(), DEBOUNCE_MS);
  });
  editor.onDidChangeModel(() => {
    generation += 1;
    clear();
  });

  const accept = () => {
    const edit = state.edit;
    if (!edit) return;
    const range = rangeOf(edit);
    clear();
    editor.executeEdits('mimi-next-edit', [{ range, text: String(edit.text ?? ''), forceMoveMarkers: true }]);
    state.accepted += 1;
    if (edit.command?.command) {
      void lsp
        .request('workspace/executeCommand', { command: edit.command.command, arguments: edit.command.arguments })
        .catch(() => undefined);
    }
  };

  // Tab: to the suggestion, then apply it (ghost text and the suggest widget keep their Tab).
  editor.addCommand(
    monaco.KeyCode.Tab,
    () => {
      const edit = state.edit;
      if (!edit) return;
      const range = rangeOf(edit);
      const at = editor.getPosition();
      if (at && at.lineNumber === range.startLineNumber && at.column === range.startColumn) {
        accept();
        return;
      }
      editor.setPosition(range.getStartPosition());
      editor.revealLineInCenterIfOutsideViewport(range.startLineNumber);
      state.jumps += 1;
      draw(edit);
    },
    'mimiNextEdit && !inlineSuggestionVisible && !suggestWidgetVisible',
  );
  editor.addCommand(monaco.KeyCode.Escape, () => clear(), 'mimiNextEdit && !suggestWidgetVisible');
  return state;
}
