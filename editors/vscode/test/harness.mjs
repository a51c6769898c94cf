// Loads the BUNDLED extension (out/extension.js) with test/vscode-stub.cjs standing in for the
// `vscode` module, and activates it against the real mimi-lsp server of this repository.
import * as fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const here = path.dirname(fileURLToPath(import.meta.url));
export const extensionRoot = path.resolve(here, '..');
export const repoRoot = path.resolve(extensionRoot, '..', '..');
export const bundle = path.join(extensionRoot, 'out', 'extension.js');
const stubPath = path.join(here, 'vscode-stub.cjs');

/** The repo's server executable; tests fail with the fix when it is missing. */
export function serverExecutable() {
  const exe = process.env.MIMI_LSP || path.join(repoRoot, '.venv', 'bin', 'mimi-lsp');
  if (!fs.existsSync(exe)) {
    throw new Error(`mimi-lsp not found at ${exe}: run \`make setup-python\` at the repository root`);
  }
  return exe;
}

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, ...rest) {
  if (request === 'vscode') return stubPath;
  return originalResolve.call(this, request, ...rest);
};

/** Settings for the scripted fake backend (the server's test backend), no debounce, no index. */
export function fakeSettings({ replies = ['a + b'], chatReplies, delayMs = 0, chunkChars } = {}) {
  const backend = { kind: 'fake', replies, delayMs };
  if (chatReplies) backend.chatReplies = chatReplies;
  if (chunkChars) backend.chunkChars = chunkChars;
  return {
    'mimi.completion.backend': backend,
    'mimi.completion.debounceMs': 0,
    'mimi.index.enabled': false,
  };
}

/** A temporary workspace folder with a few files. */
export function makeWorkspace(files = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimi-vscode-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/**
 * A freshly loaded bundle and stub, activated. `settings` are user settings by full key.
 * Returns { api, vscode, stub, context, deactivate }.
 */
export async function activate({ settings = {}, folders = [], trusted = true, wait = true } = {}) {
  delete require.cache[stubPath];
  delete require.cache[bundle];
  const vscode = require('vscode');
  const stub = vscode.__stub;
  for (const [k, v] of Object.entries(settings)) stub.settings.set(k, v);
  vscode.workspace.workspaceFolders = folders.map((f, index) => ({
    uri: vscode.Uri.file(f),
    name: path.basename(f),
    index,
  }));
  vscode.workspace.isTrusted = trusted;
  const extension = require(bundle);
  const context = {
    subscriptions: [],
    extensionUri: vscode.Uri.file(extensionRoot),
    extensionPath: extensionRoot,
    asAbsolutePath: (p) => path.join(extensionRoot, p),
    globalState: memento(),
    workspaceState: memento(),
    extensionMode: vscode.ExtensionMode.Test,
    logUri: vscode.Uri.file(os.tmpdir()),
    storageUri: undefined,
    globalStorageUri: vscode.Uri.file(os.tmpdir()),
  };
  const api = await extension.activate(context);
  if (wait) await api.ready();
  return {
    api,
    vscode,
    stub,
    context,
    async deactivate() {
      await extension.deactivate();
      for (const d of context.subscriptions) d?.dispose?.();
    },
  };
}

function memento() {
  const map = new Map();
  return { get: (k, d) => (map.has(k) ? map.get(k) : d), update: async (k, v) => map.set(k, v), keys: () => [...map.keys()] };
}

/** Resolves when `predicate()` is truthy (polled on notifications and timers, bounded). */
export async function until(predicate, { timeoutMs = 20000, what = 'condition' } = {}) {
  const start = Date.now();
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A cancellation token that is never cancelled. */
export function noCancel(vscode) {
  return new vscode.CancellationTokenSource().token;
}

/**
 * A model-server stand-in of the repository (tests/standins: the real wire protocol) as a child
 * process: `kind` 'ollama' or 'openai', `args` its command-line options. Resolves with
 * { url, stop() } once it listens.
 */
export async function standin(kind, args = []) {
  const { spawn } = await import('node:child_process');
  const python = process.env.MIMI_PYTHON || path.join(repoRoot, '.venv', 'bin', 'python');
  const proc = spawn(python, ['-m', `tests.standins.${kind}`, '--port', '0', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let buffer = '';
    proc.stdout.on('data', (d) => {
      buffer += String(d);
      const match = /^READY (\S+)/m.exec(buffer);
      if (match) resolve(match[1]);
    });
    proc.once('exit', (code) => reject(new Error(`the ${kind} stand-in exited (${code})`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
