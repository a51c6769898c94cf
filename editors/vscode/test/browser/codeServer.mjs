// Real VS Code in a real browser: code-server 4.100.3 (installed by scripts/install-code-server.sh)
// with the packaged .vsix installed, driven by playwright-core through Debian's Chromium.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { extensionRoot, repoRoot, serverExecutable } from '../harness.mjs';

export const codeServerBin =
  process.env.CODE_SERVER || path.join(repoRoot, '.artifacts', 'code-server', 'node_modules', '.bin', 'code-server');
export const vsixPath = path.join(extensionRoot, 'mimi-lsp.vsix');
export const screenshotDir = path.join(repoRoot, '.artifacts', 'screenshots', 'vscode');

/** Why the browser tests cannot run here, or undefined when they can. */
export function missingTools() {
  const missing = [];
  if (!fs.existsSync(codeServerBin)) missing.push(`code-server (${codeServerBin}; run make setup-vscode)`);
  if (!chromiumPath()) missing.push('chromium (run make setup-system)');
  if (!fs.existsSync(vsixPath)) missing.push(`${vsixPath} (run make setup-vscode)`);
  return missing.length ? missing.join(', ') : undefined;
}

export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Start code-server on a workspace folder with `settings` as user settings and the .vsix
 * installed; open it in Chromium. Returns { page, browser, folder, url, logs, close }.
 * `fresh`: a new user's profile instead: no settings file at all, workspace trust on (the
 * trust dialog comes up), and no mimi-lsp on the server's PATH.
 */
export async function launch({ files = {}, settings = {}, fresh = false } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mimi-code-server-'));
  const folder = path.join(root, 'project');
  const userData = path.join(root, 'user-data');
  const extensions = path.join(root, 'extensions');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
    fs.writeFileSync(path.join(folder, name), text);
  }
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  if (!fresh) fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'mimi.server.path': serverExecutable(),
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'workbench.enableExperiments': false,
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'extensions.ignoreRecommendations': true,
        'update.mode': 'none',
        'chat.commandCenter.enabled': false,
        'editor.inlineSuggest.enabled': true,
        'editor.minimap.enabled': false,
        'window.commandCenter': false,
        'files.autoSave': 'off',
        ...settings,
      },
      null,
      2,
    ),
  );
  const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
  execFileSync(codeServerBin, [...common, '--install-extension', vsixPath], { stdio: 'pipe' });

  const port = await freePort();
  const logs = [];
  const proc = spawn(
    codeServerBin,
    [
      ...common,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      ...(fresh ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      folder,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PASSWORD: undefined, ...(fresh ? { PATH: pathWithoutServer() } : {}) } },
  );
  proc.stdout.on('data', (d) => logs.push(String(d)));
  proc.stderr.on('data', (d) => logs.push(String(d)));
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60000, () => logs.join(''));

  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 850 } });
  const page = await context.newPage();
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`;
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
  return {
    page,
    browser,
    folder,
    url,
    logs,
    async close() {
      await browser.close().catch(() => undefined);
      proc.kill('SIGTERM');
      await new Promise((r) => {
        if (proc.exitCode !== null) return r();
        const timer = setTimeout(() => {
          proc.kill('SIGKILL');
          r();
        }, 5000);
        proc.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** $PATH without any directory holding a mimi-lsp (a new user has not put it there). */
function pathWithoutServer() {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !fs.existsSync(path.join(dir, 'mimi-lsp')))
    .join(path.delimiter);
}

async function waitForHttp(url, timeoutMs, describe) {
  const start = Date.now();
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() - start > timeoutMs) throw new Error(`code-server did not start:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Save a screenshot under .artifacts/screenshots/vscode/ and return its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Run a command through the command palette (F1), by its title. */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 30000 });
  await page.keyboard.press('Enter');
}

/** Open a workspace file through Quick Open. */
export async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(name) }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator(`.tab[aria-label^="${path.basename(name)}"]`).first().waitFor();
}
