// The LSP features the page wires into Monaco: ghost text (textDocument/inlineCompletion),
// code actions with a diff preview of their edits, workspace/applyEdit, the agent edit command,
// and diagnostics. Each is a thin conversion between Monaco's and LSP's shapes.
import { type Documents } from './documents';
import { Canceller, type Json, type LspClient, type Range } from './lsp';
import { monaco } from './monaco';
import { EditRejected, applyChanges, planEdit, reviewEdits } from './review';
import { busy } from './status';
import { h, overlay, toast } from './ui';

const toLspPosition = (p: monaco.IPosition) => ({ line: p.lineNumber - 1, character: p.column - 1 });

export const toLspRange = (r: monaco.IRange): Range => ({
  start: { line: r.startLineNumber - 1, character: r.startColumn - 1 },
  end: { line: r.endLineNumber - 1, character: r.endColumn - 1 },
});

const toMonacoRange = (r: Range) =>
  new monaco.Range(r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1);

export interface InlineTiming {
  /** performance.now() when the first non-empty ghost text came back. */
  firstGhostText: number | null;
  requests: number;
}

export const inlineTiming: InlineTiming = { firstGhostText: null, requests: 0 };

export function registerInlineCompletions(lsp: LspClient, docs: Documents): void {
  monaco.editor.registerCommand('mimi.didAcceptCompletion', (_accessor, uri: string) => {
    lsp.notify('mimi/didAcceptCompletion', { uri });
  });
  monaco.languages.registerInlineCompletionsProvider(
    { pattern: '**' },
    {
      displayName: 'mimi',
      async provideInlineCompletions(model, position, context, token) {
        const doc = [...docs.docs.values()].find((d) => d.model === model);
        if (!doc || !lsp.ready || !lsp.capabilities.inlineCompletionProvider) return { items: [] };
        inlineTiming.requests += 1;
        let result: Json;
        try {
          result = await lsp.request(
            'textDocument/inlineCompletion',
            {
              textDocument: { uri: doc.uri },
              position: toLspPosition(position),
              context: {
                // LSP 3.18: Invoked = 1, Automatic = 2 (Monaco: Automatic = 0, Explicit = 1).
                triggerKind:
                  context.triggerKind === monaco.languages.InlineCompletionTriggerKind.Explicit ? 1 : 2,
                selectedCompletionInfo: context.selectedSuggestionInfo
                  ? {
                      range: toLspRange(context.selectedSuggestionInfo.range),
                      text: context.selectedSuggestionInfo.text,
                    }
                  : undefined,
              },
            },
            token,
          );
        } catch {
          return { items: [] }; // cancelled or disconnected: nothing to show
        }
        const items: Json[] = Array.isArray(result) ? result : (result?.items ?? []);
        if (items.length && inlineTiming.firstGhostText === null) {
          inlineTiming.firstGhostText = performance.now();
          performance.mark('mimi:first-ghost-text');
        }
        return {
          items: items.map((item) => ({
            insertText:
              typeof item.insertText === 'string' ? item.insertText : { snippet: item.insertText.value },
            range: item.range ? toMonacoRange(item.range) : undefined,
            filterText: item.filterText,
            command: { id: 'mimi.didAcceptCompletion', title: 'accepted', arguments: [doc.uri] },
          })),
        };
      },
      disposeInlineCompletions() {
        /* nothing held per list */
      },
    },
  );
}

// ---------------------------------------------------------------------------- edits

/** Preview ``edit`` and apply it if accepted; true when applied. */
export async function reviewAndApply(edit: Json, title: string, docs: Documents): Promise<boolean> {
  const changes = await planEdit(edit, docs);
  if (!changes.length) {
    toast(`${title}: no changes`, 'info');
    return true;
  }
  if (!(await reviewEdits(changes, title))) return false;
  const touched = await applyChanges(changes, docs);
  const names = touched.map((d) => d.path).join(', ');
  toast(`Applied to ${names} (unsaved: Ctrl+S saves, Ctrl+Shift+S saves all)`, 'info', 5000);
  return true;
}

export function registerApplyEdit(lsp: LspClient, docs: Documents): void {
  lsp.onRequest('workspace/applyEdit', async (params: Json) => {
    try {
      const applied = await reviewAndApply(params.edit, params.label ?? 'Proposed edit', docs);
      return applied ? { applied: true } : { applied: false, failureReason: 'rejected by the user' };
    } catch (error) {
      const reason = (error as Error).message;
      toast(`Edit not applied: ${reason}`, error instanceof EditRejected ? 'warning' : 'error');
      return { applied: false, failureReason: reason };
    }
  });
}

// ---------------------------------------------------------------------------- code actions

export function registerCodeActions(lsp: LspClient, docs: Documents): void {
  monaco.editor.registerCommand('mimi.codeAction.run', (_accessor, action: Json) => {
    void runCodeAction(lsp, docs, action);
  });
  monaco.languages.registerCodeActionProvider(
    { pattern: '**' },
    {
      async provideCodeActions(model, range, context, token) {
        const empty = { actions: [], dispose() {} };
        const doc = [...docs.docs.values()].find((d) => d.model === model);
        if (!doc || !lsp.ready || !lsp.capabilities.codeActionProvider) return empty;
        let result: Json[] | null;
        try {
          result = await lsp.request(
            'textDocument/codeAction',
            {
              textDocument: { uri: doc.uri },
              range: toLspRange(range),
              context: {
                diagnostics: [],
                only: context.only ? [context.only] : undefined,
                triggerKind: context.trigger === monaco.languages.CodeActionTriggerType.Invoke ? 1 : 2,
              },
            },
            token,
          );
        } catch {
          return empty;
        }
        const actions = (result ?? []).map((action: Json) => ({
          title: action.title,
          kind: displayKind(action),
          isPreferred: action.isPreferred,
          disabled: action.disabled?.reason,
          diagnostics: [],
          // Run through our command so every edit is previewed as a diff first.
          command: { id: 'mimi.codeAction.run', title: action.title, arguments: [action] },
        }));
        return { actions, dispose() {} };
      },
    },
    {
      providedCodeActionKinds: ['quickfix', 'refactor', 'refactor.rewrite', 'source'],
    },
  );
}

/** The kind Monaco files an action under. Monaco leaves `source.*` (and kind-less) actions out
 * of the lightbulb and the Ctrl+. menu; every mimi action belongs there, so those are shown as
 * refactorings (the real kind still travels with the action to the server). */
function displayKind(action: Json): string {
  const kind: string = typeof action.command === 'string' ? '' : (action.kind ?? '');
  if (kind === '' ) return 'refactor.mimi';
  if (kind.startsWith('source')) return `refactor.${kind}`;
  return kind;
}

/** Client-side handling of the commands mimi's code actions carry. */
export interface CommandHooks {
  /** mimi.explain: show the explanation in the chat panel. */
  explain: (args: Json) => void;
}

let hooks: CommandHooks | undefined;

export function setCommandHooks(value: CommandHooks): void {
  hooks = value;
}

async function runCommand(lsp: LspClient, command: Json, cancel: Canceller): Promise<void> {
  const args: Json[] = command.arguments ?? [];
  if (command.command === 'mimi.explain' && hooks) {
    hooks.explain(args[0] ?? {});
    return;
  }
  if (command.command === 'mimi.agent.edit' && args[0] && !args[0].instruction) {
    // "Edit selection…": the client asks for the instruction.
    const instruction = await promptInstruction('Edit the selection: …');
    if (!instruction) return;
    args[0] = { ...args[0], instruction };
  }
  const done = busy(`${command.title ?? command.command}…`, () => cancel.cancel());
  try {
    const result: Json = await lsp.executeCommand(command.command, args, cancel);
    if (command.command === 'mimi.agent.edit' && result?.summary) {
      toast(String(result.summary), result.applied ? 'info' : 'warning', 6000);
    }
  } finally {
    done();
  }
}

export async function runCodeAction(lsp: LspClient, docs: Documents, action: Json): Promise<void> {
  const title: string = action.title ?? 'Code action';
  const cancel = new Canceller();
  if (typeof action.command === 'string') {
    try {
      await runCommand(lsp, action, cancel);
    } catch (error) {
      if (!cancel.isCancellationRequested) toast(`${title}: ${(error as Error).message}`, 'error');
    }
    return;
  }
  if (!action.edit && action.command && !action.data) {
    try {
      await runCommand(lsp, action.command, cancel);
    } catch (error) {
      if (!cancel.isCancellationRequested) toast(`${title}: ${(error as Error).message}`, 'error');
    }
    return;
  }
  const done = busy(`${title}…`, () => cancel.cancel());
  try {
    let resolved = action;
    if (!action.edit && lsp.capabilities.codeActionProvider?.resolveProvider) {
      resolved = await lsp.request('codeAction/resolve', action, cancel);
    }
    done();
    if (resolved?.edit) await reviewAndApply(resolved.edit, title, docs);
    if (resolved?.command) await runCommand(lsp, resolved.command, cancel);
  } catch (error) {
    if (!cancel.isCancellationRequested) toast(`${title}: ${(error as Error).message}`, 'error');
  } finally {
    done();
  }
}

// ---------------------------------------------------------------------------- agent edit

/** Ask for an instruction in a small prompt; null when dismissed. */
export function promptInstruction(placeholder: string): Promise<string | null> {
  return new Promise((resolve) => {
    let answer: string | null = null;
    const input = h('input', { type: 'text', id: 'agent-instruction', placeholder });
    const form = h('form', { class: 'prompt', role: 'dialog', 'aria-label': 'Ask the agent' },
      h('label', { for: 'agent-instruction' }, 'Ask the agent to edit (Enter runs, Esc cancels)'), input);
    const layer = overlay(form, { onClose: () => resolve(answer) });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      answer = input.value.trim() || null;
      layer.close();
    });
    input.focus();
  });
}

/** Ctrl+I: ask the agent to edit the selection (or the file) with an instruction. */
export async function askAgent(lsp: LspClient, docs: Documents, editor: monaco.editor.ICodeEditor): Promise<void> {
  const doc = docs.current;
  if (!doc) {
    toast('Open a file first.', 'warning');
    return;
  }
  if (!lsp.hasCommand('mimi.agent.edit')) {
    toast('This server has no agent (mimi.agent.edit).', 'warning');
    return;
  }
  const selection = editor.getSelection();
  const hasSelection = Boolean(selection && !selection.isEmpty());
  const instruction = await promptInstruction(hasSelection ? 'Edit the selection: …' : 'Edit this file: …');
  if (!instruction) return;
  const cancel = new Canceller();
  try {
    await runCommand(
      lsp,
      {
        title: 'Agent working',
        command: 'mimi.agent.edit',
        arguments: [{ uri: doc.uri, range: hasSelection && selection ? toLspRange(selection) : undefined, instruction }],
      },
      cancel,
    );
  } catch (error) {
    if (!cancel.isCancellationRequested) toast(`Agent: ${(error as Error).message}`, 'error');
  }
}

// ---------------------------------------------------------------------------- diagnostics

export function registerDiagnostics(lsp: LspClient, docs: Documents): void {
  lsp.onNotification('textDocument/publishDiagnostics', (params: Json) => {
    const doc = docs.byUri(params.uri);
    if (!doc) return;
    const severity = [
      monaco.MarkerSeverity.Error,
      monaco.MarkerSeverity.Error,
      monaco.MarkerSeverity.Warning,
      monaco.MarkerSeverity.Info,
      monaco.MarkerSeverity.Hint,
    ];
    monaco.editor.setModelMarkers(
      doc.model,
      'mimi',
      (params.diagnostics ?? []).map((d: Json) => ({
        ...toMonacoRange(d.range),
        startLineNumber: d.range.start.line + 1,
        startColumn: d.range.start.character + 1,
        endLineNumber: d.range.end.line + 1,
        endColumn: d.range.end.character + 1,
        message: d.message,
        severity: severity[d.severity ?? 1],
        source: d.source,
      })),
    );
  });
}
