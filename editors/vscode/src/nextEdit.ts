/**
 * Next-edit suggestions: the edit mimi-lsp predicts from your recent edits, often away from the
 * cursor (rename a parameter and its uses follow), on VS Code's stable API.
 *
 * After a change in the active editor (debounced) it asks `textDocument/copilotInlineEdit`
 * (Copilot's method and shape: `{edits: [{range, text, textDocument: {uri, version}, command}]}`)
 * and draws the answer as decorations at its own site, as Continue does: the replaced text struck
 * through, the new text right after it, and a hint on the cursor line when the site is elsewhere.
 * `Tab` (`mimi.nextEdit.next`) jumps to it, `Tab` again applies it and runs its accept command;
 * `Escape` (`mimi.nextEdit.dismiss`) hides it. Ghost text keeps `Tab` while it is visible. An
 * answer for an older document version is dropped; any change clears what is shown.
 */

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';

export const NEXT_EDIT_METHOD = 'textDocument/copilotInlineEdit';
export const NEXT_EDIT_CONTEXT = 'mimi.nextEditVisible';
const DEBOUNCE_MS = 300;

interface WireRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

export interface WireInlineEdit {
  range: WireRange;
  text: string;
  textDocument: { uri: string; version: number };
  command?: { title: string; command: string; arguments?: unknown[] };
}

export class NextEdits implements vscode.Disposable {
  /** The suggestion on screen and the document it belongs to. */
  current?: { edit: WireInlineEdit; document: vscode.TextDocument };
  readonly stats = { requests: 0, shown: 0, accepted: 0, dropped: 0, jumps: 0 };
  private timer?: ReturnType<typeof setTimeout>;
  private generation = 0;
  private decorations?: {
    old: vscode.TextEditorDecorationType;
    added: vscode.TextEditorDecorationType;
    hint: vscode.TextEditorDecorationType;
  };
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e.document)),
      vscode.window.onDidChangeActiveTextEditor(() => this.clear()),
    );
  }

  private enabled(document: vscode.TextDocument): boolean {
    return vscode.workspace.getConfiguration('mimi', document.uri).get<boolean>('nextEdit.enabled', true) !== false;
  }

  private changed(document: vscode.TextDocument): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document !== document) return;
    this.generation += 1;
    this.clear();
    clearTimeout(this.timer);
    if (!this.enabled(document)) return;
    this.timer = setTimeout(() => void this.request(editor), DEBOUNCE_MS);
  }

  /** Ask for the next edit at the cursor of `editor` now. */
  async request(editor: vscode.TextEditor): Promise<WireInlineEdit | undefined> {
    const client = this.client();
    if (!client?.isRunning()) return undefined;
    const document = editor.document;
    const version = document.version;
    const mine = ++this.generation;
    const at = editor.selection.active;
    this.stats.requests += 1;
    let result: { edits?: WireInlineEdit[] } | null;
    try {
      result = await client.sendRequest(NEXT_EDIT_METHOD, {
        textDocument: { uri: document.uri.toString(), version },
        position: { line: at.line, character: at.character },
      });
    } catch (error) {
      this.log.debug(`next edit: ${String(error)}`);
      return undefined;
    }
    const edit = result?.edits?.[0];
    if (mine !== this.generation || !edit?.range) return undefined;
    if (edit.textDocument?.uri !== document.uri.toString() || edit.textDocument.version !== document.version) {
      this.stats.dropped += 1; // stale, or in another file
      return undefined;
    }
    this.current = { edit, document };
    this.draw(editor);
    this.stats.shown += 1;
    void client.sendNotification('textDocument/didShowInlineEdit', { item: { command: edit.command } });
    return edit;
  }

  private types() {
    this.decorations ??= {
      old: vscode.window.createTextEditorDecorationType({
        textDecoration: 'line-through',
        backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
      }),
      added: vscode.window.createTextEditorDecorationType({
        after: {
          color: new vscode.ThemeColor('editorGhostText.foreground'),
          backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
        },
      }),
      hint: vscode.window.createTextEditorDecorationType({
        after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'italic', margin: '0 0 0 2em' },
      }),
    };
    return this.decorations;
  }

  private rangeOf(edit: WireInlineEdit): vscode.Range {
    const { start, end } = edit.range;
    return new vscode.Range(start.line, start.character, end.line, end.character);
  }

  private draw(editor: vscode.TextEditor): void {
    if (!this.current) return;
    const { edit } = this.current;
    const types = this.types();
    const range = this.rangeOf(edit);
    const text = edit.text.replace(/\r\n/g, '\n').replace(/\n/g, ' ⏎ ');
    editor.setDecorations(types.old, range.isEmpty ? [] : [range]);
    editor.setDecorations(types.added, [
      { range: new vscode.Range(range.end, range.end), renderOptions: { after: { contentText: text } } },
    ]);
    const cursor = editor.selection.active;
    const hint =
      cursor.line === range.start.line
        ? []
        : [
            {
              range: editor.document.lineAt(cursor.line).range,
              renderOptions: { after: { contentText: `next edit: line ${range.start.line + 1} (Tab)` } },
            },
          ];
    editor.setDecorations(types.hint, hint);
    void vscode.commands.executeCommand('setContext', NEXT_EDIT_CONTEXT, true);
  }

  /** Hide the suggestion. */
  clear(): void {
    const shown = this.current;
    this.current = undefined;
    if (this.decorations) {
      for (const editor of vscode.window.visibleTextEditors) {
        editor.setDecorations(this.decorations.old, []);
        editor.setDecorations(this.decorations.added, []);
        editor.setDecorations(this.decorations.hint, []);
      }
    }
    if (shown) void vscode.commands.executeCommand('setContext', NEXT_EDIT_CONTEXT, false);
  }

  /** Tab: move to the suggestion; when already there, apply it. */
  async next(): Promise<boolean> {
    const editor = vscode.window.activeTextEditor;
    const shown = this.current;
    if (!editor || !shown || editor.document !== shown.document) return false;
    const range = this.rangeOf(shown.edit);
    if (!editor.selection.active.isEqual(range.start)) {
      editor.selection = new vscode.Selection(range.start, range.start);
      editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      this.stats.jumps += 1;
      this.draw(editor);
      return true;
    }
    return this.accept(editor);
  }

  private async accept(editor: vscode.TextEditor): Promise<boolean> {
    const shown = this.current;
    if (!shown || shown.document.version !== shown.edit.textDocument.version) {
      this.clear();
      return false;
    }
    const range = this.rangeOf(shown.edit);
    this.clear();
    const applied = await editor.edit((builder) => builder.replace(range, shown.edit.text));
    if (!applied) return false;
    this.stats.accepted += 1;
    const command = shown.edit.command;
    if (command?.command) {
      // The server's own command (vscode-languageclient registered it): counts the acceptance.
      void vscode.commands.executeCommand(command.command, ...(command.arguments ?? [])).then(undefined, () => undefined);
    }
    return true;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.clear();
    for (const d of this.disposables.splice(0)) d.dispose();
    if (this.decorations) {
      this.decorations.old.dispose();
      this.decorations.added.dispose();
      this.decorations.hint.dispose();
    }
  }
}
