// The mimi web IDE: file tree, tabs, Monaco with ghost text, code actions with diff preview,
// chat and search panels, and a status bar, all over one LSP connection to `mimi-lsp web`.
import './style.css';

import { ApiError, api } from './api';
import { ChangesPanel } from './changes';
import { ChatPanel } from './chat';
import { Documents } from './documents';
import {
  askAgent,
  inlineTiming,
  registerApplyEdit,
  registerCodeActions,
  registerDiagnostics,
  registerInlineCompletions,
  setCommandHooks,
} from './features';
import { registerNextEdits } from './nextEdit';
import { showHelp } from './help';
import { type Json, LspClient, type Range } from './lsp';
import { monaco } from './monaco';
import { SearchPanel } from './search';
import { TerminalPanel } from './terminal';
import { ModelServerSettings } from './setup';
import { checkHealth, configureHealth, sessionHealth, setupStatus, showCursor } from './status';
import { FileTree, type SymbolHit, quickOpen } from './tree';
import { byId, toast } from './ui';

type PanelName = 'search' | 'chat' | 'changes';

async function main(): Promise<void> {
  performance.mark('mimi:script');
  const info = await api.info();
  document.title = `${info.name} — mimi`;
  byId('folder-name').textContent = info.root;
  byId('folder-name').title = info.rootUri;

  const editor = monaco.editor.create(byId('editor'), {
    model: null,
    theme: 'vs-dark',
    automaticLayout: true,
    fontSize: 14,
    minimap: { enabled: false },
    inlineSuggest: { enabled: true, showToolbar: 'onHover' },
    lightbulb: { enabled: monaco.editor.ShowLightbulbIconMode.On },
    quickSuggestions: false,
    wordBasedSuggestions: 'off',
    stickyScroll: { enabled: true },
    scrollBeyondLastLine: false,
    renderWhitespace: 'selection',
  });

  const wsUrl = new URL(info.lsp, window.location.href);
  wsUrl.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  wsUrl.search = '';
  let docs: Documents | undefined;
  let modelServer: ModelServerSettings | undefined;
  const lsp = new LspClient(
    wsUrl.toString(),
    info.rootUri,
    info.name,
    () => docs?.openDocuments() ?? [],
    () => modelServer?.saved ?? null,
  );
  modelServer = new ModelServerSettings(lsp, info.root);
  const settings = modelServer;
  docs = new Documents(editor, lsp, info.rootUri, byId('tabs'));
  const documents = docs;

  const tree = new FileTree(byId('tree'), (path) => {
    void openAt(path);
    afterPick();
  });
  documents.onCreated = (path) => void tree.refresh().then(() => tree.reveal(path));
  const openAt = async (path: string, range?: Range) => {
    const doc = await documents.open(path, range);
    if (doc) void tree.reveal(path);
  };

  setupStatus(lsp);
  // Once this page chose its model server, health is its own session's (the web server's probe
  // knows only the settings it was started with).
  const openSetup = () => void settings.open().then((chosen) => chosen && void checkHealth(false));
  configureHealth(() => (settings.saved && lsp.ready ? sessionHealth(lsp) : api.health()), openSetup);
  // A server restarted with a new token refuses this page for good: say so instead of
  // reconnecting silently forever.
  let tokenWarned = false;
  lsp.onState((state) => {
    if (state !== 'reconnecting' || tokenWarned) return;
    api.info().catch((error) => {
      if (error instanceof ApiError && error.status === 401 && !tokenWarned) {
        tokenWarned = true;
        toast('The mimi-lsp web server no longer accepts this page (it was restarted). Open the new link it printed.', 'error', 600000);
      }
    });
  });
  registerInlineCompletions(lsp, documents);
  registerCodeActions(lsp, documents);
  const nextEdit = registerNextEdits(lsp, documents, editor);
  registerApplyEdit(lsp, documents);
  registerDiagnostics(lsp, documents);
  const chat = new ChatPanel(lsp, documents, editor, (p, r) => void openAt(p, r));
  const search = new SearchPanel(lsp, documents, (p, r) => void openAt(p, r));
  const changes = new ChangesPanel(lsp, () => void documents.syncFromDisk());
  const terminal = info.terminal ? new TerminalPanel(info.terminal) : null;
  byId('btn-terminal').hidden = terminal === null;
  setCommandHooks({
    explain: (args) => {
      openPanel('chat');
      void chat.explain(args);
    },
  });

  // ---------------------------------------------------------------- panels
  const panel = byId('panel');
  const showPanel = (name: PanelName | null) => {
    const current = panel.hidden ? null : panel.dataset.panel;
    const next = name === current ? null : name;
    panel.hidden = next === null;
    panel.dataset.panel = next ?? '';
    document.body.classList.toggle('panel-open', next !== null);
    byId('search-panel').hidden = next !== 'search';
    byId('chat-panel').hidden = next !== 'chat';
    byId('changes-panel').hidden = next !== 'changes';
    if (next === 'search') search.focus();
    else if (next === 'chat') chat.focus();
    else if (next === 'changes') changes.focus();
    else editor.focus();
  };
  const openPanel = (name: PanelName) => {
    if (!panel.hidden && panel.dataset.panel === name) {
      ({ search, chat, changes })[name].focus();
      return;
    }
    showPanel(name);
  };
  for (const button of Array.from(document.querySelectorAll('.close-panel'))) {
    button.addEventListener('click', () => showPanel(null));
  }
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      showPanel(null);
    }
  });
  // ---------------------------------------------------------------- file tree
  // Hidden with the ☰ button or Ctrl+B (remembered); narrow windows start without it.
  const narrow = window.matchMedia('(max-width: 760px)');
  const stored = localStorage.getItem('mimi:tree');
  const showTree = (show: boolean, remember = true) => {
    document.body.classList.toggle('tree-hidden', !show);
    byId('btn-tree').setAttribute('aria-expanded', String(show));
    if (remember) localStorage.setItem('mimi:tree', show ? 'shown' : 'hidden');
  };
  showTree(narrow.matches ? false : stored !== 'hidden', false);
  narrow.addEventListener('change', () => showTree(!narrow.matches && localStorage.getItem('mimi:tree') !== 'hidden', false));
  const toggleTree = () => showTree(document.body.classList.contains('tree-hidden'));
  byId('btn-tree').addEventListener('click', toggleTree);
  // On a narrow window the tree covers the editor: opening a file puts it away.
  const afterPick = () => {
    if (narrow.matches) showTree(false, false);
  };

  byId('btn-search').addEventListener('click', () => openPanel('search'));
  byId('btn-chat').addEventListener('click', () => openPanel('chat'));
  byId('btn-changes').addEventListener('click', () => openPanel('changes'));
  byId('btn-terminal').addEventListener('click', () => terminal?.toggle());
  byId('btn-help').addEventListener('click', () => showHelp());
  byId('btn-quickopen').addEventListener('click', () => goTo());
  byId('btn-refresh-tree').addEventListener('click', () => void tree.refresh());

  const findSymbols = async (query: string): Promise<SymbolHit[]> => {
    if (!lsp.capabilities.workspaceSymbolProvider) return [];
    const found: Json[] = (await lsp.request('workspace/symbol', { query })) ?? [];
    return found
      .map((s) => ({
        name: String(s.name),
        detail: String(s.containerName ?? ''),
        path: documents.pathOf(s.location?.uri ?? '') ?? '',
        range: s.location?.range,
      }))
      .filter((s) => s.path && s.range);
  };
  const goTo = (initial = '') =>
    void quickOpen((p, r) => void openAt(p, r), findSymbols, initial);

  // ---------------------------------------------------------------- keys
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyI, () => void askAgent(lsp, documents, editor));
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyMod.Shift | monaco.KeyCode.KeyP, () =>
    editor.trigger('keyboard', 'editor.action.quickCommand', null),
  );
  editor.addCommand(monaco.KeyCode.F1, () => showHelp());
  // VS Code's "trigger inline suggestion" key; Monaco leaves it unbound.
  editor.addCommand(monaco.KeyMod.Alt | monaco.KeyCode.Backslash, () => {
    // run() rejects with "Canceled" when typing supersedes the request: not an error.
    editor.getAction('editor.action.inlineSuggest.trigger')?.run().catch(() => undefined);
  });
  window.addEventListener(
    'keydown',
    (event) => {
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      let handled = true;
      if (ctrl && event.shiftKey && key === 's') void documents.saveAll();
      else if (ctrl && !event.shiftKey && key === 's') void documents.save();
      else if (ctrl && !event.shiftKey && key === 'p') goTo();
      else if (ctrl && event.shiftKey && key === 'f') openPanel('search');
      else if (ctrl && event.shiftKey && key === 'l') openPanel('chat');
      else if (ctrl && event.shiftKey && key === 'g') openPanel('changes');
      else if (ctrl && event.key === '`' && terminal) terminal.toggle();
      else if (ctrl && !event.shiftKey && key === 'b') toggleTree();
      else if (ctrl && !event.shiftKey && key === 'i' && !editor.hasTextFocus()) void askAgent(lsp, documents, editor);
      else if (event.altKey && key === 'w') void (documents.active && documents.close(documents.active));
      else if (event.altKey && event.key === 'PageDown') documents.cycle(1);
      else if (event.altKey && event.key === 'PageUp') documents.cycle(-1);
      else if (event.key === 'F1' && !editor.hasTextFocus()) showHelp();
      else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );
  let syncing = false;
  window.addEventListener('focus', () => {
    if (syncing) return;
    syncing = true;
    void Promise.all([documents.syncFromDisk(), tree.refresh()]).finally(() => {
      syncing = false;
    });
  });
  window.addEventListener('beforeunload', (event) => {
    if ([...documents.docs.values()].some((d) => documents.isDirty(d))) event.preventDefault();
  });

  // ---------------------------------------------------------------- status + session memory
  documents.onChange(() => {
    const doc = documents.current;
    const pos = editor.getPosition();
    if (doc && pos) showCursor(pos.lineNumber, pos.column, doc.model.getLanguageId());
    else showCursor(0, 0, '');
    tree.markActive(documents.active);
    sessionStorage.setItem(
      `mimi:${info.root}`,
      JSON.stringify({ open: documents.order, active: documents.active }),
    );
  });

  lsp.start();
  void checkHealth();
  await tree.refresh();

  // Reopen this tab's files after a reload; then honour #path:line.
  try {
    const saved = JSON.parse(sessionStorage.getItem(`mimi:${info.root}`) ?? '{}');
    for (const path of saved.open ?? []) await documents.load(path).catch(() => undefined);
    if (saved.active && documents.docs.has(saved.active)) documents.activate(saved.active);
  } catch {
    /* nothing saved */
  }
  const hash = decodeURIComponent(window.location.hash.slice(1));
  if (hash) {
    const [path, line] = hash.split(':');
    const n = Math.max(Number(line) || 1, 1) - 1;
    await openAt(path, { start: { line: n, character: 0 }, end: { line: n, character: 0 } });
  }

  // For tests and the curious: the page's moving parts.
  (window as unknown as { mimi: unknown }).mimi = { lsp, docs: documents, editor, monaco, inlineTiming, openAt, nextEdit, changes, terminal };
  document.body.dataset.ready = 'true';
}

// A superseded request ends with Monaco's "Canceled" error; it is not a failure, so it is not
// left to reach the console as an uncaught error.
const isCancellation = (value: unknown) =>
  value instanceof Error && value.name === 'Canceled' && value.message === 'Canceled';
window.addEventListener('unhandledrejection', (event) => {
  if (isCancellation(event.reason)) event.preventDefault();
});
window.addEventListener('error', (event) => {
  if (isCancellation(event.error)) event.preventDefault();
});

main().catch((error) => {
  console.error(error);
  toast(`mimi failed to start: ${(error as Error).message}`, 'error');
});
