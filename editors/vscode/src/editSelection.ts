/**
 * Agent edits the user asked for: *Mimi: Edit Selection* and the agent's code actions.
 *
 * Both run `mimi.agent.edit {uri, range?, instruction}`: the server runs the agent and sends its
 * edit back with `workspace/applyEdit`, which review.ts shows as a diff with Apply / Discard.
 * While the agent works a notification says so and offers Cancel ($/cancelRequest stops the
 * agent); it closes as soon as the diff is up, so nothing stays on screen while the user reads.
 * The outcome is said once: the summary when applied, why when not.
 */

import * as vscode from 'vscode';
import type { AgentEditArgs, AgentEditResult } from './protocol';
import { Commands } from './protocol';
import type { EditReview } from './review';
import type { ServerCommands } from './serverCommands';

export interface AgentEditContext {
  server: ServerCommands;
  review: EditReview;
  log: vscode.LogOutputChannel;
}

/** `mimi.agent.edit` arguments for an editor: its document and non-empty selection. */
export function agentEditArgs(editor: vscode.TextEditor, instruction: string): AgentEditArgs {
  const args: AgentEditArgs = { uri: editor.document.uri.toString(), instruction };
  const sel = editor.selection;
  if (sel && !sel.isEmpty) {
    args.range = {
      start: { line: sel.start.line, character: sel.start.character },
      end: { line: sel.end.line, character: sel.end.character },
    };
  }
  return args;
}

async function askInstruction(selected: boolean): Promise<string | undefined> {
  const text = await vscode.window.showInputBox({
    title: 'Mimi: Edit Selection',
    prompt: selected ? 'What should change in the selected code?' : 'What should change in this file?',
    placeHolder: 'e.g. add type hints and a docstring',
    ignoreFocusOut: true,
  });
  return text?.trim() || undefined;
}

/** *Mimi: Edit Selection*: ask for an instruction, then run the agent on the selection. */
export async function editSelection(ctx: AgentEditContext, instruction?: string): Promise<AgentEditResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage('Mimi: open a file and select the code to edit first.');
    return undefined;
  }
  const text = instruction?.trim() || (await askInstruction(!editor.selection.isEmpty));
  if (!text) return undefined;
  return runAgentEdit(ctx, agentEditArgs(editor, text));
}

/** A code action's `mimi.agent.edit` (asks for the instruction when the action has none). */
export async function agentEditCommand(
  ctx: AgentEditContext,
  args: Partial<AgentEditArgs> | undefined,
): Promise<AgentEditResult | undefined> {
  if (!args?.uri) return editSelection(ctx);
  const instruction = args.instruction?.trim() || (await askInstruction(Boolean(args.range)));
  if (!instruction) return undefined;
  return runAgentEdit(ctx, { ...args, uri: args.uri, instruction });
}

/** Run the agent; the progress notification lasts until its edit is up for review. */
export async function runAgentEdit(ctx: AgentEditContext, args: AgentEditArgs): Promise<AgentEditResult | undefined> {
  let reviewed = false;
  let cancelled = false;
  let request!: Promise<AgentEditResult>;
  await vscode.window.withProgress(
    // The server's own $/progress (each agent step) shows in the status bar; this notification
    // carries the Cancel button.
    { location: vscode.ProgressLocation.Notification, title: 'Mimi is editing…', cancellable: true },
    (_progress, token) => {
      request = ctx.server.execute<AgentEditResult>(Commands.agentEdit, args, token);
      token.onCancellationRequested(() => {
        cancelled = true;
      });
      return new Promise<void>((resolve) => {
        const started = ctx.review.onDidStart(() => {
          reviewed = true;
          started.dispose();
          resolve();
        });
        void request.then(
          () => (started.dispose(), resolve()),
          () => (started.dispose(), resolve()),
        );
      });
    },
  );
  try {
    const result = await request;
    if (cancelled) return undefined;
    if (result?.applied) {
      const n = result.files?.length ?? 0;
      const files = n ? ` (${n} file${n === 1 ? '' : 's'})` : '';
      void vscode.window.showInformationMessage(`Mimi: ${result.summary || 'edit applied'}${files}`);
    } else if (!reviewed) {
      // Nothing was proposed: say why (a discarded review needs no message).
      void vscode.window.showInformationMessage(
        `Mimi: no edit was made${result?.summary ? ` — ${result.summary}` : '.'}`,
      );
    }
    return result;
  } catch (error) {
    if (cancelled) return undefined;
    const message = error instanceof Error ? error.message : String(error);
    ctx.log.error(`mimi.agent.edit failed: ${message}`);
    void vscode.window.showErrorMessage(`Mimi: edit failed: ${message}`);
    return undefined;
  }
}
