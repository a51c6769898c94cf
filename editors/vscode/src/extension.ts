/**
 * Entry point of the Mimi VS Code extension: a thin client of the mimi-lsp language server.
 *
 * `activate` finds the `mimi-lsp` executable (serverPath.ts), starts it over stdio with
 * vscode-languageclient (which registers inline completion and code actions on its own), routes
 * the `mimi/*` notifications to the status bar and the chat view, sends the agent's edits to the
 * review (review.ts), and registers the Mimi commands (`commands()`: the one table of them).
 * Everything clever happens in the server; this file wires things up.
 */

import * as vscode from 'vscode';
import {
  type ApplyWorkspaceEditResult,
  CancellationToken,
  type ClientCapabilities,
  type ConfigurationParams,
  type InlineCompletionItem,
  type InlineCompletionList,
  LanguageClient,
  MessageType,
  ShowMessageNotification,
  type ShowMessageParams,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  type StaticFeature,
  TransportKind,
} from 'vscode-languageclient/node';
import { ChatViewProvider, CHAT_VIEW_ID } from './chatView';
import { CommitMessageWriter } from './commitMessage';
import { serverSettings } from './config';
import { type AgentEditContext, agentEditCommand, editSelection } from './editSelection';
import { Onboarding } from './onboarding';
import type {
  ChatDeltaNotification,
  IndexStatusNotification,
  ReindexResult,
  StatusNotification,
} from './protocol';
import { Commands, Notifications } from './protocol';
import { NextEdits } from './nextEdit';
import { EditReview } from './review';
import { setUp } from './setup';
import { openSettings } from './onboarding';
import { SearchPicker } from './search';
import { ServerCommands } from './serverCommands';
import { DedupingLog, pipeServerStderr } from './serverLog';
import { findServer, type FoundServer, ServerNotFoundError } from './serverPath';
import { showStatus, StatusBar } from './statusBar';
import { StatusModel } from './statusModel';

/** What `activate` returns: used by tests and by other extensions. */
export interface MimiApi {
  client(): LanguageClient | undefined;
  server: ServerCommands;
  status: StatusModel;
  statusBar: StatusBar;
  chat: ChatViewProvider;
  search: SearchPicker;
  review: EditReview;
  /** Next-edit suggestions (textDocument/copilotInlineEdit). */
  nextEdits: NextEdits;
  commitMessage: CommitMessageWriter;
  /** Resolves once the current start attempt finished (running, or failed with a message). */
  ready(): Promise<void>;
  restart(): Promise<void>;
  serverPath(): FoundServer | undefined;
}

class Mimi implements vscode.Disposable {
  client?: LanguageClient;
  found?: FoundServer;
  readonly status = new StatusModel();
  readonly statusBar: StatusBar;
  readonly server = new ServerCommands(() => this.client);
  readonly chat: ChatViewProvider;
  readonly search: SearchPicker;
  readonly review: EditReview;
  readonly onboarding: Onboarding;
  readonly nextEdits: NextEdits;
  readonly commitMessage: CommitMessageWriter;
  /** When each document last changed (typed before the server was ready: asked again once it is). */
  private readonly lastChange = new Map<string, number>();
  private starting: Promise<void> = Promise.resolve();
  private readonly clientDisposables: vscode.Disposable[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    this.statusBar = new StatusBar(this.status);
    this.chat = new ChatViewProvider(context.extensionUri, this.server, log);
    this.search = new SearchPicker(this.server, log);
    this.review = new EditReview(log);
    this.onboarding = new Onboarding(log);
    this.nextEdits = new NextEdits(() => this.client, log);
    this.commitMessage = new CommitMessageWriter(this.server, log);
    // Keys typed before the extension was even activated (a new window activates it only once
    // start-up finishes) left no record but the document's version: they count as typed now.
    const now = Date.now();
    for (const document of vscode.workspace.textDocuments) {
      if (document.version > 1) this.lastChange.set(document.uri.toString(), now);
    }
    context.subscriptions.push(
      this.review,
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length) this.lastChange.set(e.document.uri.toString(), Date.now());
      }),
    );
  }

  get agentEdits(): AgentEditContext {
    return { server: this.server, review: this.review, log: this.log };
  }

  start(): Promise<void> {
    this.starting = this.starting.then(() => this.doStart());
    return this.starting;
  }

  async restart(): Promise<void> {
    this.starting = this.starting.then(async () => {
      await this.doStop();
      await this.doStart();
    });
    return this.starting;
  }

  ready(): Promise<void> {
    return this.starting;
  }

  private setServer(state: Parameters<StatusModel['setServer']>[0], message?: string): void {
    this.status.setServer(state, message);
    this.statusBar.update();
  }

  private async doStart(): Promise<void> {
    const config = vscode.workspace.getConfiguration('mimi');
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    this.setServer('starting');
    try {
      this.found = findServer({
        configured: config.get<string>('server.path'),
        folders,
        trusted: vscode.workspace.isTrusted,
      });
    } catch (error) {
      this.found = undefined;
      const e = error as ServerNotFoundError;
      const message = `${e.message} ${e.fix ?? ''}`.trim();
      this.log.error(message);
      if (e.searched?.length) this.log.info(`Looked for: ${e.searched.join(', ')}`);
      this.setServer('missing', message);
      this.onboarding.serverMissing({ message, untrusted: e.untrusted });
      return;
    }
    this.log.info(`Starting ${this.found.command} (found via ${this.found.source})`);

    const args = [...(config.get<string[]>('server.args') ?? [])];
    const level = config.get<string>('logLevel');
    if (level && !args.includes('--log-level')) args.push('--log-level', level);
    const env = { ...process.env, ...(config.get<Record<string, string>>('server.env') ?? {}) };
    const serverOptions: ServerOptions = {
      command: this.found.command,
      args,
      transport: TransportKind.stdio,
      options: { env, cwd: folders[0] },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.log,
      // Server log lines at their own level (not all `[error]`); stdout carries only LSP.
      stdioOptions: { stdout: () => undefined, stderr: (input, channel) => pipeServerStderr(input, channel) },
      initializationOptions: serverSettings(config),
      synchronize: { configurationSection: 'mimi' },
      middleware: {
        workspace: {
          configuration: (params, token, next) => this.configuration(params, token, next),
          // The agent's edits: a diff with Apply / Discard (VS Code's preview left them unticked).
          handleApplyEdit: (params, next) =>
            this.review.handleApplyEdit(params, (p) => next(p, CancellationToken.None) as Thenable<ApplyWorkspaceEditResult>),
        },
        executeCommand: async (command, args, next) => {
          // "Mimi: explain" (a server code action) answers in the chat view, streamed.
          const arg = args[0] as { uri?: string; chatId?: string; instruction?: string } | undefined;
          if (command === Commands.explain && arg?.uri && !arg.chatId) {
            await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
            return this.chat.explain(arg as { uri: string });
          }
          // The agent's code actions: progress with Cancel, then the review.
          if (command === Commands.agentEdit) return agentEditCommand(this.agentEdits, arg);
          return next(command, args);
        },
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const result = await next(document, position, context, token);
          return withAcceptCommand(result, document.uri.toString());
        },
      },
    };

    const client = new LanguageClient('mimi', 'Mimi', serverOptions, clientOptions);
    client.registerFeature(new AgentActionsAsCommands());
    this.client = client;
    this.clientDisposables.push(
      client.onNotification(Notifications.status, (p: StatusNotification) => {
        this.status.applyStatus(p);
        this.statusBar.update();
      }),
      client.onNotification(Notifications.indexStatus, (p: IndexStatusNotification) => {
        this.status.applyIndex(p);
        this.statusBar.update();
      }),
      client.onNotification(Notifications.chatDelta, (p: ChatDeltaNotification) => {
        this.chat.onDelta(p);
        this.commitMessage.onDelta(p);
      }),
      client.onNotification(ShowMessageNotification.type, (p: ShowMessageParams) => this.showServerMessage(p)),
      client.onDidChangeState((e) => {
        if (e.newState === State.Running) this.setServer('running');
        else if (e.newState === State.Stopped && this.client === client) {
          this.setServer('stopped', 'The mimi-lsp server stopped. See the Mimi output for its log.');
        }
      }),
    );
    try {
      const since = Date.now();
      await client.start();
      this.setServer('running');
      this.onboarding.resolved();
      this.log.info('mimi-lsp is running');
      this.askAgainIfTypedWhileStarting(since);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(`mimi-lsp failed to start: ${message}`);
      this.setServer('stopped', `mimi-lsp failed to start: ${message}`);
      void vscode.window.showErrorMessage(`Mimi: mimi-lsp failed to start: ${message}`, 'Show Output').then((c) => {
        if (c) this.log.show();
      });
    }
  }

  /**
   * `window/showMessage`: as vscode-languageclient would, plus the way out when a model
   * backend is the problem (the server sent `mimi/status` for it just before).
   */
  private showServerMessage(params: ShowMessageParams): void {
    const show =
      params.type === MessageType.Error
        ? vscode.window.showErrorMessage
        : params.type === MessageType.Warning
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    const backend = [...this.status.health.values()].some(
      (h) => h.state !== 'ok' && h.message !== undefined && params.message.includes(h.message),
    );
    if (!backend || params.type === MessageType.Info) {
      void show(params.message);
      return;
    }
    void show(params.message, 'Set Up…', 'Open Settings').then((choice) => {
      if (choice === 'Set Up…') void vscode.commands.executeCommand('mimi.setUp');
      else if (choice === 'Open Settings') void openSettings('mimi.completion.url');
    });
  }

  /**
   * Keys typed while the server started asked nobody for ghost text (the provider registers
   * with the server): ask once now, so the user need not type again.
   */
  private askAgainIfTypedWhileStarting(since: number): void {
    const editor = vscode.window.activeTextEditor;
    const changed = editor && this.lastChange.get(editor.document.uri.toString());
    if (!editor || !changed || changed < since - 60_000) return;
    void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  }

  /** `workspace/configuration` for section `mimi`: only what the user set, server keys only. */
  private async configuration(
    params: ConfigurationParams,
    token: vscode.CancellationToken,
    next: (params: ConfigurationParams, token: vscode.CancellationToken) => unknown,
  ): Promise<unknown[]> {
    const ours = params.items.map((item) => item.section === 'mimi');
    const others = params.items.filter((_item, i) => !ours[i]);
    const theirs = others.length ? ((await next({ items: others }, token)) as unknown[]) : [];
    let j = 0;
    return params.items.map((item, i) => {
      if (!ours[i]) return theirs[j++] ?? null;
      const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
      return serverSettings(vscode.workspace.getConfiguration('mimi', scope));
    });
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const d of this.clientDisposables.splice(0)) d.dispose();
    if (client) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.log.warn(`stopping mimi-lsp: ${String(error)}`);
      }
    }
  }

  async reindex(): Promise<ReindexResult | undefined> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Mimi: reindexing' },
      async () => {
        try {
          const result = await this.server.execute<ReindexResult>(Commands.reindex, {});
          if (result?.message) {
            void vscode.window.showWarningMessage(`Mimi: ${result.message}`);
          } else {
            void vscode.window.showInformationMessage(
              `Mimi: indexed ${result?.files ?? 0} files (${result?.chunks ?? 0} chunks).`,
            );
          }
          return result;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          void vscode.window.showErrorMessage(`Mimi: reindex failed: ${message}`);
          return undefined;
        }
      },
    );
  }

  async dispose(): Promise<void> {
    this.nextEdits.dispose();
    this.review.dispose();
    this.chat.dispose();
    this.statusBar.dispose();
    await this.doStop();
  }
}

/**
 * Declares code-action resolve without `edit`: the server then gives its agent actions the
 * `mimi.agent.edit` command, whose edit comes back through `workspace/applyEdit` to the review
 * (a resolved `edit` would go straight to VS Code's Refactor Preview, unticked).
 */
class AgentActionsAsCommands implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const resolve = capabilities.textDocument?.codeAction?.resolveSupport;
    if (resolve) resolve.properties = resolve.properties.filter((p) => p !== 'edit');
  }
  initialize(): void {}
  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }
  clear(): void {}
}

/** Give each ghost-text item a command that tells the server it was accepted. */
function withAcceptCommand<T extends InlineCompletionItem[] | InlineCompletionList | vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined>(
  result: T,
  uri: string,
): T {
  if (!result) return result;
  const items = Array.isArray(result) ? result : (result as vscode.InlineCompletionList).items;
  for (const item of items as vscode.InlineCompletionItem[]) {
    item.command ??= { command: 'mimi.acceptedCompletion', title: 'Mimi: completion accepted', arguments: [uri] };
  }
  return result;
}

let instance: Mimi | undefined;

/** Every Mimi command, by id: the one place commands are registered. */
function commands(mimi: Mimi, log: vscode.LogOutputChannel): Record<string, (...args: any[]) => unknown> {
  return {
    'mimi.openChat': async (question?: string) => {
      await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
      if (typeof question === 'string' && question.trim()) return mimi.chat.ask(question);
      return undefined;
    },
    'mimi.newChat': () => mimi.chat.clear(),
    'mimi.searchCodebase': (query?: string) => {
      const editor = vscode.window.activeTextEditor;
      const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
      const initial = typeof query === 'string' ? query : selected.includes('\n') ? '' : selected.trim();
      return mimi.search.show(initial);
    },
    'mimi.editSelection': (instruction?: string) =>
      editSelection(mimi.agentEdits, typeof instruction === 'string' ? instruction : undefined),
    'mimi.review.apply': () => mimi.review.answer('apply'),
    'mimi.review.discard': () => mimi.review.answer('discard'),
    'mimi.setUp': () => setUp(mimi.server),
    'mimi.reindexWorkspace': () => mimi.reindex(),
    'mimi.writeCommitMessage': (sourceControl?: { rootUri?: vscode.Uri }) => mimi.commitMessage.write(sourceControl),
    'mimi.showStatus': () =>
      showStatus({ server: mimi.server, model: mimi.status, serverPath: mimi.found?.command, log }),
    'mimi.showOutput': () => log.show(),
    'mimi.restartServer': () => mimi.restart(),
    'mimi.nextEdit.next': () => mimi.nextEdits.next(),
    'mimi.nextEdit.dismiss': () => mimi.nextEdits.clear(),
    'mimi.acceptedCompletion': (uri?: string) => {
      if (mimi.client?.isRunning()) void mimi.client.sendNotification(Notifications.didAcceptCompletion, { uri });
    },
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<MimiApi> {
  const log = new DedupingLog(vscode.window.createOutputChannel('Mimi', { log: true }));
  const mimi = new Mimi(context, log);
  instance = mimi;

  context.subscriptions.push(
    log,
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, mimi.chat, {
      webviewOptions: { retainContextWhenHidden: true },
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('mimi.server') || e.affectsConfiguration('mimi.logLevel')) {
        log.info('Server settings changed: restarting mimi-lsp');
        void mimi.restart();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (!mimi.client) void mimi.restart();
    }),
    ...Object.entries(commands(mimi, log)).map(([id, fn]) => vscode.commands.registerCommand(id, fn)),
  );

  void mimi.start();
  return {
    client: () => mimi.client,
    server: mimi.server,
    status: mimi.status,
    statusBar: mimi.statusBar,
    chat: mimi.chat,
    search: mimi.search,
    review: mimi.review,
    nextEdits: mimi.nextEdits,
    commitMessage: mimi.commitMessage,
    ready: () => mimi.ready(),
    restart: () => mimi.restart(),
    serverPath: () => mimi.found,
  };
}

export async function deactivate(): Promise<void> {
  const mimi = instance;
  instance = undefined;
  await mimi?.dispose();
}
