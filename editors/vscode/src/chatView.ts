/**
 * The Chat view: a webview in the Mimi side bar that talks to `mimi.chat`.
 *
 * The webview (media/chat.js) posts what the user typed; this side sends `mimi.chat` with the
 * conversation so far and the active editor's file and selection, forwards `mimi/chatDelta`
 * tokens as they stream, then the final reply with its citations (clickable: they open the
 * location). Stop cancels the request, which vscode-languageclient turns into `$/cancelRequest`.
 */

import * as vscode from 'vscode';
import type { ChatArgs, ChatDeltaNotification, ChatHistoryMessage, ChatResult, LspLocation } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

export const CHAT_VIEW_ID = 'mimi.chatView';

/** Messages from the webview. */
type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'clear' }
  | { type: 'open'; uri: string; range?: LspLocation['range'] };

interface Pending {
  chatId: string;
  source: vscode.CancellationTokenSource;
  streamed: string;
}

let counter = 0;

function newChatId(): string {
  counter += 1;
  return `vscode-${Date.now().toString(36)}-${counter}`;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view?: vscode.WebviewView;
  private history: ChatHistoryMessage[] = [];
  private pending?: Pending;
  private readonly disposables: vscode.Disposable[] = [];
  /** Every message posted to the webview (kept short; tests and "Show Output" read it). */
  readonly posted: unknown[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: ServerCommands,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    this.disposables.push(
      view.webview.onDidReceiveMessage((message: FromWebview) => this.onMessage(message)),
      view.onDidDispose(() => {
        if (this.view === view) this.view = undefined;
      }),
    );
  }

  /** Ask a question as if typed into the view (used by commands and tests). */
  async ask(text: string): Promise<ChatResult | undefined> {
    const message = text.trim();
    if (!message) return undefined;
    const context = this.editorContext();
    return this.converse(message, contextLabel(context), (chatId, token) => {
      const args: ChatArgs = { chatId, message, history: [...this.history], ...context };
      return this.server.execute<ChatResult>(Commands.chat, args, token);
    });
  }

  /**
   * `mimi.explain` (the server's "Mimi: explain" code action) answered in this view: the
   * view's chatId makes the server stream the answer here instead of a message box.
   */
  async explain(args: { uri: string; range?: LspLocation['range'] }): Promise<ChatResult | undefined> {
    const label = contextLabel(args);
    return this.converse('Explain the selected code.', label, (chatId, token) =>
      this.server.execute<ChatResult>(Commands.explain, { ...args, chatId }, token),
    );
  }

  /** One turn: show the question, stream the answer, keep both in the history. */
  private async converse(
    message: string,
    context: string | undefined,
    send: (chatId: string, token: vscode.CancellationToken) => Promise<ChatResult>,
  ): Promise<ChatResult | undefined> {
    this.stop();
    const chatId = newChatId();
    const source = new vscode.CancellationTokenSource();
    const pending: Pending = { chatId, source, streamed: '' };
    this.pending = pending;
    this.post({ type: 'user', chatId, text: message, context });
    this.post({ type: 'start', chatId });
    try {
      const result = await send(chatId, source.token);
      const reply = result?.reply ?? pending.streamed;
      this.history.push({ role: 'user', content: message }, { role: 'assistant', content: reply });
      this.post({
        type: 'done',
        chatId,
        reply,
        citations: (result?.citations ?? []).map((c) => ({ ...c, label: this.label(c) })),
      });
      return result;
    } catch (error) {
      if (source.token.isCancellationRequested) {
        if (pending.streamed) {
          this.history.push(
            { role: 'user', content: message },
            { role: 'assistant', content: pending.streamed },
          );
        }
        this.post({ type: 'stopped', chatId });
      } else {
        const text = error instanceof Error ? error.message : String(error);
        this.log.error(`mimi.chat failed: ${text}`);
        this.post({ type: 'error', chatId, message: text });
      }
      return undefined;
    } finally {
      if (this.pending === pending) this.pending = undefined;
      source.dispose();
    }
  }

  /** A `mimi/chatDelta` notification: forward tokens of the answer being streamed. */
  onDelta(payload: ChatDeltaNotification): void {
    const pending = this.pending;
    if (!pending || payload.chatId !== pending.chatId) return;
    pending.streamed += payload.delta;
    this.post({ type: 'delta', chatId: payload.chatId, delta: payload.delta });
  }

  /** Cancel the answer being generated, if any. */
  stop(): void {
    this.pending?.source.cancel();
  }

  /** Forget the conversation. */
  clear(): void {
    this.stop();
    this.history = [];
    this.post({ type: 'clear' });
  }

  dispose(): void {
    this.stop();
    for (const d of this.disposables) d.dispose();
  }

  private async onMessage(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.post({ type: 'history', messages: this.history });
        break;
      case 'send':
        await this.ask(message.text);
        break;
      case 'stop':
        this.stop();
        break;
      case 'clear':
        this.clear();
        break;
      case 'open':
        await openLocation(message.uri, message.range);
        break;
    }
  }

  private post(message: Record<string, unknown>): void {
    this.posted.push(message);
    if (this.posted.length > 500) this.posted.splice(0, this.posted.length - 500);
    void this.view?.webview.postMessage(message);
  }

  private editorContext(): Pick<ChatArgs, 'uri' | 'range'> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return {};
    const uri = editor.document.uri.toString();
    const sel = editor.selection;
    if (!sel || sel.isEmpty) return { uri };
    return {
      uri,
      range: {
        start: { line: sel.start.line, character: sel.start.character },
        end: { line: sel.end.line, character: sel.end.character },
      },
    };
  }

  private label(location: LspLocation): string {
    const uri = vscode.Uri.parse(location.uri);
    const relative = vscode.workspace.asRelativePath(uri, false);
    return `${relative}:${location.range.start.line + 1}`;
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = Array.from({ length: 24 }, () => Math.floor(Math.random() * 36).toString(36)).join('');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css'));
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link href="${style}" rel="stylesheet">
<title>Mimi Chat</title>
</head>
<body>
<main id="log" aria-live="polite"></main>
<form id="composer">
  <textarea id="input" rows="3" placeholder="Ask about your code (Enter to send, Shift+Enter for a new line)"></textarea>
  <div class="buttons">
    <button type="submit" id="send">Send</button>
    <button type="button" id="stop" class="secondary" hidden>Stop</button>
    <button type="button" id="clear" class="secondary">New chat</button>
  </div>
</form>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}

function contextLabel(args: Pick<ChatArgs, 'uri' | 'range'>): string | undefined {
  if (!args.uri) return undefined;
  const name = vscode.workspace.asRelativePath(vscode.Uri.parse(args.uri), false);
  if (!args.range) return name;
  const first = args.range.start.line + 1;
  // A selection that ends at column 0 does not include that line.
  const last = args.range.end.character === 0 && args.range.end.line > args.range.start.line
    ? args.range.end.line
    : args.range.end.line + 1;
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

/** Open a document and select a range (LSP coordinates). */
export async function openLocation(
  uri: string,
  range?: LspLocation['range'],
  options: { preview?: boolean; preserveFocus?: boolean } = {},
): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  const selection = range
    ? new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character)
    : undefined;
  const editor = await vscode.window.showTextDocument(document, {
    selection,
    preview: options.preview ?? true,
    preserveFocus: options.preserveFocus ?? false,
  });
  if (selection) editor.revealRange(selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  return editor;
}
