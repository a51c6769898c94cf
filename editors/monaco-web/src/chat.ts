// The chat panel: mimi.chat with the conversation so far, tokens streamed through mimi/chatDelta,
// the final reply's citations as links that open the file at the cited range. Stop cancels
// the request ($/cancelRequest), which stops the model.
import { type Documents } from './documents';
import { Canceller, type Json, type LspClient, type Range } from './lsp';
import { type monaco } from './monaco';
import { toLspRange } from './features';
import { byId, h, renderMarkdown, toast } from './ui';

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

export class ChatPanel {
  private history: Message[] = [];
  private chatId = newChatId();
  private streaming: { chatId: string; text: string; el: HTMLElement; deltas: number } | null = null;
  private cancel: Canceller | null = null;
  private readonly log = byId('chat-log');
  private readonly input = byId<HTMLTextAreaElement>('chat-input');
  private readonly send = byId<HTMLButtonElement>('chat-send');
  private readonly stop = byId<HTMLButtonElement>('chat-stop');

  constructor(
    private readonly lsp: LspClient,
    private readonly docs: Documents,
    private readonly editor: monaco.editor.ICodeEditor,
    private readonly openAt: (path: string, range?: Range) => void,
  ) {
    lsp.onNotification('mimi/chatDelta', (params: Json) => this.onDelta(params));
    byId('chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.ask();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.ask();
      }
    });
    this.stop.addEventListener('click', () => this.cancel?.cancel());
    byId('chat-new').addEventListener('click', () => this.reset());
  }

  focus(): void {
    this.input.focus();
  }

  reset(): void {
    this.cancel?.cancel();
    this.history = [];
    this.chatId = newChatId();
    this.log.replaceChildren();
    this.focus();
  }

  private onDelta(params: Json): void {
    const s = this.streaming;
    if (!s || params?.chatId !== s.chatId || typeof params.delta !== 'string') return;
    s.text += params.delta;
    s.deltas += 1;
    s.el.replaceChildren(renderMarkdown(s.text));
    const bubble = s.el.parentElement;
    if (bubble) {
      bubble.classList.add('streaming');
      bubble.dataset.deltas = String(s.deltas);
    }
    this.log.scrollTop = this.log.scrollHeight;
  }

  async ask(): Promise<void> {
    const message = this.input.value.trim();
    if (!message || this.streaming) return;
    if (!this.lsp.hasCommand('mimi.chat')) {
      toast('This server has no chat (mimi.chat).', 'warning');
      return;
    }
    this.input.value = '';
    const args: Json = { chatId: this.chatId, message, history: [...this.history] };
    const doc = this.docs.current;
    if (doc && byId<HTMLInputElement>('chat-context').checked) {
      args.uri = doc.uri;
      const selection = this.editor.getSelection();
      if (selection && !selection.isEmpty()) args.range = toLspRange(selection);
    }
    await this.converse(message, 'mimi.chat', args);
  }

  /** "Mimi: explain" (a code action): the explanation streams into this panel. */
  async explain(args: Json): Promise<void> {
    if (this.streaming) return;
    const path = args?.uri ? this.docs.pathOf(args.uri) : null;
    const line = args?.range ? `:${args.range.start.line + 1}` : '';
    await this.converse(`Explain ${path ?? 'this code'}${line}`, 'mimi.explain', { ...args, chatId: this.chatId });
  }

  private async converse(message: string, command: string, args: Json): Promise<void> {
    this.log.append(h('div', { class: 'msg user' }, h('div', { class: 'body' }, message)));
    const body = h('div', { class: 'body' });
    const bubble = h('div', { class: 'msg assistant' }, body);
    this.log.append(bubble);
    this.log.scrollTop = this.log.scrollHeight;
    const streaming = { chatId: String(args.chatId), text: '', el: body, deltas: 0 };
    this.streaming = streaming;
    const cancel = new Canceller();
    this.cancel = cancel;
    this.send.hidden = true;
    this.stop.hidden = false;
    try {
      const result: Json = await this.lsp.executeCommand(command, [args], cancel);
      const reply = typeof result?.reply === 'string' ? result.reply : streaming.text;
      body.replaceChildren(renderMarkdown(reply));
      this.renderCitations(bubble, result?.citations ?? []);
      this.history.push({ role: 'user', content: message }, { role: 'assistant', content: reply });
    } catch (error) {
      const stopped = cancel.isCancellationRequested;
      const partial = streaming.text;
      body.replaceChildren(renderMarkdown(partial));
      bubble.append(
        h('div', { class: stopped ? 'muted' : 'error' }, stopped ? '(stopped)' : `Error: ${(error as Error).message}`),
      );
      if (partial) this.history.push({ role: 'user', content: message }, { role: 'assistant', content: partial });
    } finally {
      bubble.classList.remove('streaming');
      bubble.classList.add('done');
      this.streaming = null;
      this.cancel = null;
      this.send.hidden = false;
      this.stop.hidden = true;
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  private renderCitations(bubble: HTMLElement, citations: Json[]): void {
    if (!citations.length) return;
    const list = h('div', { class: 'citations' }, h('span', { class: 'muted' }, 'Sources: '));
    for (const citation of citations) {
      const path = this.docs.pathOf(citation.uri);
      if (path === null) continue;
      const line = (citation.range?.start?.line ?? 0) + 1;
      const link = h('a', { href: '#', class: 'citation', title: `${path}:${line}` }, `${path}:${line}`);
      link.dataset.path = path;
      link.addEventListener('click', (event) => {
        event.preventDefault();
        this.openAt(path, citation.range);
      });
      list.append(link, ' ');
    }
    bubble.append(list);
  }
}

function newChatId(): string {
  return `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
