/**
 * Reviewing the agent's edits: a diff of every changed file, then *Apply* or *Discard*.
 *
 * The server sends the agent's `WorkspaceEdit` with `workspace/applyEdit`, its change annotations
 * marked `needsConfirmation`. VS Code's own Refactor Preview would open with every such change
 * unticked, so its Apply button applied nothing; instead the client's `handleApplyEdit`
 * middleware lands here: the proposed files are served as `mimi-review:` documents, shown in a
 * diff (`vscode.diff`, or `vscode.changes` for several files) with *Apply* / *Discard* in the
 * diff's title bar and in a notification. *Apply* applies every change (the annotations no longer
 * ask for confirmation, so nothing stays unticked); an edit VS Code refuses (the file changed
 * meanwhile) is reported, never silently dropped. Edits without `needsConfirmation` (not the
 * agent's) go straight to VS Code. One review at a time; others wait their turn.
 */

import * as vscode from 'vscode';
import type {
  ApplyWorkspaceEditParams,
  ApplyWorkspaceEditResult,
  TextEdit as LspTextEdit,
  WorkspaceEdit as LspWorkspaceEdit,
} from 'vscode-languageclient/node';

export const REVIEW_SCHEME = 'mimi-review';

/** One file of an edit under review. */
export interface ReviewedFile {
  uri: vscode.Uri;
  created: boolean;
  original: string;
  proposed: string;
  /** The document version the edit was computed for (undefined: any). */
  version?: number | null;
}

type Choice = 'apply' | 'discard';

/** Offset of an LSP position (UTF-16, like JS strings) in `text`. */
function offsetAt(text: string, line: number, character: number): number {
  let offset = 0;
  for (let i = 0; i < line; i++) {
    const next = text.indexOf('\n', offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  const end = text.indexOf('\n', offset);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(offset + character, lineEnd);
}

/** `text` with LSP text edits applied (all ranges refer to the original text). */
export function applyTextEdits(text: string, edits: LspTextEdit[]): string {
  const spans = edits
    .map((e) => ({
      start: offsetAt(text, e.range.start.line, e.range.start.character),
      end: offsetAt(text, e.range.end.line, e.range.end.character),
      newText: e.newText,
    }))
    .sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const span of spans) out = out.slice(0, span.start) + span.newText + out.slice(span.end);
  return out;
}

/** Whether `edit` asks the user first (the agent's edits do). */
export function needsConfirmation(edit: LspWorkspaceEdit): boolean {
  return Object.values(edit.changeAnnotations ?? {}).some((a) => a.needsConfirmation);
}

/** The same edit with no annotation asking for confirmation (VS Code then applies it all). */
export function confirmed(edit: LspWorkspaceEdit): LspWorkspaceEdit {
  if (!edit.changeAnnotations) return edit;
  const annotations = Object.fromEntries(
    Object.entries(edit.changeAnnotations).map(([id, a]) => [id, { ...a, needsConfirmation: false }]),
  );
  return { ...edit, changeAnnotations: annotations };
}

async function currentText(uri: vscode.Uri): Promise<string | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open.getText();
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}

/** Per-file before and after texts of an LSP workspace edit. */
export async function plan(edit: LspWorkspaceEdit): Promise<ReviewedFile[]> {
  const files = new Map<string, ReviewedFile>();
  const entry = async (uriText: string, created: boolean): Promise<ReviewedFile> => {
    let file = files.get(uriText);
    if (!file) {
      const uri = vscode.Uri.parse(uriText);
      const text = created ? undefined : await currentText(uri);
      file = { uri, created: created || text === undefined, original: text ?? '', proposed: text ?? '' };
      files.set(uriText, file);
    }
    return file;
  };
  for (const change of edit.documentChanges ?? []) {
    if ('kind' in change) {
      if (change.kind === 'create') await entry(change.uri, true);
      continue; // renames and deletes are listed by VS Code itself; the agent does not send them
    }
    const file = await entry(change.textDocument.uri, false);
    file.version = change.textDocument.version;
    file.proposed = applyTextEdits(file.proposed, change.edits as LspTextEdit[]);
  }
  for (const [uri, edits] of Object.entries(edit.changes ?? {})) {
    const file = await entry(uri, false);
    file.proposed = applyTextEdits(file.proposed, edits);
  }
  return [...files.values()].filter((f) => f.created || f.proposed !== f.original);
}

export class EditReview implements vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly started = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [];
  private pending?: (choice: Choice) => void;
  private queue: Promise<unknown> = Promise.resolve();
  private counter = 0;
  /** Fires when a diff is shown and waits for the user (progress notifications can end). */
  readonly onDidStart = this.started.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.disposables.push(
      this.started,
      vscode.workspace.registerTextDocumentContentProvider(REVIEW_SCHEME, {
        provideTextDocumentContent: (uri) => this.texts.get(uri.toString()) ?? '',
      }),
    );
  }

  /** Whether a review waits for Apply or Discard. */
  get active(): boolean {
    return this.pending !== undefined;
  }

  /** Answer the review in progress (the diff's title buttons and tests call these). */
  answer(choice: Choice): void {
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.(choice);
  }

  /** `workspace/applyEdit` middleware: review the agent's edits, pass others through. */
  handleApplyEdit(
    params: ApplyWorkspaceEditParams,
    next: (params: ApplyWorkspaceEditParams) => Thenable<ApplyWorkspaceEditResult> | ApplyWorkspaceEditResult,
  ): Promise<ApplyWorkspaceEditResult> {
    if (!needsConfirmation(params.edit)) return Promise.resolve(next(params));
    const run = this.queue.then(() => this.review(params, next));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async review(
    params: ApplyWorkspaceEditParams,
    next: (params: ApplyWorkspaceEditParams) => Thenable<ApplyWorkspaceEditResult> | ApplyWorkspaceEditResult,
  ): Promise<ApplyWorkspaceEditResult> {
    const files = await plan(params.edit);
    if (files.length === 0) return { applied: true };
    const title = params.label ?? 'Mimi: proposed edit';
    const id = ++this.counter;
    const proposedUri = (file: ReviewedFile) => {
      const uri = file.uri.with({ scheme: REVIEW_SCHEME, query: `review=${id}` });
      this.texts.set(uri.toString(), file.proposed);
      return uri;
    };
    const emptyUri = (file: ReviewedFile) => {
      const uri = file.uri.with({ scheme: REVIEW_SCHEME, query: `review=${id}&original` });
      this.texts.set(uri.toString(), '');
      return uri;
    };
    const choice = new Promise<Choice>((resolve) => {
      this.pending = resolve;
    });
    try {
      await vscode.commands.executeCommand('setContext', 'mimi.reviewing', true);
      const names = files.map((f) => vscode.workspace.asRelativePath(f.uri));
      if (files.length === 1) {
        const [file] = files;
        await vscode.commands.executeCommand(
          'vscode.diff',
          file.created ? emptyUri(file) : file.uri,
          proposedUri(file),
          `${names[0]} ↔ ${title}`,
          { preview: false },
        );
      } else {
        await vscode.commands.executeCommand(
          'vscode.changes',
          title,
          files.map((f) => [f.uri, f.created ? emptyUri(f) : f.uri, proposedUri(f)]),
        );
      }
      this.started.fire();
      const where = files.length === 1 ? names[0] : `${files.length} files`;
      void vscode.window
        .showInformationMessage(`${title}: apply the changes to ${where}?`, 'Apply', 'Discard')
        .then((button) => {
          // Closing the notification leaves the diff's own buttons to decide.
          if (button === 'Apply') this.answer('apply');
          else if (button === 'Discard') this.answer('discard');
        });
      const answer = await choice;
      await this.closeDiffs(id);
      if (answer === 'discard') return { applied: false, failureReason: 'discarded by the user' };
      const stale = files.filter((f) => {
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === f.uri.toString());
        return doc && typeof f.version === 'number' && doc.version !== f.version;
      });
      if (stale.length) {
        const reason = `${stale.map((f) => vscode.workspace.asRelativePath(f.uri)).join(', ')} changed during the review; run the edit again.`;
        void vscode.window.showWarningMessage(`Mimi: not applied: ${reason}`);
        return { applied: false, failureReason: reason };
      }
      const result = await next({ ...params, edit: confirmed(params.edit) });
      if (!result.applied) {
        const reason = result.failureReason ?? 'VS Code refused the edit';
        this.log.warn(`applying the reviewed edit failed: ${reason}`);
        void vscode.window.showErrorMessage(`Mimi: the edit could not be applied: ${reason}`);
      }
      return result;
    } finally {
      this.pending = undefined;
      for (const key of [...this.texts.keys()]) if (key.includes(`review=${id}`)) this.texts.delete(key);
      await vscode.commands.executeCommand('setContext', 'mimi.reviewing', this.active);
    }
  }

  private async closeDiffs(id: number): Promise<void> {
    const ours = (uri: unknown) =>
      uri instanceof vscode.Uri && uri.scheme === REVIEW_SCHEME && uri.query.startsWith(`review=${id}`);
    const tabs = vscode.window.tabGroups.all
      .flatMap((group) => group.tabs)
      .filter((tab) => {
        const input = tab.input as { modified?: unknown; textDiffs?: Array<{ modified: unknown }> } | undefined;
        return ours(input?.modified) || Boolean(input?.textDiffs?.some((d) => ours(d.modified)));
      });
    if (tabs.length) await vscode.window.tabGroups.close(tabs);
  }

  dispose(): void {
    this.answer('discard');
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
