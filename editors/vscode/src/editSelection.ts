/**
 * Mimi: Edit Selection — an instruction for the agent, applied through VS Code's refactor preview.
 *
 * Sends `mimi.agent.edit` with the active document, the selection (if any) and the instruction.
 * The server runs the agent and applies its edits with `workspace/applyEdit`; its change
 * annotations carry `needsConfirmation`, so VS Code opens the Refactor Preview and nothing
 * changes until the user applies it. The command's result says what happened.
 */

import * as vscode from 'vscode';
import type { AgentEditArgs, AgentEditResult } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

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

export async function editSelection(
  server: ServerCommands,
  log: vscode.LogOutputChannel,
  instruction?: string,
): Promise<AgentEditResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage('Mimi: open a file and select the code to edit first.');
    return undefined;
  }
  const text =
    instruction ??
    (await vscode.window.showInputBox({
      title: 'Mimi: Edit Selection',
      prompt: editor.selection.isEmpty
        ? 'What should change in this file?'
        : 'What should change in the selected code?',
      placeHolder: 'e.g. add type hints and a docstring',
      ignoreFocusOut: true,
    }));
  if (!text || !text.trim()) return undefined;
  const args = agentEditArgs(editor, text.trim());

  return vscode.window.withProgress(
    // The server's own $/progress (each agent step) shows in the status bar; this notification
    // carries the Cancel button, which cancels the request ($/cancelRequest stops the agent).
    { location: vscode.ProgressLocation.Notification, title: 'Mimi is editing…', cancellable: true },
    async (_progress, token) => {
      try {
        const result = await server.execute<AgentEditResult>(Commands.agentEdit, args, token);
        if (token.isCancellationRequested) return undefined;
        if (result?.applied) {
          const files = result.files?.length ? ` (${result.files.length} file${result.files.length === 1 ? '' : 's'})` : '';
          void vscode.window.showInformationMessage(`Mimi: ${result.summary || 'edit applied'}${files}`);
        } else {
          void vscode.window.showInformationMessage(
            `Mimi: no edit applied${result?.summary ? ` — ${result.summary}` : ''}`,
          );
        }
        return result;
      } catch (error) {
        if (token.isCancellationRequested) return undefined;
        const message = error instanceof Error ? error.message : String(error);
        log.error(`mimi.agent.edit failed: ${message}`);
        void vscode.window.showErrorMessage(`Mimi: edit failed: ${message}`);
        return undefined;
      }
    },
  );
}
