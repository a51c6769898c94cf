/**
 * What a new user sees before Mimi works: the server is missing, or it needs the folder trusted.
 *
 * One notification at a time: a restart that fails the same way (after trusting the folder, or a
 * settings change) does not stack a second copy. Its buttons fix the problem where the user is:
 * *Choose File…* writes `mimi.server.path`, and *Open Settings* opens the tab that really lists
 * the setting (a `machine-overridable` setting shows only under *Remote* in a remote window such
 * as code-server).
 */

import * as path from 'node:path';
import * as vscode from 'vscode';

const SERVER_PATH = 'mimi.server.path';

/** Open the Settings UI on `query`, in the tab that shows machine settings in this window. */
export function openSettings(query: string): Thenable<unknown> {
  const command = vscode.env.remoteName ? 'workbench.action.openRemoteSettings' : 'workbench.action.openSettings';
  return vscode.commands.executeCommand(command, { query });
}

/** Ask for the mimi-lsp executable with a file dialog and save it as `mimi.server.path`. */
export async function chooseServerFile(): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Mimi: choose the mimi-lsp executable',
    openLabel: 'Use this mimi-lsp',
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
  });
  const file = picked?.[0]?.fsPath;
  if (!file) return undefined;
  await vscode.workspace.getConfiguration('mimi').update('server.path', file, vscode.ConfigurationTarget.Global);
  return file;
}

export interface MissingServer {
  message: string;
  /** A workspace venv's server that is used once the folder is trusted. */
  untrusted?: { folder: string; candidate: string };
}

export class Onboarding {
  private shown?: string;

  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** Tell the user the server is missing; not again while the same message is still up. */
  serverMissing(problem: MissingServer): void {
    const untrusted = problem.untrusted;
    const text = untrusted
      ? `Mimi will use ${path.relative(untrusted.folder, untrusted.candidate).split(path.sep).join('/')} ` +
        `of ${path.basename(untrusted.folder)} once you trust this folder (that runs the folder's own code).`
      : `Mimi: ${problem.message}`;
    if (this.shown === text) return;
    this.shown = text;
    const buttons = untrusted
      ? ['Manage Workspace Trust', 'Choose File…']
      : ['Choose File…', 'Open Settings', 'Show Output'];
    const show = untrusted ? vscode.window.showInformationMessage : vscode.window.showErrorMessage;
    void show(text, ...buttons).then(async (choice) => {
      if (this.shown === text) this.shown = undefined;
      if (choice === 'Choose File…') {
        const file = await chooseServerFile();
        if (file) this.log.info(`mimi.server.path set to ${file}`);
      } else if (choice === 'Open Settings') {
        await openSettings(SERVER_PATH);
      } else if (choice === 'Manage Workspace Trust') {
        await vscode.commands.executeCommand('workbench.trust.manage');
      } else if (choice === 'Show Output') {
        this.log.show();
      }
    });
  }

  /** The server runs: a later failure may be said again. */
  resolved(): void {
    this.shown = undefined;
  }
}
