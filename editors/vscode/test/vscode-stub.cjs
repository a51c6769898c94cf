// A stand-in for the `vscode` module, enough for the bundled extension and vscode-languageclient
// to run under `node --test` against the real mimi-lsp server.
//
// It keeps real state where the extension depends on it (documents with versions and edits,
// settings with inspect(), registered providers and commands, status bar items, webviews, quick
// picks) and records what the extension shows, so tests can assert on it and drive the UI
// (`stub.ui.answers` scripts input boxes and pickers). Anything not modelled is a harmless
// generic class (see the Proxy at the end), so a new vscode-languageclient feature cannot crash
// activation just because this stub does not know it.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL, fileURLToPath } = require('node:url');

// ------------------------------------------------------------------ events and disposables

class Disposable {
  constructor(fn) {
    this._fn = fn;
  }
  static from(...items) {
    return new Disposable(() => items.forEach((i) => i && i.dispose && i.dispose()));
  }
  dispose() {
    if (this._fn) this._fn();
    this._fn = undefined;
  }
}

class EventEmitter {
  constructor() {
    this._listeners = new Set();
    this.event = (listener, thisArg, disposables) => {
      const fn = thisArg ? listener.bind(thisArg) : listener;
      this._listeners.add(fn);
      const d = new Disposable(() => this._listeners.delete(fn));
      if (Array.isArray(disposables)) disposables.push(d);
      return d;
    };
  }
  fire(value) {
    for (const fn of [...this._listeners]) {
      try {
        fn(value);
      } catch (error) {
        process.stderr.write(`vscode-stub: listener failed: ${error && error.stack}\n`);
      }
    }
  }
  dispose() {
    this._listeners.clear();
  }
}

class CancellationError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'Canceled';
  }
}

class CancellationTokenSource {
  constructor() {
    const emitter = new EventEmitter();
    this._emitter = emitter;
    this.token = { isCancellationRequested: false, onCancellationRequested: emitter.event };
  }
  cancel() {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      this._emitter.fire(undefined);
    }
  }
  dispose() {
    this._emitter.dispose();
  }
}

// ------------------------------------------------------------------ positions and URIs

class Position {
  constructor(line, character) {
    this.line = line;
    this.character = character;
  }
  isBefore(o) {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  isBeforeOrEqual(o) {
    return this.isBefore(o) || this.isEqual(o);
  }
  isAfter(o) {
    return !this.isBeforeOrEqual(o);
  }
  isAfterOrEqual(o) {
    return !this.isBefore(o);
  }
  isEqual(o) {
    return this.line === o.line && this.character === o.character;
  }
  compareTo(o) {
    return this.isBefore(o) ? -1 : this.isEqual(o) ? 0 : 1;
  }
  translate(lineDelta = 0, characterDelta = 0) {
    if (typeof lineDelta === 'object') {
      characterDelta = lineDelta.characterDelta || 0;
      lineDelta = lineDelta.lineDelta || 0;
    }
    return new Position(this.line + lineDelta, this.character + characterDelta);
  }
  with(line = this.line, character = this.character) {
    if (typeof line === 'object') return new Position(line.line ?? this.line, line.character ?? this.character);
    return new Position(line, character);
  }
}

class Range {
  constructor(a, b, c, d) {
    if (typeof a === 'number') {
      this.start = new Position(a, b);
      this.end = new Position(c, d);
    } else {
      this.start = a;
      this.end = b;
    }
    if (this.end.isBefore(this.start)) [this.start, this.end] = [this.end, this.start];
  }
  get isEmpty() {
    return this.start.isEqual(this.end);
  }
  get isSingleLine() {
    return this.start.line === this.end.line;
  }
  contains(p) {
    if (p instanceof Range) return this.contains(p.start) && this.contains(p.end);
    return !p.isBefore(this.start) && !this.end.isBefore(p);
  }
  isEqual(o) {
    return this.start.isEqual(o.start) && this.end.isEqual(o.end);
  }
  with(start = this.start, end = this.end) {
    return new Range(start, end);
  }
}

class Selection extends Range {
  constructor(a, b, c, d) {
    super(a, b, c, d);
    this.anchor = typeof a === 'number' ? new Position(a, b) : a;
    this.active = typeof a === 'number' ? new Position(c, d) : b;
  }
  get isReversed() {
    return this.active.isBefore(this.anchor);
  }
}

class Uri {
  constructor(scheme, authority, pathPart, query, fragment) {
    this.scheme = scheme;
    this.authority = authority || '';
    this.path = pathPart || '';
    this.query = query || '';
    this.fragment = fragment || '';
  }
  static parse(value) {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!m) return new Uri('file', '', value);
    return new Uri(m[1], m[2], decodeURIComponent(m[3]), m[4], m[5]);
  }
  static file(p) {
    return Uri.parse(pathToFileURL(p).href);
  }
  static joinPath(base, ...parts) {
    return base.with({ path: path.posix.join(base.path, ...parts) });
  }
  static from(c) {
    return new Uri(c.scheme, c.authority, c.path, c.query, c.fragment);
  }
  get fsPath() {
    return this.scheme === 'file' ? fileURLToPath(`file://${this.path}`) : this.path;
  }
  with(change) {
    return new Uri(
      change.scheme ?? this.scheme,
      change.authority ?? this.authority,
      change.path ?? this.path,
      change.query ?? this.query,
      change.fragment ?? this.fragment,
    );
  }
  toString() {
    const p = this.path
      .split('/')
      .map((s) => encodeURIComponent(s))
      .join('/');
    let out = `${this.scheme}:`;
    if (this.authority || this.scheme === 'file') out += `//${this.authority}`;
    out += p;
    if (this.query) out += `?${this.query}`;
    if (this.fragment) out += `#${this.fragment}`;
    return out;
  }
  toJSON() {
    return { scheme: this.scheme, authority: this.authority, path: this.path, query: this.query, fragment: this.fragment };
  }
}

// ------------------------------------------------------------------ documents and editors

const EndOfLine = { LF: 1, CRLF: 2 };
const TextEditorRevealType = { Default: 0, InCenter: 1, InCenterIfOutsideViewport: 2, AtTop: 3 };

class TextLine {
  constructor(lineNumber, text, isLast) {
    this.lineNumber = lineNumber;
    this.text = text;
    this.range = new Range(lineNumber, 0, lineNumber, text.length);
    this.rangeIncludingLineBreak = isLast ? this.range : new Range(lineNumber, 0, lineNumber + 1, 0);
    this.firstNonWhitespaceCharacterIndex = text.length - text.trimStart().length;
    this.isEmptyOrWhitespace = text.trim().length === 0;
  }
}

class TextDocument {
  constructor(uri, languageId, text, version = 1) {
    this.uri = uri;
    this.languageId = languageId;
    this.version = version;
    this._text = text;
    this.isClosed = false;
    this.isDirty = false;
    this.eol = EndOfLine.LF;
    this.encoding = 'utf8';
  }
  get fileName() {
    return this.uri.fsPath;
  }
  get isUntitled() {
    return this.uri.scheme === 'untitled';
  }
  get lineCount() {
    return this._text.split('\n').length;
  }
  getText(range) {
    if (!range) return this._text;
    return this._text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }
  lineAt(lineOrPos) {
    const n = typeof lineOrPos === 'number' ? lineOrPos : lineOrPos.line;
    const lines = this._text.split('\n');
    return new TextLine(n, lines[n] ?? '', n === lines.length - 1);
  }
  offsetAt(pos) {
    const lines = this._text.split('\n');
    let offset = 0;
    for (let i = 0; i < Math.min(pos.line, lines.length); i++) offset += lines[i].length + 1;
    const line = lines[Math.min(pos.line, lines.length - 1)] ?? '';
    return Math.min(offset + Math.min(pos.character, line.length), this._text.length);
  }
  positionAt(offset) {
    const before = this._text.slice(0, Math.max(0, offset));
    const lines = before.split('\n');
    return new Position(lines.length - 1, lines[lines.length - 1].length);
  }
  validatePosition(p) {
    return this.positionAt(this.offsetAt(p));
  }
  validateRange(r) {
    return new Range(this.validatePosition(r.start), this.validatePosition(r.end));
  }
  getWordRangeAtPosition(p) {
    const line = this.lineAt(p.line).text;
    let s = p.character;
    let e = p.character;
    while (s > 0 && /\w/.test(line[s - 1])) s--;
    while (e < line.length && /\w/.test(line[e])) e++;
    return s === e ? undefined : new Range(p.line, s, p.line, e);
  }
  save() {
    return Promise.resolve(true);
  }
}

class TextEditor {
  constructor(document, selection) {
    this.document = document;
    this.selection = selection || new Selection(0, 0, 0, 0);
    this.selections = [this.selection];
    this.visibleRanges = [];
    this.options = {};
    this.viewColumn = 1;
  }
  async edit(callback) {
    const edits = [];
    callback({
      replace: (range, text) => edits.push({ range, text }),
      insert: (pos, text) => edits.push({ range: new Range(pos, pos), text }),
      delete: (range) => edits.push({ range, text: '' }),
      setEndOfLine() {},
    });
    for (const e of edits.reverse()) applyTextChange(this.document, e.range, e.text);
    return true;
  }
  revealRange() {}
  setDecorations() {}
}

// ------------------------------------------------------------------ language feature values

class MarkdownString {
  constructor(value = '', supportThemeIcons = false) {
    this.value = value;
    this.supportThemeIcons = supportThemeIcons;
  }
  appendText(t) {
    this.value += t;
    return this;
  }
  appendMarkdown(t) {
    this.value += t;
    return this;
  }
  appendCodeblock(code, lang = '') {
    this.value += `\n\`\`\`${lang}\n${code}\n\`\`\`\n`;
    return this;
  }
}

class SnippetString {
  constructor(value = '') {
    this.value = value;
  }
}

class InlineCompletionItem {
  constructor(insertText, range, command) {
    this.insertText = insertText;
    this.range = range;
    this.command = command;
  }
}

class InlineCompletionList {
  constructor(items) {
    this.items = items;
  }
}

class TextEdit {
  constructor(range, newText) {
    this.range = range;
    this.newText = newText;
  }
  static replace(range, newText) {
    return new TextEdit(range, newText);
  }
  static insert(pos, newText) {
    return new TextEdit(new Range(pos, pos), newText);
  }
  static delete(range) {
    return new TextEdit(range, '');
  }
}

class WorkspaceEdit {
  constructor() {
    this._entries = [];
    this._ops = [];
  }
  replace(uri, range, newText, metadata) {
    this._entries.push([uri, [new TextEdit(range, newText)], metadata]);
  }
  insert(uri, pos, newText, metadata) {
    this.replace(uri, new Range(pos, pos), newText, metadata);
  }
  delete(uri, range, metadata) {
    this.replace(uri, range, '', metadata);
  }
  set(uri, edits) {
    const list = (edits || []).map((e) => (Array.isArray(e) ? e[0] : e));
    this._entries.push([uri, list, (edits || []).map((e) => (Array.isArray(e) ? e[1] : undefined))]);
  }
  /** Test helper: the metadata (change annotations) attached to text edits and file operations. */
  metadata() {
    return [
      ...this._entries.flatMap(([, , m]) => (Array.isArray(m) ? m : [m])),
      ...this._ops.map((o) => o.metadata),
    ].filter(Boolean);
  }
  has(uri) {
    return this._entries.some(([u]) => u.toString() === uri.toString());
  }
  get(uri) {
    return this._entries.filter(([u]) => u.toString() === uri.toString()).flatMap(([, e]) => e);
  }
  entries() {
    return this._entries.map(([u, e]) => [u, e]);
  }
  createFile(uri, options, metadata) {
    this._ops.push({ kind: 'create', uri, options, metadata });
  }
  deleteFile(uri, options, metadata) {
    this._ops.push({ kind: 'delete', uri, options, metadata });
  }
  renameFile(oldUri, newUri, options, metadata) {
    this._ops.push({ kind: 'rename', oldUri, newUri, options, metadata });
  }
  get size() {
    return this._entries.length + this._ops.length;
  }
}

class Location {
  constructor(uri, rangeOrPosition) {
    this.uri = uri;
    this.range = rangeOrPosition;
  }
}

class CodeActionKind {
  constructor(value) {
    this.value = value;
  }
  append(part) {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
  contains(other) {
    return this.value === other.value || other.value.startsWith(`${this.value}.`);
  }
  intersects(other) {
    return this.contains(other) || other.contains(this);
  }
}
for (const [k, v] of Object.entries({
  Empty: '',
  QuickFix: 'quickfix',
  Refactor: 'refactor',
  RefactorExtract: 'refactor.extract',
  RefactorInline: 'refactor.inline',
  RefactorMove: 'refactor.move',
  RefactorRewrite: 'refactor.rewrite',
  Source: 'source',
  SourceOrganizeImports: 'source.organizeImports',
  SourceFixAll: 'source.fixAll',
  Notebook: 'notebook',
})) {
  CodeActionKind[k] = new CodeActionKind(v);
}

class CodeAction {
  constructor(title, kind) {
    this.title = title;
    this.kind = kind;
  }
}

class ThemeColor {
  constructor(id) {
    this.id = id;
  }
}

class ThemeIcon {
  constructor(id, color) {
    this.id = id;
    this.color = color;
  }
}
ThemeIcon.File = new ThemeIcon('file');
ThemeIcon.Folder = new ThemeIcon('folder');

class RelativePattern {
  constructor(base, pattern) {
    this.baseUri = typeof base === 'string' ? Uri.file(base) : base.uri ?? base;
    this.base = this.baseUri.fsPath;
    this.pattern = pattern;
  }
}

class TabInputText {
  constructor(uri) {
    this.uri = uri;
  }
}
class TabInputTextDiff {
  constructor(original, modified) {
    this.original = original;
    this.modified = modified;
  }
}
class TabInputNotebook {
  constructor(uri, notebookType) {
    this.uri = uri;
    this.notebookType = notebookType;
  }
}
class TabInputCustom {
  constructor(uri, viewType) {
    this.uri = uri;
    this.viewType = viewType;
  }
}

// ------------------------------------------------------------------ enums

const InlineCompletionTriggerKind = { Invoke: 0, Automatic: 1 };
const StatusBarAlignment = { Left: 1, Right: 2 };
const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
const QuickPickItemKind = { Separator: -1, Default: 0 };
const LogLevel = { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 };
const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 };
const ViewColumn = { Active: -1, Beside: -2, One: 1, Two: 2, Three: 3 };
const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
const TextDocumentSaveReason = { Manual: 1, AfterDelay: 2, FocusOut: 3 };
const UIKind = { Desktop: 1, Web: 2 };
const ExtensionMode = { Production: 1, Development: 2, Test: 3 };
const CodeActionTriggerKind = { Invoke: 1, Automatic: 2 };
const TextDocumentChangeReason = { Undo: 1, Redo: 2 };

// ------------------------------------------------------------------ recorded UI state

const ui = {
  /** Messages shown with showInformation/Warning/ErrorMessage: {level, message, items}. */
  messages: [],
  /** Scripted answers, consumed in order: showInputBox, showQuickPick and message buttons. */
  answers: { inputBox: [], quickPick: [], message: [], openDialog: [] },
  quickPicks: [],
  shownQuickPicks: [],
  statusBarItems: [],
  outputChannels: [],
  webviewViews: new Map(),
  progress: [],
  shownDocuments: [],
  applyEditCalls: [],
  /** Text document content providers by scheme; `ui.content(uri)` reads one of their documents. */
  contentProviders: new Map(),
  content(uri) {
    const u = typeof uri === 'string' ? Uri.parse(uri) : uri;
    const provider = ui.contentProviders.get(u.scheme);
    return provider ? provider.provideTextDocumentContent(u) : undefined;
  },
  /** Context keys set with the `setContext` command. */
  context: new Map(),
  /** Called with (message) to let a test observe messages as they are shown. */
  onMessage: new EventEmitter(),
};

function showMessage(level) {
  return (message, ...rest) => {
    const items = rest.filter((r) => typeof r === 'string' || (r && r.title));
    const entry = { level, message, items, open: true };
    ui.messages.push(entry);
    ui.onMessage.fire(entry);
    const queued = ui.answers.message.shift();
    // As in VS Code, a message with buttons stays up until the user picks one (`entry.answer`)
    // or closes it (`entry.answer(undefined)`); one without buttons is done at once.
    if (queued !== undefined || items.length === 0) {
      entry.open = false;
      return Promise.resolve(queued);
    }
    return new Promise((resolve) => {
      entry.answer = (choice) => {
        entry.open = false;
        resolve(choice);
      };
    });
  };
}

function createOutputChannel(name, options) {
  const lines = [];
  const emitter = new EventEmitter();
  const channel = {
    name,
    lines,
    logLevel: LogLevel.Info,
    onDidChangeLogLevel: emitter.event,
    append: (v) => lines.push(v),
    appendLine: (v) => lines.push(v),
    replace: (v) => lines.splice(0, lines.length, v),
    clear: () => lines.splice(0),
    show() {
      channel.shown = true;
    },
    hide() {},
    dispose() {},
  };
  for (const level of ['trace', 'debug', 'info', 'warn', 'error']) {
    channel[level] = (msg, ...args) => lines.push(`[${level}] ${msg instanceof Error ? msg.message : msg}${args.length ? ' ' + args.join(' ') : ''}`);
  }
  channel.isLog = Boolean(options && options.log);
  ui.outputChannels.push(channel);
  return channel;
}

function createStatusBarItem(idOrAlignment, alignment, priority) {
  const item = {
    id: typeof idOrAlignment === 'string' ? idOrAlignment : undefined,
    alignment: typeof idOrAlignment === 'string' ? alignment : idOrAlignment,
    priority,
    text: '',
    tooltip: undefined,
    command: undefined,
    backgroundColor: undefined,
    visible: false,
    show() {
      item.visible = true;
    },
    hide() {
      item.visible = false;
    },
    dispose() {
      item.disposed = true;
    },
  };
  ui.statusBarItems.push(item);
  return item;
}

function createQuickPick() {
  const events = {
    value: new EventEmitter(),
    accept: new EventEmitter(),
    active: new EventEmitter(),
    selection: new EventEmitter(),
    hide: new EventEmitter(),
    button: new EventEmitter(),
  };
  const pick = {
    _items: [],
    get items() {
      return this._items;
    },
    set items(v) {
      this._items = v;
      this.activeItems = v.length ? [v[0]] : [];
      pick.itemsChanged.fire(v);
    },
    _value: '',
    get value() {
      return this._value;
    },
    set value(v) {
      this._value = v;
    },
    activeItems: [],
    selectedItems: [],
    busy: false,
    visible: false,
    title: undefined,
    placeholder: undefined,
    buttons: [],
    itemsChanged: new EventEmitter(),
    onDidChangeValue: events.value.event,
    onDidAccept: events.accept.event,
    onDidChangeActive: events.active.event,
    onDidChangeSelection: events.selection.event,
    onDidHide: events.hide.event,
    onDidTriggerButton: events.button.event,
    show() {
      pick.visible = true;
    },
    hide() {
      if (!pick.visible) return;
      pick.visible = false;
      events.hide.fire();
    },
    dispose() {
      pick.disposed = true;
    },
    /** Test helpers: type a value, accept an item. */
    type(value) {
      pick._value = value;
      events.value.fire(value);
    },
    accept(item) {
      const chosen = item ?? pick.activeItems[0];
      pick.selectedItems = chosen ? [chosen] : [];
      events.accept.fire();
    },
  };
  ui.quickPicks.push(pick);
  return pick;
}

// ------------------------------------------------------------------ settings

/** User settings by full key ('mimi.completion.model'); `stub.setConfiguration` changes them. */
const settings = new Map();
const defaults = new Map();

function getConfiguration(section, _scope) {
  const prefix = section ? `${section}.` : '';
  const full = (key) => (key ? prefix + key : section);
  const lookup = (key) => {
    const name = full(key);
    if (settings.has(name)) return settings.get(name);
    if (defaults.has(name)) return defaults.get(name);
    // Nested objects are assembled from dotted keys, as VS Code does.
    const nested = {};
    let found = false;
    for (const source of [defaults, settings]) {
      for (const [k, v] of source) {
        if (!k.startsWith(`${name}.`)) continue;
        found = true;
        const parts = k.slice(name.length + 1).split('.');
        let node = nested;
        for (const part of parts.slice(0, -1)) node = node[part] = node[part] ?? {};
        node[parts[parts.length - 1]] = v;
      }
    }
    return found ? nested : undefined;
  };
  const config = {
    get(key, defaultValue) {
      const v = lookup(key);
      return v === undefined ? defaultValue : v;
    },
    has(key) {
      return lookup(key) !== undefined;
    },
    inspect(key) {
      const name = full(key);
      return { key: name, defaultValue: defaults.get(name), globalValue: settings.get(name) };
    },
    update(key, value) {
      setConfiguration({ [full(key)]: value });
      return Promise.resolve();
    },
  };
  // VS Code configurations also answer property access for top-level keys.
  return new Proxy(config, {
    get(target, prop) {
      if (prop in target || typeof prop !== 'string') return target[prop];
      return lookup(prop);
    },
  });
}

function setConfiguration(values) {
  const changed = Object.keys(values);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) settings.delete(k);
    else settings.set(k, v);
  }
  events.configuration.fire({
    affectsConfiguration: (section) => changed.some((k) => k === section || k.startsWith(`${section}.`) || section.startsWith(`${k}.`)),
  });
}

// ------------------------------------------------------------------ workspace

const events = {
  open: new EventEmitter(),
  close: new EventEmitter(),
  change: new EventEmitter(),
  save: new EventEmitter(),
  willSave: new EventEmitter(),
  configuration: new EventEmitter(),
  folders: new EventEmitter(),
  trust: new EventEmitter(),
  activeEditor: new EventEmitter(),
  visibleEditors: new EventEmitter(),
  tabs: new EventEmitter(),
  createFiles: new EventEmitter(),
  renameFiles: new EventEmitter(),
  deleteFiles: new EventEmitter(),
};

const LANGUAGES = { '.py': 'python', '.js': 'javascript', '.ts': 'typescript', '.rs': 'rust', '.go': 'go', '.md': 'markdown' };

function applyTextChange(document, range, text) {
  const start = document.offsetAt(range.start);
  const end = document.offsetAt(range.end);
  const rangeLength = end - start;
  document._text = document._text.slice(0, start) + text + document._text.slice(end);
  document.version += 1;
  document.isDirty = true;
  events.change.fire({
    document,
    contentChanges: [{ range, rangeOffset: start, rangeLength, text }],
    reason: undefined,
  });
}

const workspace = {
  workspaceFolders: undefined,
  textDocuments: [],
  notebookDocuments: [],
  isTrusted: true,
  name: undefined,
  workspaceFile: undefined,
  onDidOpenTextDocument: events.open.event,
  onDidCloseTextDocument: events.close.event,
  onDidChangeTextDocument: events.change.event,
  onDidSaveTextDocument: events.save.event,
  onWillSaveTextDocument: events.willSave.event,
  onDidChangeConfiguration: events.configuration.event,
  onDidChangeWorkspaceFolders: events.folders.event,
  onDidGrantWorkspaceTrust: events.trust.event,
  onDidCreateFiles: events.createFiles.event,
  onDidRenameFiles: events.renameFiles.event,
  onDidDeleteFiles: events.deleteFiles.event,
  onWillCreateFiles: new EventEmitter().event,
  onWillRenameFiles: new EventEmitter().event,
  onWillDeleteFiles: new EventEmitter().event,
  onDidOpenNotebookDocument: new EventEmitter().event,
  onDidCloseNotebookDocument: new EventEmitter().event,
  onDidChangeNotebookDocument: new EventEmitter().event,
  onDidSaveNotebookDocument: new EventEmitter().event,
  getConfiguration,
  getWorkspaceFolder(uri) {
    return (workspace.workspaceFolders || []).find((f) => uri.toString().startsWith(f.uri.toString()));
  },
  asRelativePath(pathOrUri) {
    const p = typeof pathOrUri === 'string' ? pathOrUri : pathOrUri.fsPath;
    for (const f of workspace.workspaceFolders || []) {
      const rel = path.relative(f.uri.fsPath, p);
      if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
    }
    return p;
  },
  async openTextDocument(arg) {
    const uri = typeof arg === 'string' ? Uri.file(arg) : arg;
    const existing = workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (existing) return existing;
    const text = fs.readFileSync(uri.fsPath, 'utf8');
    return openDocument(uri, text, LANGUAGES[path.extname(uri.fsPath)] ?? 'plaintext');
  },
  async applyEdit(edit, metadata) {
    ui.applyEditCalls.push({ edit, metadata });
    if (workspace.applyEditAnswer === false) return false;
    for (const [uri, edits] of edit.entries()) {
      const doc = workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      if (!doc) continue;
      for (const e of [...edits].sort((a, b) => b.range.start.compareTo(a.range.start))) {
        applyTextChange(doc, e.range, e.newText);
      }
    }
    return true;
  },
  createFileSystemWatcher() {
    return {
      onDidCreate: new EventEmitter().event,
      onDidChange: new EventEmitter().event,
      onDidDelete: new EventEmitter().event,
      dispose() {},
    };
  },
  registerTextDocumentContentProvider(scheme, provider) {
    ui.contentProviders.set(scheme, provider);
    return new Disposable(() => ui.contentProviders.delete(scheme));
  },
  fs: {
    readFile: async (uri) => fs.readFileSync(uri.fsPath),
    stat: async (uri) => {
      const s = fs.statSync(uri.fsPath);
      return { type: s.isDirectory() ? 2 : 1, size: s.size, ctime: s.ctimeMs, mtime: s.mtimeMs };
    },
  },
};

/** Open a document as the editor would (fires onDidOpenTextDocument). */
function openDocument(uri, text, languageId = 'python') {
  const u = typeof uri === 'string' ? (uri.includes(':') ? Uri.parse(uri) : Uri.file(uri)) : uri;
  const doc = new TextDocument(u, languageId, text);
  workspace.textDocuments.push(doc);
  events.open.fire(doc);
  return doc;
}

function closeDocument(doc) {
  workspace.textDocuments = workspace.textDocuments.filter((d) => d !== doc);
  doc.isClosed = true;
  events.close.fire(doc);
}

// ------------------------------------------------------------------ window

const window = {
  activeTextEditor: undefined,
  visibleTextEditors: [],
  tabGroups: {
    all: [],
    activeTabGroup: { tabs: [] },
    onDidChangeTabs: events.tabs.event,
    onDidChangeTabGroups: new EventEmitter().event,
    close: async () => true,
  },
  onDidChangeActiveTextEditor: events.activeEditor.event,
  onDidChangeVisibleTextEditors: events.visibleEditors.event,
  onDidChangeTextEditorSelection: new EventEmitter().event,
  onDidChangeWindowState: new EventEmitter().event,
  onDidChangeActiveColorTheme: new EventEmitter().event,
  state: { focused: true },
  showInformationMessage: showMessage('info'),
  showWarningMessage: showMessage('warning'),
  showErrorMessage: showMessage('error'),
  createOutputChannel,
  createStatusBarItem,
  createQuickPick,
  createTextEditorDecorationType() {
    return { dispose() {} };
  },
  showQuickPick(items, options) {
    return Promise.resolve(items).then((list) => {
      ui.shownQuickPicks.push({ items: list, options });
      const answer = ui.answers.quickPick.shift();
      return typeof answer === 'function' ? answer(list) : answer;
    });
  },
  showOpenDialog(options) {
    ui.openDialogs = ui.openDialogs || [];
    ui.openDialogs.push(options);
    const answer = ui.answers.openDialog ? ui.answers.openDialog.shift() : undefined;
    return Promise.resolve(answer ? [Uri.file(answer)] : undefined);
  },
  showInputBox(options) {
    ui.inputBoxes = ui.inputBoxes || [];
    ui.inputBoxes.push(options);
    return Promise.resolve(ui.answers.inputBox.shift());
  },
  async withProgress(options, task) {
    const source = new CancellationTokenSource();
    const record = { options, reports: [], source };
    ui.progress.push(record);
    try {
      return await task({ report: (v) => record.reports.push(v) }, source.token);
    } finally {
      record.done = true;
    }
  },
  async showTextDocument(docOrUri, options) {
    const doc = docOrUri instanceof TextDocument ? docOrUri : await workspace.openTextDocument(docOrUri);
    const sel = options && options.selection;
    const editor = new TextEditor(doc, sel ? new Selection(sel.start, sel.end) : undefined);
    window.activeTextEditor = editor;
    window.visibleTextEditors = [editor];
    ui.shownDocuments.push({ uri: doc.uri.toString(), selection: sel, options });
    events.activeEditor.fire(editor);
    return editor;
  },
  registerWebviewViewProvider(viewId, provider, options) {
    ui.webviewViews.set(viewId, { provider, options });
    return new Disposable(() => ui.webviewViews.delete(viewId));
  },
  registerTreeDataProvider() {
    return new Disposable();
  },
  registerUriHandler() {
    return new Disposable();
  },
};

/** A resolved webview view for `viewId`: records posts, lets the test send messages. */
function resolveWebviewView(viewId) {
  const entry = ui.webviewViews.get(viewId);
  if (!entry) throw new Error(`no webview view provider registered for ${viewId}`);
  const fromPage = new EventEmitter();
  const disposeEmitter = new EventEmitter();
  const posted = [];
  const postedEmitter = new EventEmitter();
  const webview = {
    options: {},
    html: '',
    cspSource: 'vscode-resource:',
    onDidReceiveMessage: fromPage.event,
    postMessage(message) {
      posted.push(message);
      postedEmitter.fire(message);
      return Promise.resolve(true);
    },
    asWebviewUri: (uri) => uri.with({ scheme: 'vscode-resource' }),
  };
  const view = {
    viewType: viewId,
    webview,
    visible: true,
    onDidDispose: disposeEmitter.event,
    onDidChangeVisibility: new EventEmitter().event,
    show() {},
  };
  entry.provider.resolveWebviewView(view, {}, new CancellationTokenSource().token);
  return {
    view,
    posted,
    onPosted: postedEmitter.event,
    /** Send a message as the page's script would. */
    send: (message) => fromPage.fire(message),
    /** Resolves with the first posted message for which `predicate` is true. */
    waitFor(predicate, timeoutMs = 20000) {
      const hit = posted.find(predicate);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`webview message not posted in ${timeoutMs} ms`)), timeoutMs);
        const d = postedEmitter.event((m) => {
          if (predicate(m)) {
            clearTimeout(timer);
            d.dispose();
            resolve(m);
          }
        });
      });
    },
  };
}

// ------------------------------------------------------------------ languages and commands

const providers = {};
function registerProvider(kind) {
  return (selector, provider, ...rest) => {
    (providers[kind] = providers[kind] || []).push({ selector, provider, rest });
    return new Disposable(() => {
      providers[kind] = providers[kind].filter((p) => p.provider !== provider);
    });
  };
}

function matchOne(filter, doc) {
  if (typeof filter === 'string') return filter === '*' || filter === doc.languageId ? 10 : 0;
  if (filter.language && filter.language !== '*' && filter.language !== doc.languageId) return 0;
  if (filter.scheme && filter.scheme !== '*' && filter.scheme !== doc.uri.scheme) return 0;
  if (filter.notebookType) return 0;
  return filter.language && filter.language !== '*' ? 10 : 5;
}

const languages = new Proxy(
  {
    match(selector, doc) {
      const list = Array.isArray(selector) ? selector : [selector];
      return Math.max(0, ...list.map((f) => matchOne(f, doc)));
    },
    createDiagnosticCollection(name) {
      const map = new Map();
      return {
        name,
        set: (uri, diags) => (uri instanceof Uri ? map.set(uri.toString(), diags) : null),
        delete: (uri) => map.delete(uri.toString()),
        get: (uri) => map.get(uri.toString()),
        forEach: (fn) => map.forEach((v, k) => fn(Uri.parse(k), v)),
        clear: () => map.clear(),
        dispose: () => map.clear(),
      };
    },
    getLanguages: async () => Object.values(LANGUAGES),
    onDidChangeDiagnostics: new EventEmitter().event,
    setTextDocumentLanguage: async (doc, languageId) => {
      doc.languageId = languageId;
      return doc;
    },
  },
  {
    get(target, prop) {
      if (prop in target) return target[prop];
      if (typeof prop === 'string' && prop.startsWith('register')) {
        const kind = prop.replace(/^register/, '').replace(/Provider$/, '');
        target[prop] = registerProvider(kind.charAt(0).toLowerCase() + kind.slice(1));
        return target[prop];
      }
      return undefined;
    },
  },
);

const commandHandlers = new Map();
const executedCommands = [];
const commands = {
  registerCommand(id, fn, thisArg) {
    if (commandHandlers.has(id)) throw new Error(`command '${id}' already exists`);
    commandHandlers.set(id, thisArg ? fn.bind(thisArg) : fn);
    return new Disposable(() => commandHandlers.delete(id));
  },
  registerTextEditorCommand(id, fn) {
    return commands.registerCommand(id, (...args) => fn(window.activeTextEditor, undefined, ...args));
  },
  async executeCommand(id, ...args) {
    executedCommands.push({ id, args });
    if (id === 'setContext') ui.context.set(args[0], args[1]);
    const fn = commandHandlers.get(id);
    if (fn) return fn(...args);
    return undefined; // a built-in VS Code command: recorded only
  },
  async getCommands() {
    return [...commandHandlers.keys()];
  },
};

// ------------------------------------------------------------------ the module

const stub = {
  version: '1.100.0',
  env: {
    appName: 'Visual Studio Code',
    appRoot: '/tmp',
    language: 'en',
    machineId: 'stub',
    sessionId: 'stub',
    uriScheme: 'vscode',
    uiKind: UIKind.Desktop,
    remoteName: undefined,
    shell: '/bin/sh',
    clipboard: { readText: async () => '', writeText: async () => undefined },
    openExternal: async () => true,
    asExternalUri: async (u) => u,
    onDidChangeLogLevel: new EventEmitter().event,
    logLevel: LogLevel.Info,
  },
  extensions: { getExtension: () => undefined, all: [], onDidChange: new EventEmitter().event },
  Disposable,
  EventEmitter,
  CancellationError,
  CancellationTokenSource,
  Position,
  Range,
  Selection,
  Uri,
  TextEdit,
  WorkspaceEdit,
  Location,
  MarkdownString,
  SnippetString,
  InlineCompletionItem,
  InlineCompletionList,
  CodeAction,
  CodeActionKind,
  ThemeColor,
  ThemeIcon,
  RelativePattern,
  TabInputText,
  TabInputTextDiff,
  TabInputNotebook,
  TabInputCustom,
  EndOfLine,
  TextEditorRevealType,
  InlineCompletionTriggerKind,
  StatusBarAlignment,
  ProgressLocation,
  QuickPickItemKind,
  LogLevel,
  ConfigurationTarget,
  ViewColumn,
  DiagnosticSeverity,
  TextDocumentSaveReason,
  TextDocumentChangeReason,
  UIKind,
  ExtensionMode,
  CodeActionTriggerKind,
  workspace,
  window,
  languages,
  commands,
  // ---- test controls (not part of the real API)
  __stub: {
    ui,
    providers,
    commandHandlers,
    executedCommands,
    settings,
    defaults,
    events,
    setConfiguration,
    openDocument,
    closeDocument,
    applyTextChange,
    resolveWebviewView,
    TextDocument,
    TextEditor,
  },
};

/** Any other name: a plain class with enum-like static members, so imports never fail. */
function generic(name) {
  const cls = class {
    constructor(...args) {
      this.args = args;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return new Proxy(cls, {
    get(target, prop) {
      if (prop in target) return target[prop];
      return typeof prop === 'string' ? prop : undefined;
    },
  });
}

// Names vscode-languageclient reaches through `import * as code` (copied eagerly, so the Proxy
// below would not see them): classes it extends or constructs, and enums it reads.
for (const name of [
  'CallHierarchyItem', 'CallHierarchyIncomingCall', 'CallHierarchyOutgoingCall', 'CodeLens',
  'CompletionItem', 'CompletionList', 'CompletionItemKind', 'CompletionItemTag',
  'CompletionTriggerKind', 'Color', 'ColorInformation', 'ColorPresentation', 'Diagnostic',
  'DiagnosticRelatedInformation', 'DiagnosticTag', 'DocumentHighlight', 'DocumentHighlightKind',
  'DocumentLink', 'DocumentSymbol', 'FoldingRange', 'FoldingRangeKind', 'Hover', 'InlayHint',
  'InlayHintKind', 'InlayHintLabelPart', 'InlineValueEvaluatableExpression', 'InlineValueText',
  'InlineValueVariableLookup', 'LinkedEditingRanges', 'ParameterInformation', 'SelectionRange',
  'SemanticTokens', 'SemanticTokensEdit', 'SemanticTokensEdits', 'SemanticTokensLegend',
  'SignatureHelp', 'SignatureHelpTriggerKind', 'SignatureInformation', 'SnippetTextEdit',
  'SymbolInformation', 'SymbolKind', 'SymbolTag', 'TypeHierarchyItem', 'NotebookCellKind',
  'NotebookCellData', 'NotebookData', 'NotebookRange', 'NotebookEdit', 'DocumentDropEdit',
  'DocumentPasteEdit', 'TreeItem', 'TreeItemCollapsibleState', 'FileType', 'FileSystemError',
]) {
  if (!(name in stub)) stub[name] = generic(name);
}

module.exports = new Proxy(stub, {
  get(target, prop) {
    if (prop in target) return target[prop];
    if (typeof prop !== 'string' || prop === 'then' || prop === '__esModule' || prop === 'default') return undefined;
    target[prop] = /^[A-Z]/.test(prop) ? generic(prop) : {};
    return target[prop];
  },
});
