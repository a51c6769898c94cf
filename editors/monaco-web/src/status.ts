// The status bar: connection, backend health (mimi/status, mimi.status, /api/health), index
// progress (mimi/indexStatus, $/progress), long-running work, cursor and language.
import { type Health, api } from './api';
import { type ConnectionState, type Json, type LspClient } from './lsp';
import { type ToastAction, askUser, byId, h, toast } from './ui';

type Feature = 'completion' | 'chat';

const health: Record<Feature, { state: string; message?: string } | undefined> = {
  completion: undefined,
  chat: undefined,
};

function showHealth(feature: Feature, state: string, message?: string): void {
  health[feature] = { state, message };
  const el = byId(feature === 'completion' ? 'st-completion' : 'st-chat');
  el.hidden = false;
  el.dataset.state = state;
  const label = state === 'ok' ? 'ready' : state === 'checking' ? 'checking…' : state;
  el.textContent = `${feature}: ${label}`;
  el.title = `${message ? `${feature}: ${message}` : `${feature} backend: ${label}`} (click: model server)`;
}

const told = new Set<string>();

/** Where health comes from (the web server's probe, or this page's session) and how to fix it. */
let healthSource: () => Promise<Health> = () => api.health();
let setUp: (() => void) | null = null;

export function configureHealth(source: () => Promise<Health>, setup: () => void): void {
  healthSource = source;
  setUp = setup;
}

function fixIt(): ToastAction | undefined {
  const run = setUp;
  return run ? { label: 'Set up the model server…', run } : undefined;
}

/** Health as this page's language server sees it (mimi.status). */
export async function sessionHealth(lsp: LspClient): Promise<Health> {
  const status: Json = await lsp.executeCommand('mimi.status', []);
  return { completion: status?.backends?.completion, chat: status?.backends?.chat };
}

function applyHealth(result: Health): void {
  for (const feature of ['completion', 'chat'] as const) {
    const item = result[feature];
    if (!item) continue;
    const where = [item.kind, item.model].filter(Boolean).join(' ');
    const message = [where, item.message].filter(Boolean).join(': ');
    showHealth(feature, item.state, message);
    // Say what is wrong once, in words, not only as a red status item.
    const key = `${item.state}:${item.message ?? ''}`;
    if (item.state !== 'ok' && !told.has(key)) {
      told.add(key);
      const same = feature === 'chat' && result.completion?.message === item.message;
      if (!same) toast(`${feature === 'completion' ? 'Completion' : 'Chat'} backend (${where}) is ${item.state}: ${item.message ?? ''}`, 'warning', 20000, fixIt());
    }
  }
}

/** Ask the web server to probe the configured backends now (and again while unhealthy). */
export async function checkHealth(repeat = true): Promise<void> {
  try {
    applyHealth(await healthSource());
  } catch {
    /* the server is gone; the connection item says so */
  }
  if (!repeat) return;
  const bad = Object.values(health).some((h) => h && h.state !== 'ok');
  window.setTimeout(() => void checkHealth(), bad ? 15000 : 60000);
}

export function setupStatus(lsp: LspClient): void {
  showHealth('completion', 'checking');
  // Click a backend item: choose the model server (or, before that is wired, probe again).
  for (const feature of ['completion', 'chat'] as const) {
    const el = byId(feature === 'completion' ? 'st-completion' : 'st-chat');
    el.style.cursor = 'pointer';
    el.addEventListener('click', () => {
      if (setUp) {
        setUp();
        return;
      }
      void checkHealth(false).then(() => {
        const item = health[feature];
        toast(el.title, item && item.state !== 'ok' ? 'warning' : 'info', 6000);
      });
    });
  }
  const conn = byId('st-conn');
  lsp.onState((state: ConnectionState, detail?: string) => {
    conn.dataset.state = state;
    conn.textContent =
      state === 'ready' ? 'connected' : state === 'reconnecting' ? 'reconnecting…' : state;
    conn.title = detail ?? `language server: ${state}`;
    document.body.dataset.lsp = state;
  });
  lsp.onNotification('mimi/status', (params: Json) => {
    for (const feature of ['completion', 'chat'] as const) {
      if (typeof params?.[feature] === 'string') {
        const previous = health[feature]?.state;
        showHealth(feature, params[feature], params.message);
        if (params[feature] !== 'ok' && previous !== params[feature] && params.message) {
          toast(`${feature}: ${params.message}`, params[feature] === 'error' ? 'error' : 'warning', undefined, fixIt());
        }
      }
    }
  });
  lsp.onNotification('mimi/indexStatus', (params: Json) => showIndex(params));
  lsp.onNotification('window/showMessage', (params: Json) => {
    const kind = params.type === 1 ? 'error' : params.type === 2 ? 'warning' : 'info';
    const text = String(params.message);
    // A model server that cannot be used (mimi/status said so just before): offer the fix.
    const backend = Object.values(health).some((h) => h && h.state !== 'ok' && h.message && text.includes(h.message));
    toast(text, kind, undefined, kind !== 'info' && backend ? fixIt() : undefined);
  });
  lsp.onRequest('window/showMessageRequest', (params: Json) =>
    askUser(String(params.message), params.actions ?? [], params.type === 1 ? 'error' : params.type === 2 ? 'warning' : 'info'),
  );
  lsp.onNotification('window/logMessage', (params: Json) => {
    if (params.type === 1) console.error(`[mimi-lsp] ${params.message}`);
  });
  lsp.onNotification('$/progress', (params: Json) => {
    const value = params?.value ?? {};
    const el = byId('st-message');
    if (value.kind === 'end') el.textContent = '';
    else el.textContent = [value.title, value.message, value.percentage !== undefined ? `${value.percentage}%` : '']
      .filter(Boolean)
      .join(' ');
  });
  lsp.onReady(() => {
    void lsp
      .executeCommand('mimi.status', [])
      .then((status: Json) => {
        if (status?.index) showIndex(status.index);
        else if (!indexSeen) byId('st-index').textContent = 'index: off';
      })
      .catch(() => undefined);
  });
}

let indexSeen = false;

function showIndex(params: Json): void {
  indexSeen = true;
  const el = byId('st-index');
  const state = params?.state ?? 'ready';
  el.dataset.state = state;
  const files = Number(params?.files ?? 0).toLocaleString();
  const chunks = Number(params?.chunks ?? 0).toLocaleString();
  el.textContent =
    state === 'indexing'
      ? `index: indexing… ${files} files`
      : state === 'error'
        ? 'index: error'
        : state === 'disabled'
          ? 'index: off'
          : state === 'idle'
            ? 'index: waiting'
            : `index: ${files} files, ${chunks} chunks`;
  el.title = params?.message ?? `codebase index: ${state}`;
}

let busyCount = 0;

/** Show a long-running job with a Cancel link; returns the function that ends it. */
export function busy(label: string, cancel?: () => void): () => void {
  const bar = byId('statusbar');
  const item = h('span', { class: 'item busy', role: 'status' }, h('span', { class: 'spinner' }), ` ${label} `);
  if (cancel) {
    const link = h('button', { class: 'link', title: 'Cancel' }, 'cancel');
    link.addEventListener('click', () => {
      cancel();
      end();
    });
    item.append(link);
  }
  bar.insertBefore(item, byId('st-message'));
  busyCount += 1;
  document.body.dataset.busy = String(busyCount);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    item.remove();
    busyCount -= 1;
    document.body.dataset.busy = String(busyCount);
  };
  return end;
}

export function showCursor(line: number, column: number, language: string): void {
  byId('st-cursor').textContent = `Ln ${line}, Col ${column}`;
  byId('st-lang').textContent = language;
}
