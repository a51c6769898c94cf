// A thin LSP client over a WebSocket (vscode-jsonrpc + vscode-ws-jsonrpc): connect, initialize,
// keep the open documents in sync, reconnect after a drop (a fresh server process each time),
// and hand server requests/notifications to the page. Positions are UTF-16, like Monaco's.
import {
  CancellationTokenSource,
  type CancellationToken,
  type MessageConnection,
  createMessageConnection,
} from 'vscode-jsonrpc/browser';
import { WebSocketMessageReader, WebSocketMessageWriter, toSocket } from 'vscode-ws-jsonrpc';

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

export type ConnectionState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface OpenDocument {
  uri: string;
  languageId: string;
  version: number;
  text: string;
}

type Handler = (params: Json) => Json | Promise<Json>;

/** Something cancellable from Monaco (or a plain AbortSignal-like object). */
export interface CancelHook {
  isCancellationRequested: boolean;
  onCancellationRequested: (listener: () => void) => unknown;
}

export class LspClient {
  state: ConnectionState = 'connecting';
  capabilities: Json = {};
  /** How many times a server session was initialized (1 on first load; more after drops). */
  sessions = 0;
  private connection: MessageConnection | undefined;
  private socket: WebSocket | undefined;
  private readonly requestHandlers = new Map<string, Handler>();
  private readonly notificationHandlers = new Map<string, Handler[]>();
  private readonly stateListeners: Array<(state: ConnectionState, detail?: string) => void> = [];
  private readonly readyListeners: Array<() => void> = [];
  private retry = 0;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly rootUri: string,
    private readonly rootName: string,
    /** Documents to (re)open after each initialize. */
    private readonly openDocuments: () => OpenDocument[],
    /** initializationOptions of each session (the page's own settings, if any). */
    private readonly initializationOptions: () => Json = () => null,
  ) {}

  onRequest(method: string, handler: Handler): void {
    this.requestHandlers.set(method, handler);
  }

  onNotification(method: string, handler: Handler): void {
    const list = this.notificationHandlers.get(method) ?? [];
    list.push(handler);
    this.notificationHandlers.set(method, list);
  }

  onState(listener: (state: ConnectionState, detail?: string) => void): void {
    this.stateListeners.push(listener);
  }

  /** Called after every successful initialize (first connect and each reconnect). */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  get ready(): boolean {
    return this.state === 'ready' && this.connection !== undefined;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close(1000);
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state, detail);
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    // addEventListener, not onopen/onclose: vscode-ws-jsonrpc's toSocket() takes those over.
    socket.addEventListener('open', () => {
      if (this.sessions === 0) performance.mark('mimi:ws-open');
      void this.initialize(socket);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.connection?.dispose();
      this.connection = undefined;
      if (this.stopped) {
        this.setState('closed');
        return;
      }
      const delay = Math.min(500 * 2 ** this.retry, 5000);
      this.retry += 1;
      this.setState('reconnecting', `connection lost (${event.code}); retrying in ${delay / 1000}s`);
      window.setTimeout(() => this.connect(), delay);
    });
  }

  private async initialize(socket: WebSocket): Promise<void> {
    const ws = toSocket(socket);
    // A message written while the server's socket is closing would only reach the console
    // ("WebSocket is already in CLOSING or CLOSED state"); the reconnect re-sends the documents.
    const send = ws.send.bind(ws);
    ws.send = (content: string) => {
      if (socket.readyState === WebSocket.OPEN) send(content);
    };
    const connection = createMessageConnection(
      new WebSocketMessageReader(ws),
      new WebSocketMessageWriter(ws),
    );
    for (const [method, handler] of this.requestHandlers) {
      connection.onRequest(method, (params: Json) => handler(params));
    }
    // Requests a thin client answers with defaults.
    const defaults: Record<string, Json> = {
      'workspace/configuration': (params: Json) => (params?.items ?? []).map(() => null),
      'client/registerCapability': () => null,
      'client/unregisterCapability': () => null,
      'window/workDoneProgress/create': () => null,
      'window/showMessageRequest': () => null,
      'workspace/workspaceFolders': () => [{ uri: this.rootUri, name: this.rootName }],
    };
    for (const [method, handler] of Object.entries(defaults)) {
      if (!this.requestHandlers.has(method)) connection.onRequest(method, handler);
    }
    for (const [method, handlers] of this.notificationHandlers) {
      connection.onNotification(method, (params: Json) => {
        for (const handler of handlers) {
          try {
            void handler(params);
          } catch (error) {
            console.error(`mimi: ${method} handler failed`, error);
          }
        }
      });
    }
    connection.onClose(() => {
      if (this.connection === connection) this.connection = undefined;
      connection.dispose(); // rejects what is still pending
    });
    connection.listen();
    this.connection = connection;
    try {
      const result: Json = await connection.sendRequest('initialize', {
        processId: null,
        clientInfo: { name: 'mimi-monaco-web', version: '0.1.0' },
        locale: navigator.language,
        rootUri: this.rootUri,
        workspaceFolders: [{ uri: this.rootUri, name: this.rootName }],
        initializationOptions: this.initializationOptions(),
        capabilities: CLIENT_CAPABILITIES,
      });
      this.capabilities = result?.capabilities ?? {};
      await connection.sendNotification('initialized', {});
      for (const doc of this.openDocuments()) this.didOpen(doc);
      this.retry = 0;
      if (this.sessions === 0) performance.mark('mimi:lsp-ready');
      this.sessions += 1;
      this.setState('ready');
      for (const listener of this.readyListeners) listener();
    } catch (error) {
      console.error('mimi: initialize failed', error);
      socket.close(4000);
    }
  }

  // ------------------------------------------------------------------ documents

  didOpen(doc: OpenDocument): void {
    void this.connection?.sendNotification('textDocument/didOpen', { textDocument: doc });
  }

  didChange(uri: string, version: number, contentChanges: Json[]): void {
    void this.connection?.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges,
    });
  }

  didClose(uri: string): void {
    void this.connection?.sendNotification('textDocument/didClose', { textDocument: { uri } });
  }

  didSave(uri: string, text: string): void {
    if (!this.capabilities?.textDocumentSync?.save) return;
    void this.connection?.sendNotification('textDocument/didSave', { textDocument: { uri }, text });
  }

  // ------------------------------------------------------------------ requests

  notify(method: string, params: Json): void {
    void this.connection?.sendNotification(method, params);
  }

  /** A request, cancelled ($/cancelRequest) when ``cancel`` fires. */
  async request<T = Json>(method: string, params: Json, cancel?: CancelHook): Promise<T> {
    const connection = this.connection;
    if (!connection || this.state !== 'ready') {
      throw new Error('the language server is not connected');
    }
    const source = new CancellationTokenSource();
    if (cancel) {
      // Cancelling sends $/cancelRequest, which throws once the connection is gone.
      const cancelQuietly = () => {
        if (this.connection !== connection) return; // closed: the request fails anyway
        try {
          source.cancel();
        } catch {
          /* closed meanwhile */
        }
      };
      if (cancel.isCancellationRequested) cancelQuietly();
      cancel.onCancellationRequested(cancelQuietly);
    }
    try {
      return (await connection.sendRequest(method, params, source.token as CancellationToken)) as T;
    } finally {
      source.dispose();
    }
  }

  executeCommand<T = Json>(command: string, args: Json[], cancel?: CancelHook): Promise<T> {
    return this.request<T>('workspace/executeCommand', { command, arguments: args }, cancel);
  }

  /** Whether the server lists ``command`` among its executeCommand commands. */
  hasCommand(command: string): boolean {
    return (this.capabilities?.executeCommandProvider?.commands ?? []).includes(command);
  }
}

/** A cancel hook the page triggers itself (e.g. the chat's Stop button). */
export class Canceller implements CancelHook {
  isCancellationRequested = false;
  private listeners: Array<() => void> = [];
  onCancellationRequested(listener: () => void): void {
    this.listeners.push(listener);
  }
  cancel(): void {
    if (this.isCancellationRequested) return;
    this.isCancellationRequested = true;
    for (const listener of this.listeners) listener();
  }
}

const CLIENT_CAPABILITIES = {
  general: { positionEncodings: ['utf-16'] },
  window: { workDoneProgress: true, showMessage: {} },
  workspace: {
    applyEdit: true,
    workspaceEdit: {
      documentChanges: true,
      resourceOperations: ['create'],
      failureHandling: 'abort',
      changeAnnotationSupport: { groupsOnLabel: true },
    },
    workspaceFolders: true,
    configuration: false,
    executeCommand: { dynamicRegistration: false },
    symbol: { dynamicRegistration: false },
  },
  textDocument: {
    synchronization: { dynamicRegistration: false, didSave: true, willSave: false },
    inlineCompletion: { dynamicRegistration: false },
    codeAction: {
      dynamicRegistration: false,
      isPreferredSupport: true,
      disabledSupport: true,
      dataSupport: true,
      resolveSupport: { properties: ['edit', 'command'] },
      codeActionLiteralSupport: {
        codeActionKind: {
          valueSet: [
            '',
            'quickfix',
            'refactor',
            'refactor.extract',
            'refactor.inline',
            'refactor.rewrite',
            'source',
            'source.organizeImports',
          ],
        },
      },
    },
    publishDiagnostics: { relatedInformation: false, versionSupport: true },
  },
};
