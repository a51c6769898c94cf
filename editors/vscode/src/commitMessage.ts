/**
 * "Mimi: Write Commit Message" (a button in the Source Control title bar): asks the server's
 * `mimi.git.commitMessage` for a message written from the repository's staged diff (or its
 * working tree's) and fills the Source Control input box with it as the model writes
 * (`mimi/chatDelta` with our chatId), through VS Code's built-in git extension. Cancelling the
 * progress notification cancels the request, which stops the model.
 */

import * as vscode from 'vscode';
import type { ChatDeltaNotification } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

/** The parts of the built-in git extension's API (vscode.git, version 1) used here. */
interface GitRepository {
  rootUri: vscode.Uri;
  inputBox: { value: string };
}
interface GitApi {
  repositories: GitRepository[];
}

interface CommitMessageResult {
  message: string;
  chatId: string;
  staged: boolean;
  files: number;
  summarised: boolean;
}

export class CommitMessageWriter {
  private pending?: { chatId: string; box: { value: string }; text: string };

  constructor(
    private readonly server: ServerCommands,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The built-in git extension's repositories (none when it is disabled or missing). */
  private async repositories(): Promise<GitRepository[]> {
    const extension = vscode.extensions.getExtension<{ getAPI(version: 1): GitApi }>('vscode.git');
    if (!extension) return [];
    const exports = extension.isActive ? extension.exports : await extension.activate();
    return exports?.getAPI(1)?.repositories ?? [];
  }

  /** The repository the button was pressed for, else the active editor's, else the first. */
  private async pick(sourceControl?: { rootUri?: vscode.Uri }): Promise<GitRepository | undefined> {
    const repositories = await this.repositories();
    const wanted = sourceControl?.rootUri ?? vscode.window.activeTextEditor?.document.uri;
    if (wanted) {
      const inside = repositories
        .filter((r) => wanted.fsPath === r.rootUri.fsPath || wanted.fsPath.startsWith(r.rootUri.fsPath + '/'))
        .sort((a, b) => b.rootUri.fsPath.length - a.rootUri.fsPath.length);
      if (inside[0]) return inside[0];
    }
    return repositories[0];
  }

  /** Fill the Source Control input box with a message for the repository's changes. */
  async write(sourceControl?: { rootUri?: vscode.Uri }): Promise<string | undefined> {
    const repository = await this.pick(sourceControl);
    if (!repository) {
      void vscode.window.showWarningMessage('Mimi: no git repository is open (the Git extension shows none).');
      return undefined;
    }
    const chatId = `commit-${Math.random().toString(36).slice(2, 10)}`;
    const before = repository.inputBox.value;
    this.pending = { chatId, box: repository.inputBox, text: '' };
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.SourceControl, title: 'Mimi: writing the commit message', cancellable: true },
        async (_progress, token) => {
          const result = await this.server.execute<CommitMessageResult>(
            Commands.commitMessage,
            { folder: repository.rootUri.toString(), chatId },
            token,
          );
          if (token.isCancellationRequested) return undefined;
          repository.inputBox.value = result.message;
          if (result.summarised) {
            this.log.info('Commit message: the diff was larger than the model budget; it was summarised per file.');
          }
          return result.message;
        },
      );
    } catch (error) {
      repository.inputBox.value = before;
      const message = error instanceof Error ? error.message : String(error);
      if (!/cancel/i.test(message)) void vscode.window.showWarningMessage(`Mimi: ${message}`);
      return undefined;
    } finally {
      this.pending = undefined;
    }
  }

  /** A `mimi/chatDelta`: append to the input box being written, if it is ours. */
  onDelta(payload: ChatDeltaNotification): void {
    const pending = this.pending;
    if (!pending || payload.chatId !== pending.chatId) return;
    pending.text += payload.delta;
    pending.box.value = pending.text;
  }
}
