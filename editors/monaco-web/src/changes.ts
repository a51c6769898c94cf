// The Changes view: the folder's git status (staged, changed, untracked), a file's diff on click,
// stage/unstage, a commit message box that mimi.git.commitMessage fills as the model writes
// (mimi/chatDelta), and Commit. Git runs on the server (api/git/*); the message comes from this
// tab's language server like any client's.
import { ApiError, type GitChange, api } from './api';
import { Canceller, type Json, type LspClient } from './lsp';
import { languageFor, monaco } from './monaco';
import { byId, h, overlay, toast } from './ui';

const LABELS: Record<string, string> = {
  M: 'modified',
  A: 'added',
  D: 'deleted',
  R: 'renamed',
  C: 'copied',
  T: 'type changed',
  U: 'conflict',
  '?': 'untracked',
};

export class ChangesPanel {
  private readonly list = byId('changes-list');
  private readonly status = byId('changes-status');
  private readonly message = byId<HTMLTextAreaElement>('commit-message');
  private readonly write = byId<HTMLButtonElement>('commit-write');
  private readonly commit = byId<HTMLButtonElement>('commit-run');
  private writing: { chatId: string; cancel: Canceller } | null = null;

  constructor(
    private readonly lsp: LspClient,
    private readonly onCommitted: () => void,
  ) {
    lsp.onNotification('mimi/chatDelta', (params: Json) => {
      if (this.writing && params?.chatId === this.writing.chatId) this.message.value += String(params.delta ?? '');
    });
    this.write.addEventListener('click', () => (this.writing ? this.writing.cancel.cancel() : void this.writeMessage()));
    this.commit.addEventListener('click', () => void this.runCommit());
    byId('changes-refresh').addEventListener('click', () => void this.refresh());
    this.message.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        void this.runCommit();
      }
    });
  }

  focus(): void {
    void this.refresh();
    this.message.focus();
  }

  async refresh(): Promise<void> {
    let status;
    try {
      status = await api.git.status();
    } catch (error) {
      this.status.textContent = (error as Error).message;
      return;
    }
    this.list.replaceChildren();
    if (!status.repository) {
      this.status.textContent = `${status.error ?? 'Not a git repository.'} ${status.fix ?? ''}`;
      this.commit.disabled = this.write.disabled = true;
      return;
    }
    const changes = status.changes ?? [];
    const staged = changes.filter((c) => c.index !== '.' && c.index !== '?');
    const unstaged = changes.filter((c) => c.worktree !== '.');
    const where = status.branch ? `On ${status.branch}` : '';
    this.status.textContent = status.problem ?? (changes.length ? where : `${where}: nothing to commit`);
    this.status.classList.toggle('problem', Boolean(status.problem));
    this.commit.disabled = this.write.disabled = Boolean(status.problem) || !changes.length;
    this.commit.textContent = staged.length ? 'Commit' : 'Commit all';
    this.commit.title = staged.length
      ? 'Commit the staged changes (Ctrl+Enter)'
      : 'Nothing is staged: commit every tracked change (Ctrl+Enter)';
    if (staged.length) this.list.append(this.section('Staged', staged, true));
    if (unstaged.length) this.list.append(this.section('Changes', unstaged, false));
  }

  private section(title: string, changes: GitChange[], staged: boolean): HTMLElement {
    const items = changes.map((change) => {
      const letter = staged ? change.index : change.worktree;
      const name = change.path.split('/').pop() ?? change.path;
      const folder = change.path.slice(0, change.path.length - name.length).replace(/\/$/, '');
      const toggle = h('button', { class: 'icon', title: staged ? 'Unstage' : 'Stage' }, staged ? '−' : '+');
      toggle.addEventListener('click', (event) => {
        event.stopPropagation();
        void this.toggle(change.path, staged);
      });
      const row = h(
        'li',
        { class: 'change', tabindex: '0', 'data-path': change.path, title: `${change.path} (${LABELS[letter] ?? letter})` },
        h('span', { class: 'name' }, name),
        h('span', { class: 'folder muted' }, folder),
        h('span', { class: 'spacer' }),
        toggle,
        h('span', { class: `letter s-${letter === '?' ? 'U' : letter}` }, letter === '?' ? 'U' : letter),
      );
      const open = () => void this.showDiff(change, staged);
      row.addEventListener('click', open);
      row.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') open();
      });
      return row;
    });
    return h('li', { class: 'changes-group' }, h('div', { class: 'group-title' }, `${title} (${changes.length})`), h('ul', {}, ...items));
  }

  private async toggle(path: string, staged: boolean): Promise<void> {
    try {
      await (staged ? api.git.unstage([path]) : api.git.stage([path]));
    } catch (error) {
      toast((error as Error).message, 'error');
    }
    await this.refresh();
  }

  private async showDiff(change: GitChange, staged: boolean): Promise<void> {
    let texts;
    try {
      texts = await api.git.diff(change.path, staged);
    } catch (error) {
      toast(error instanceof ApiError ? error.message : String(error), 'warning');
      return;
    }
    const host = h('div', { class: 'review-diff' });
    const title = `${change.path} — ${staged ? 'HEAD ↔ staged' : 'staged ↔ working tree'}`;
    const box = h(
      'div',
      { class: 'review changes-diff', role: 'dialog', 'aria-label': title },
      h('div', { class: 'review-head' }, h('strong', {}, title), h('span', { class: 'spacer' }), h('span', { class: 'muted' }, 'Esc closes')),
      h('div', { class: 'review-body' }, host),
    );
    const language = languageFor(change.path);
    const original = monaco.editor.createModel(texts.original, language);
    const modified = monaco.editor.createModel(texts.modified, language);
    const diff = monaco.editor.createDiffEditor(host, {
      readOnly: true,
      originalEditable: false,
      automaticLayout: true,
      theme: 'vs-dark',
      renderSideBySide: true,
      minimap: { enabled: false },
    });
    overlay(box, {
      className: 'review-layer',
      onClose: () => {
        diff.dispose();
        original.dispose();
        modified.dispose();
      },
    });
    diff.setModel({ original, modified });
  }

  /** Ask the language server for a message; it streams into the box as the model writes. */
  async writeMessage(): Promise<void> {
    if (this.writing) return;
    if (!this.lsp.hasCommand('mimi.git.commitMessage')) {
      toast('This server cannot write commit messages (mimi.git.commitMessage).', 'warning');
      return;
    }
    const chatId = `commit-${Math.random().toString(36).slice(2, 10)}`;
    const cancel = new Canceller();
    const before = this.message.value;
    this.writing = { chatId, cancel };
    this.message.value = '';
    this.write.textContent = 'Stop';
    this.message.classList.add('streaming');
    try {
      const result: Json = await this.lsp.executeCommand('mimi.git.commitMessage', [{ chatId }], cancel);
      this.message.value = String(result?.message ?? this.message.value);
    } catch (error) {
      if (!cancel.isCancellationRequested) {
        this.message.value = before;
        toast(`Commit message: ${(error as Error).message}`, 'warning', 15000);
      }
    } finally {
      this.writing = null;
      this.write.textContent = 'Write message';
      this.message.classList.remove('streaming');
    }
  }

  async runCommit(): Promise<void> {
    const message = this.message.value.trim();
    if (!message) {
      toast('Write a commit message first (or let mimi write one).', 'warning');
      this.message.focus();
      return;
    }
    this.commit.disabled = true;
    try {
      const done = await api.git.commit(message);
      toast(`Committed ${done.commit.slice(0, 7)}: ${done.subject}`, 'info', 6000);
      this.message.value = '';
      this.onCommitted();
    } catch (error) {
      toast((error as Error).message, 'error');
    } finally {
      await this.refresh();
    }
  }
}
