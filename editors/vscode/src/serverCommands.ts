/**
 * Calling the server's custom commands (`workspace/executeCommand`) with cancellation.
 *
 * The request goes straight through the client rather than `vscode.commands.executeCommand`,
 * so it works as soon as the client is running and a CancellationToken reaches the server as
 * `$/cancelRequest`.
 */

import type * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';

export class ServerNotRunningError extends Error {
  constructor() {
    super('mimi-lsp is not running. Run "Mimi: Show Status" for details.');
    this.name = 'ServerNotRunningError';
  }
}

export class ServerCommands {
  constructor(private readonly client: () => LanguageClient | undefined) {}

  /** Run `command` on the server with one argument object. */
  async execute<T>(command: string, args?: unknown, token?: vscode.CancellationToken): Promise<T> {
    const client = this.client();
    if (!client || !client.isRunning()) throw new ServerNotRunningError();
    const params = { command, arguments: args === undefined ? [] : [args] };
    return (await client.sendRequest(ExecuteCommandRequest.type, params, token)) as T;
  }
}
