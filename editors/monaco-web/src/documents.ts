// Open files: one Monaco model per file, tabs, dirty state, save, and LSP document sync
// (didOpen/didChange with incremental ranges straight from Monaco's change events).
import { ApiError, api } from './api';
import { type LspClient, type OpenDocument, type Range } from './lsp';
import { languageFor, monaco } from './monaco';
import { askUser, toast } from './ui';

export interface Doc {
  path: string;
  uri: string;
  model: monaco.editor.ITextModel;
  /** mtime string from the server when read/saved; null for a file not on disk yet. */
  mtime: string | null;
  savedAltVersion: number;
  viewState: monaco.editor.ICodeEditorViewState | null;
}

export class Documents {
  readonly docs = new Map<string, Doc>();
  order: string[] = [];
  active: string | null = null;
  private listeners: Array<() => void> = [];
  /** Called after a file that was not on disk yet has been saved (the tree must show it). */
  onCreated: (path: string) => void = () => undefined;
  private opening = new Map<string, Promise<Doc>>();

  constructor(
    private readonly editor: monaco.editor.IStandaloneCodeEditor,
    private readonly lsp: LspClient,
    private readonly rootUri: string,
    private readonly tabsEl: HTMLElement,
  ) {
    editor.onDidChangeCursorPosition(() => this.emit());
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private emit(): void {
    this.renderTabs();
    for (const listener of this.listeners) listener();
  }

  // ------------------------------------------------------------------ paths

  uriOf(path: string): string {
    return `${this.rootUri}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The folder-relative path of a file:// URI inside the folder, else null. */
  pathOf(uri: string): string | null {
    const prefix = `${this.rootUri}/`;
    if (!uri.startsWith(prefix)) {
      for (const doc of this.docs.values()) if (doc.uri === uri) return doc.path;
      return null;
    }
    try {
      return decodeURIComponent(uri.slice(prefix.length));
    } catch {
      return null;
    }
  }

  byUri(uri: string): Doc | undefined {
    const path = this.pathOf(uri);
    return path === null ? undefined : this.docs.get(path);
  }

  openDocuments(): OpenDocument[] {
    return [...this.docs.values()].map((doc) => ({
      uri: doc.uri,
      languageId: doc.model.getLanguageId(),
      version: doc.model.getVersionId(),
      text: doc.model.getValue(),
    }));
  }

  isDirty(doc: Doc): boolean {
    return doc.model.getAlternativeVersionId() !== doc.savedAltVersion;
  }

  get current(): Doc | undefined {
    return this.active ? this.docs.get(this.active) : undefined;
  }

  // ------------------------------------------------------------------ open / close

  /** Open ``path`` in a tab (reading it from disk once) without showing it. */
  async load(path: string, options: { create?: boolean } = {}): Promise<Doc> {
    const existing = this.docs.get(path);
    if (existing) return existing;
    const pending = this.opening.get(path);
    if (pending) return pending;
    const promise = (async () => {
      let text = '';
      let mtime: string | null = null;
      let uri = this.uriOf(path);
      const data = options.create ? await api.readIfExists(path) : await api.read(path);
      if (data.exists !== false) {
        text = data.text ?? '';
        mtime = data.mtime;
      }
      uri = data.uri ?? uri;
      const again = this.docs.get(path);
      if (again) return again;
      const model = monaco.editor.createModel(text, languageFor(path), monaco.Uri.parse(uri));
      const doc: Doc = {
        path,
        uri,
        model,
        mtime,
        savedAltVersion: mtime === null ? -1 : model.getAlternativeVersionId(),
        viewState: null,
      };
      model.onDidChangeContent((event) => {
        this.lsp.didChange(
          doc.uri,
          model.getVersionId(),
          event.changes.map((change) => ({
            range: {
              start: { line: change.range.startLineNumber - 1, character: change.range.startColumn - 1 },
              end: { line: change.range.endLineNumber - 1, character: change.range.endColumn - 1 },
            },
            rangeLength: change.rangeLength,
            text: change.text,
          })),
        );
        this.emit();
      });
      this.docs.set(path, doc);
      this.order.push(path);
      this.lsp.didOpen({
        uri: doc.uri,
        languageId: model.getLanguageId(),
        version: model.getVersionId(),
        text: model.getValue(),
      });
      this.emit();
      return doc;
    })();
    this.opening.set(path, promise);
    try {
      return await promise;
    } finally {
      this.opening.delete(path);
    }
  }

  /**
   * Open and show ``path``; with ``range``, put the cursor at its start, scroll it near the top
   * and mark it for a moment. Nothing is selected: a selection would go with the next chat
   * question as "the selected code".
   */
  async open(path: string, range?: Range): Promise<Doc | undefined> {
    let doc: Doc;
    try {
      doc = await this.load(path);
    } catch (error) {
      toast(`Cannot open ${path}: ${(error as Error).message}`, 'error');
      return undefined;
    }
    this.activate(path);
    if (range) {
      const start = { lineNumber: range.start.line + 1, column: range.start.character + 1 };
      this.editor.setPosition(start);
      this.editor.revealLineNearTop(start.lineNumber, monaco.editor.ScrollType.Immediate);
      this.flash(range);
    }
    this.editor.focus();
    return doc;
  }

  private flashes: monaco.editor.IEditorDecorationsCollection | null = null;

  /** Highlight ``range`` until the next edit or click elsewhere (or two seconds). */
  private flash(range: Range): void {
    this.flashes?.clear();
    const flashes = this.editor.createDecorationsCollection([
      {
        range: new monaco.Range(range.start.line + 1, 1, Math.max(range.start.line + 1, range.end.line + 1), 1),
        options: { isWholeLine: true, className: 'reveal-range' },
      },
    ]);
    this.flashes = flashes;
    window.setTimeout(() => flashes.clear(), 2000);
  }

  activate(path: string): void {
    const doc = this.docs.get(path);
    if (!doc) return;
    const previous = this.current;
    if (previous && previous !== doc) previous.viewState = this.editor.saveViewState();
    this.active = path;
    this.editor.setModel(doc.model);
    if (doc.viewState) this.editor.restoreViewState(doc.viewState);
    document.body.classList.add('has-editor');
    this.editor.layout();
    this.emit();
  }

  /** Close the tab (asking first, in the page, when it has unsaved changes). */
  async close(path: string): Promise<void> {
    const doc = this.docs.get(path);
    if (!doc) return;
    if (this.isDirty(doc)) {
      const answer = await askUser(`${path} has unsaved changes.`, [{ title: 'Save' }, { title: 'Close without saving' }, { title: 'Cancel' }], 'warning');
      if (!answer || answer.title === 'Cancel') return;
      if (answer.title === 'Save' && !(await this.save(path))) return;
      if (!this.docs.has(path)) return;
    }
    const index = this.order.indexOf(path);
    this.order.splice(index, 1);
    this.docs.delete(path);
    this.lsp.didClose(doc.uri);
    if (this.active === path) {
      const next = this.order[Math.min(index, this.order.length - 1)];
      this.active = null;
      if (next) this.activate(next);
      else {
        this.editor.setModel(null);
        document.body.classList.remove('has-editor');
      }
    }
    doc.model.dispose();
    this.emit();
  }

  cycle(step: number): void {
    if (!this.order.length) return;
    const index = this.active ? this.order.indexOf(this.active) : 0;
    const next = this.order[(index + step + this.order.length) % this.order.length];
    this.activate(next);
    this.editor.focus();
  }

  // ------------------------------------------------------------------ save

  async save(path: string | null = this.active, overwrite = false): Promise<boolean> {
    const doc = path ? this.docs.get(path) : undefined;
    if (!doc) return false;
    const text = doc.model.getValue();
    const altVersion = doc.model.getAlternativeVersionId();
    try {
      const created = doc.mtime === null;
      const saved = await api.save(doc.path, text, overwrite ? null : doc.mtime);
      doc.mtime = saved.mtime;
      if (created) this.onCreated(doc.path);
      doc.savedAltVersion = altVersion;
      this.lsp.didSave(doc.uri, text);
      this.emit();
      toast(`Saved ${doc.path}`, 'info', 1500);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        const answer = await askUser(
          `${doc.path} changed on disk since you opened it. Overwrite the file with your version?`,
          [{ title: 'Overwrite' }, { title: 'Keep the file on disk' }],
          'warning',
        );
        return answer?.title === 'Overwrite' ? this.save(path, true) : false;
      }
      toast(`Cannot save ${doc.path}: ${(error as Error).message}`, 'error');
      return false;
    }
  }

  async saveAll(): Promise<void> {
    for (const doc of this.docs.values()) if (this.isDirty(doc)) await this.save(doc.path);
  }

  /** Pick up changes made on disk by other programs (on window focus): a clean buffer is
   * reloaded (undoably), a modified one keeps its text and the next save asks first. */
  async syncFromDisk(): Promise<void> {
    for (const doc of [...this.docs.values()]) {
      if (doc.mtime === null) continue;
      let data;
      try {
        data = await api.readIfExists(doc.path);
      } catch {
        continue;
      }
      if (data.exists === false || data.mtime === doc.mtime || !this.docs.has(doc.path)) continue;
      if (this.isDirty(doc)) {
        toast(`${doc.path} changed on disk; your unsaved edits are kept (saving will ask).`, 'warning');
        continue;
      }
      const text = data.text ?? '';
      if (text !== doc.model.getValue()) {
        doc.model.pushStackElement();
        doc.model.pushEditOperations([], [{ range: doc.model.getFullModelRange(), text }], () => null);
        doc.model.pushStackElement();
        toast(`Reloaded ${doc.path} (changed on disk)`, 'info');
      }
      doc.mtime = data.mtime;
      doc.savedAltVersion = doc.model.getAlternativeVersionId();
      this.emit();
    }
  }

  // ------------------------------------------------------------------ tabs

  renderTabs(): void {
    const el = this.tabsEl;
    el.replaceChildren();
    for (const path of this.order) {
      const doc = this.docs.get(path);
      if (!doc) continue;
      const tab = document.createElement('div');
      tab.className = 'tab' + (path === this.active ? ' active' : '') + (this.isDirty(doc) ? ' dirty' : '');
      tab.setAttribute('role', 'tab');
      tab.setAttribute('aria-selected', String(path === this.active));
      tab.dataset.path = path;
      tab.title = path;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = path.split('/').pop() ?? path;
      const close = document.createElement('button');
      close.className = 'close';
      close.title = 'Close (Alt+W)';
      close.textContent = '×';
      close.addEventListener('click', (event) => {
        event.stopPropagation();
        void this.close(path);
      });
      tab.addEventListener('mousedown', (event) => {
        if (event.button === 1) {
          event.preventDefault();
          void this.close(path);
        }
      });
      tab.addEventListener('click', () => {
        this.activate(path);
        this.editor.focus();
      });
      tab.append(name, close);
      el.append(tab);
    }
  }
}
