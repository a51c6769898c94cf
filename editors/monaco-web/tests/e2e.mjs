// Browser tests of the mimi web IDE: Debian Chromium driven by playwright-core against a real
// `mimi-lsp web` server. Started by tests/web/test_monaco_page.py, which creates the project,
// starts the server with the fake backend and passes everything in $MIMI_E2E (JSON):
//   { url, screenshots, chromium, steps?: [names], project: {...expectations} }
// Prints one JSON object per line: {"step", "ok", "ms", "screenshot", "error"?} and
// {"metric", "value"}. Exit code 0 even when steps fail (pytest judges each step).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.env.MIMI_E2E ?? '{}');
const base = config.url.split('?')[0];
const shots = config.screenshots;
mkdirSync(shots, { recursive: true });
const only = config.steps ? new Set(config.steps) : null;
const expect = config.project;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
let shotNo = 0;

async function screenshot(page, name) {
  shotNo += 1;
  const file = path.join(shots, `${config.prefix ?? ''}${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

class StepError extends Error {}
function check(cond, message) {
  if (!cond) throw new StepError(message);
}

let currentStep = '';

async function step(name, page, fn) {
  if (only && !only.has(name)) return;
  currentStep = name;
  const started = Date.now();
  try {
    const detail = await fn();
    const file = page ? await screenshot(page, name) : undefined;
    out({ step: name, ok: true, ms: Date.now() - started, screenshot: file, detail });
  } catch (error) {
    let file;
    try {
      file = page ? await screenshot(page, `${name}-FAILED`) : undefined;
    } catch {
      /* page gone */
    }
    out({ step: name, ok: false, ms: Date.now() - started, screenshot: file, error: String(error?.stack ?? error) });
  }
}

async function waitReady(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  await page.waitForFunction(() => window.mimi?.lsp?.state === 'ready', null, { timeout: 20000 });
}

async function ghostText(page, timeout = 10000) {
  const handle = await page.waitForFunction(
    () => {
      const els = document.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text');
      const text = Array.from(els).map((e) => e.textContent).join('').replace(/\u00a0/g, ' ');
      return text.trim() ? text : null;
    },
    null,
    { timeout },
  );
  return handle.jsonValue();
}

async function openFromTree(page, file) {
  const parts = file.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    const row = page.locator(`#tree .row.dir[data-path="${dir}"]`);
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  }
  await page.locator(`#tree .row.file[data-path="${file}"]`).click();
  await page.waitForSelector(`#tabs .tab.active[data-path="${file}"]`);
}

/** Put the cursor at (line, column), 1-based, and type. */
async function typeAt(page, line, column, text) {
  await page.evaluate(([l, c]) => {
    window.mimi.editor.setPosition({ lineNumber: l, column: c });
    window.mimi.editor.focus();
  }, [line, column]);
  await page.keyboard.type(text, { delay: 25 });
}

/** Kill every language server process of the web server (Linux /proc); how many. */
function killLanguageServers(webPid) {
  let killed = 0;
  for (const task of readdirSync(`/proc/${webPid}/task`)) {
    const children = readFileSync(`/proc/${webPid}/task/${task}/children`, 'utf8').split(/\s+/).filter(Boolean);
    for (const pid of children) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        killed += 1;
      } catch {
        /* already gone */
      }
    }
  }
  return killed;
}

const lineText = (page, line) => page.evaluate((l) => window.mimi.editor.getModel().getLineContent(l), line);

/** A fresh page: navigation start → LSP ready → a file opened, ghost text asked for → shown. */
async function timeFirstGhostText(browser, viewport) {
  const ctx = await browser.newContext({ viewport });
  const p = await ctx.newPage();
  try {
    const start = Date.now();
    await p.goto(config.url);
    await waitReady(p);
    const ready = Date.now() - start;
    await p.evaluate(async ([file, l, typed]) => {
      await window.mimi.openAt(file);
      const { editor, monaco } = window.mimi;
      editor.executeEdits('test', [{ range: new monaco.Range(l, 1, l, 1), text: `    ${typed}` }]);
      editor.setPosition({ lineNumber: l, column: 5 + typed.length });
      performance.mark('mimi:ask');
      editor.getAction('editor.action.inlineSuggest.trigger').run().catch(() => undefined);
    }, [expect.file, expect.timingLine, expect.typed]);
    await ghostText(p);
    const total = Date.now() - start;
    const marks = await p.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const out = { domContentLoaded: Math.round(nav.domContentLoadedEventEnd) };
      for (const m of performance.getEntriesByType('mark')) {
        if (m.name.startsWith('mimi:')) out[m.name.slice(5)] = Math.round(m.startTime);
      }
      return out;
    });
    return { ready, total, marks };
  } finally {
    await ctx.close();
  }
}

async function bench(browser, runs) {
  const viewport = { width: 1280, height: 800 };
  for (let i = 0; i < runs; i++) {
    // Give the server's spare language server time to start, as it has when a user opens the
    // printed link (gapMs 0: back-to-back loads, each waiting for a cold server process).
    await new Promise((resolve) => setTimeout(resolve, config.gapMs ?? 0));
    const timing = await timeFirstGhostText(browser, viewport);
    out({ bench: i, ...timing });
  }
}

async function main() {
  const browser = await chromium.launch({ executablePath: config.chromium, args: ARGS, headless: true });
  const viewport = { width: 1280, height: 800 };
  if (config.scenario === 'no-backend') {
    try {
      const page = await browser.newPage({ viewport });
      await step('no_backend_status', page, async () => {
        await page.goto(config.url);
        await waitReady(page);
        await page.waitForFunction(
          () => ['unavailable', 'error'].includes(document.querySelector('#st-completion')?.dataset.state),
          null,
          { timeout: 20000 },
        );
        const item = page.locator('#st-completion');
        const text = await item.textContent();
        const title = await item.getAttribute('title');
        check(/completion: (unavailable|error)/.test(text), `status item: ${text}`);
        check(/ollama/i.test(title ?? ''), `the status tooltip does not name the backend: ${title}`);
        await openFromTree(page, expect.file);
        await item.hover();
        await page.waitForTimeout(300);
        return { text, title };
      });
      await step('no_backend_chat_fails_plainly', page, async () => {
        // The chat against the model server that is down: an error in the chat that says what
        // to do (the terminal running `mimi-lsp web` is checked by the test: one line, no traceback).
        await page.click('#btn-chat');
        await page.fill('#chat-input', expect.chatQuestion);
        await page.keyboard.press('Enter');
        const error = page.locator('.msg.assistant.done .error').last();
        await error.waitFor({ timeout: 60000 });
        const text = await error.textContent();
        check(/ollama/i.test(text), `the chat error does not name the model server: ${text}`);
        return { error: text };
      });
    } finally {
      await browser.close();
    }
    return;
  }
  if (config.scenario === 'first-run') {
    // A new user: `mimi-lsp web` with no settings, the model server on a port that is not
    // Ollama's. The warning's "Set up the model server…", an address, two models: ghost text.
    try {
      const page = await browser.newPage({ viewport });
      const t0 = Date.now();
      const marks = {};
      const mark = (name) => (marks[name] = Date.now() - t0);
      await step('first_run_ghost_text', page, async () => {
        await page.goto(config.url);
        await waitReady(page);
        mark('ready');
        const fix = page.locator('.toast .toast-action', { hasText: 'Set up the model server' }).first();
        await fix.waitFor({ timeout: 30000 });
        mark('warned');
        await fix.click();
        await page.waitForSelector('#setup-address');
        await page.waitForFunction(() => !/Looking/.test(document.getElementById('setup-status').textContent), null, { timeout: 20000 });
        await page.fill('#setup-address', expect.standinAddress);
        await page.press('#setup-address', 'Enter');
        await page.waitForSelector(`.setup-servers li[data-url="${expect.standinUrl}"].active`, { timeout: 20000 });
        const offered = await page.$$eval('#setup-completion-model option', (os) => os.map((o) => o.value));
        check(offered[0] === expect.completionModel, `completion models offered: ${offered}`);
        await screenshot(page, 'first_run_setup');
        await page.click('#setup-apply');
        await page.waitForSelector('.setup', { state: 'detached' });
        mark('setUp');
        await page.waitForFunction(() => document.querySelector('#st-completion')?.dataset.state === 'ok', null, { timeout: 30000 });
        mark('healthy');
        await openFromTree(page, expect.file);
        await typeAt(page, expect.typeLine, expect.typeColumn, expect.typed);
        const text = await ghostText(page, 30000);
        mark('ghostText');
        check(text.includes(expect.ghost), `ghost text "${text}"`);
        out({ metric: 'first_run_ghost_text_ms', value: marks.ghostText, detail: marks });
        // The choice is kept: a reload starts the next session on it.
        await page.reload();
        await waitReady(page);
        await page.waitForFunction(() => document.querySelector('#st-completion')?.dataset.state === 'ok', null, { timeout: 30000 });
        return marks;
      });
    } finally {
      await browser.close();
    }
    return;
  }
  if (config.scenario === 'standin') {
    // The whole real stack: page → WebSocket → server → ollama client → an Ollama stand-in.
    try {
      const page = await browser.newPage({ viewport });
      await page.goto(config.url);
      await waitReady(page);
      await step('standin_ghost_text', page, async () => {
        await openFromTree(page, expect.file);
        await typeAt(page, expect.typeLine, expect.typeColumn, expect.typed);
        const text = await ghostText(page, 20000);
        check(text.includes(expect.ghost), `ghost text "${text}"`);
        await page.keyboard.press('Tab');
        const line = await lineText(page, expect.typeLine);
        check(line === expect.accepted, `after Tab the line is "${line}"`);
      });
      await step('standin_chat', page, async () => {
        await page.click('#btn-chat');
        await page.fill('#chat-input', expect.chatQuestion);
        await page.keyboard.press('Enter');
        await page.waitForSelector('.msg.assistant.done', { timeout: 30000 });
        const answer = await page.locator('.msg.assistant .body').last().textContent();
        check(answer.includes(expect.standinChat), `chat answer: ${answer}`);
      });
    } finally {
      await browser.close();
    }
    return;
  }
  if (config.scenario === 'chat-stop') {
    try {
      const page = await browser.newPage({ viewport });
      await page.goto(config.url);
      await waitReady(page);
      await step('chat_stop', page, async () => {
        await page.click('#btn-chat');
        await page.fill('#chat-input', expect.chatQuestion);
        await page.keyboard.press('Enter');
        await page.waitForSelector('#chat-stop:not([hidden])');
        const started = Date.now();
        await page.click('#chat-stop');
        await page.waitForSelector('.msg.assistant.done', { timeout: 5000 });
        const note = await page.locator('.msg.assistant').last().textContent();
        check(note.includes('(stopped)'), `after Stop the bubble says "${note}"`);
        check(await page.locator('#chat-send').isVisible(), 'Send is not back');
        return { ms: Date.now() - started };
      });
    } finally {
      await browser.close();
    }
    return;
  }
  if (config.scenario === 'git-terminal') {
    // `mimi-lsp web --terminal` on a git repository: the Changes view and the terminal panel.
    try {
      const page = await browser.newPage({ viewport });
      await page.goto(config.url);
      await waitReady(page);
      await step('changes_list', page, async () => {
        await page.click('#btn-changes');
        await page.waitForSelector(`#changes-list .change[data-path="${expect.stagedFile}"]`);
        await page.waitForSelector(`#changes-list .change[data-path="${expect.changedFile}"]`);
        const groups = await page.locator('#changes-list .group-title').allTextContents();
        check(groups.join('|') === 'Staged (1)|Changes (2)', `groups: ${groups.join('|')}`);
        return { groups };
      });
      await step('changes_write_message', page, async () => {
        await page.click('#commit-write');
        await page.waitForSelector('#commit-message.streaming');
        await page.waitForFunction(() => !document.querySelector('#commit-message.streaming'), null, { timeout: 20000 });
        const message = await page.inputValue('#commit-message');
        check(message === expect.commitMessage, `message box: ${JSON.stringify(message)}`);
        return { message };
      });
      await step('changes_diff', page, async () => {
        await page.click(`#changes-list .change[data-path="${expect.stagedFile}"] .name`);
        await page.waitForSelector('.changes-diff .monaco-diff-editor');
        await page.waitForFunction(
          (text) => Array.from(document.querySelectorAll('.changes-diff .view-line')).some((l) => l.textContent.replace(/\u00a0/g, ' ').includes(text)),
          expect.stagedText,
          { timeout: 10000 },
        );
        // The diff is computed in a worker after both sides are drawn: wait for its decorations.
        const inserted = await page
          .waitForFunction(() => document.querySelectorAll('.changes-diff .line-insert, .changes-diff .char-insert').length, null, { timeout: 10000 })
          .then((handle) => handle.jsonValue())
          .catch(() => 0);
        check(inserted > 0, 'the diff shows no inserted line');
        return { inserted };
      });
      await step('changes_commit', page, async () => {
        await page.keyboard.press('Escape');
        await page.click('#commit-run');
        await page.waitForFunction(() => !document.querySelector('#changes-list .group-title')?.textContent?.startsWith('Staged'), null, { timeout: 10000 });
        const toastText = await page.locator('.toast').last().textContent();
        check(toastText.includes('Committed'), `toast: ${toastText}`);
        return { toast: toastText };
      });
      await step('terminal_echo', page, async () => {
        await page.click('#btn-terminal');
        await page.waitForSelector('#terminal-panel:not([hidden]) .xterm-rows');
        // Type once the shell has drawn its prompt (keys before it would echo twice).
        await page.waitForFunction(() => (document.querySelector('#terminal-panel .xterm-rows')?.textContent ?? '').trim().length > 0, null, { timeout: 10000 });
        await page.keyboard.type('echo mimi-$((6*7)) in $(basename "$PWD")', { delay: 5 });
        await page.keyboard.press('Enter');
        const text = await page.waitForFunction(
          () => {
            const rows = document.querySelector('#terminal-panel .xterm-rows')?.textContent ?? '';
            return rows.includes('mimi-42 in') ? rows : null;
          },
          null,
          { timeout: 10000 },
        );
        const rows = await text.jsonValue();
        check(rows.includes(`mimi-42 in ${expect.folderName}`), `terminal: ${rows.slice(-200)}`);
        return { lines: rows.length };
      });
      await step('terminal_exit', page, async () => {
        await page.keyboard.type('exit');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#terminal-panel', { state: 'hidden', timeout: 10000 });
      });
      await step('terminal_foreign_origin_refused', null, async () => {
        // The same server under another name is another origin (http://localhost:PORT): with the
        // token in hand, a page there still cannot open the terminal of http://127.0.0.1:PORT.
        const other = await browser.newPage({ viewport });
        const port = new URL(base).port;
        await other.goto(`http://localhost:${port}/?token=${config.token}`);
        const attempt = (target) =>
          other.evaluate(
            (url) =>
              new Promise((resolve) => {
                const ws = new WebSocket(url);
                ws.onopen = () => {
                  ws.close();
                  resolve('open');
                };
                ws.onerror = () => resolve('refused');
                setTimeout(() => resolve('timeout'), 5000);
              }),
            target,
          );
        const foreign = await attempt(`ws://127.0.0.1:${port}/terminal?token=${config.token}`);
        const own = await attempt(`ws://localhost:${port}/terminal?token=${config.token}`);
        await other.close();
        check(foreign === 'refused', `a foreign origin's WebSocket: ${foreign}`);
        check(own === 'open', `the control (same origin) did not open: ${own}`);
        return { foreign, own };
      });
    } finally {
      await browser.close();
    }
    return;
  }
  if (config.bench) {
    try {
      await bench(browser, config.bench);
    } finally {
      await browser.close();
    }
    return;
  }
  try {
    // ------------------------------------------------------------ no token
    const stranger = await browser.newContext({ viewport });
    const strangerPage = await stranger.newPage();
    await step('unauthorized', strangerPage, async () => {
      const response = await strangerPage.goto(base);
      check(response.status() === 401, `expected 401 without the token, got ${response.status()}`);
      const api = await strangerPage.evaluate(async () => (await fetch('api/file?path=calc.py')).status);
      check(api === 401, `api without the token answered ${api}`);
      const wrong = await strangerPage.goto(`${base}?token=wrong-token`);
      check(wrong.status() === 401, `a wrong token got ${wrong.status()}`);
      return { page: response.status(), api };
    });
    await step('websocket_without_token_refused', null, async () => {
      const outcome = await strangerPage.evaluate(
        () =>
          new Promise((resolve) => {
            const ws = new WebSocket(new URL('lsp', location.href).toString().replace(/^http/, 'ws'));
            ws.onopen = () => resolve('open');
            ws.onerror = () => resolve('refused');
            setTimeout(() => resolve('timeout'), 5000);
          }),
      );
      check(outcome === 'refused', `WebSocket without the token: ${outcome}`);
    });
    await stranger.close();

    // ------------------------------------------------------------ the IDE
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (msg) => {
      // The confinement step provokes 403s on purpose; the browser logs each one.
      // The save-conflict step provokes a 409 (the file changed on disk) on purpose.
      const expected = /status of 403/.test(msg.text()) || (currentStep === 'save_conflict_asks_in_the_page' && /status of 409/.test(msg.text()));
      if (msg.type() === 'error' && !expected) consoleErrors.push(`${currentStep}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`${currentStep}: ${err?.stack ?? err}`));
    // The page asks in its own dialogs; a native alert/confirm blocks the whole tab.
    const nativeDialogs = [];
    page.on('dialog', (dialog) => {
      nativeDialogs.push(`${currentStep}: ${dialog.type()} ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
    const t0 = Date.now();

    await step('page_loads', page, async () => {
      const response = await page.goto(config.url);
      check(response.ok(), `page answered ${response.status()}`);
      check(!page.url().includes('token='), `the token stays in the address bar: ${page.url()}`);
      await waitReady(page);
      await page.waitForSelector(`#tree .row[data-path="${expect.file}"]`);
      check(!(await page.locator(`#tree .row[data-path="${expect.ignored}"]`).count()), 'an ignored folder is listed');
      return { ms: Date.now() - t0 };
    });

    await step('open_file', page, async () => {
      await openFromTree(page, expect.file);
      await page.waitForFunction(
        (t) => document.querySelector('.view-lines')?.textContent.replace(/\u00a0/g, ' ').includes(t),
        expect.fileContains,
        { timeout: 10000 },
      );
      const lang = await page.locator('#st-lang').textContent();
      check(lang === 'python', `language shown: ${lang}`);
      const tokens = await page.locator('.view-lines span[class^="mtk"]').evaluateAll((els) => new Set(els.map((e) => e.className)).size);
      check(tokens > 1, 'no syntax highlighting (one token class only)');
    });

    let firstGhost;
    await step('ghost_text', page, async () => {
      await typeAt(page, expect.typeLine, expect.typeColumn, expect.typed);
      const text = await ghostText(page);
      firstGhost = Date.now() - t0;
      check(text.includes(expect.ghost), `ghost text "${text}" lacks "${expect.ghost}"`);
      out({ metric: 'load_to_first_ghost_text_ms_with_typing', value: firstGhost });
      return { text };
    });

    await step('tab_accepts', page, async () => {
      await page.keyboard.press('Tab');
      await page.waitForFunction(
        ([l, t]) => window.mimi.editor.getModel().getLineContent(l) === t,
        [expect.typeLine, expect.accepted],
        { timeout: 5000 },
      ).catch(() => undefined);
      const line = await lineText(page, expect.typeLine);
      check(line === expect.accepted, `after Tab the line is "${line}"`);
      await page.waitForSelector('#tabs .tab.active.dirty');
    });

    await step('alt_backslash_asks_for_ghost_text', page, async () => {
      const original = await page.evaluate(() => window.mimi.editor.getModel().getValue());
      await typeAt(page, expect.typeLine + 1, 1, `\n    ${expect.typed}`);
      await ghostText(page);
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => !document.querySelector('.ghost-text-decoration, .ghost-text'), null, { timeout: 5000 });
      await page.keyboard.press('Alt+Backslash');
      const text = await ghostText(page);
      check(text.includes(expect.ghost), `Alt+\\ ghost text "${text}"`);
      await page.keyboard.press('Escape');
      // Leave the document as the next steps expect it.
      await page.evaluate((text) => {
        const { editor } = window.mimi;
        editor.executeEdits('test', [{ range: editor.getModel().getFullModelRange(), text }]);
      }, original);
    });

    await step('save', page, async () => {
      await page.keyboard.press('Control+s');
      await page.waitForSelector('#tabs .tab.active:not(.dirty)', { timeout: 5000 });
      const disk = await page.evaluate(async (p) => (await (await fetch(`api/file?path=${p}`)).json()).text, expect.file);
      check(disk.includes(expect.accepted), 'the saved file lacks the accepted text');
    });

    await step('external_change_reloads', page, async () => {
      // Another program changes the (clean) file; back in the page, the buffer follows.
      const file = path.join(config.folder, expect.file);
      writeFileSync(file, `${readFileSync(file, 'utf8')}# changed elsewhere\n`);
      await page.evaluate(() => window.dispatchEvent(new Event('focus')));
      await page.waitForFunction(() => window.mimi.editor.getModel().getValue().includes('# changed elsewhere'), null, { timeout: 10000 });
      await page.waitForSelector('#tabs .tab.active:not(.dirty)');
    });

    await step('quick_open', page, async () => {
      await page.keyboard.press('Control+p');
      await page.waitForSelector('#quickopen-input');
      await page.keyboard.type('geom');
      await page.waitForSelector('.quickopen-list li.active');
      await screenshot(page, 'quick_open_list');
      await page.keyboard.press('Enter');
      await page.waitForSelector(`#tabs .tab.active[data-path="${expect.actionFile}"]`);
      await openFromTree(page, expect.file);
    });

    await step('help_overlay', page, async () => {
      await page.keyboard.press('F1');
      await page.waitForSelector('#help');
      const text = await page.locator('#help').textContent();
      for (const key of ['Tab', 'Ctrl+.', 'Ctrl+I', 'Ctrl+Shift+L', 'Ctrl+Shift+F', 'Ctrl+P', 'Ctrl+S']) {
        check(text.includes(key), `help does not list ${key}`);
      }
    });
    await page.keyboard.press('Escape');
    await page.waitForSelector('#help', { state: 'detached' }).catch(() => undefined);

    await step('status_bar', page, async () => {
      await page.waitForFunction(() => document.querySelector('#st-completion')?.dataset.state === 'ok', null, { timeout: 10000 });
      const text = await page.locator('#statusbar').textContent();
      check(/completion: ready/.test(text), `status bar: ${text}`);
      check(/connected/.test(text), `status bar: ${text}`);
      check(/index: /.test(text), `status bar: ${text}`);
      return { text };
    });

    // ------------------------------------------------------------ code action + diff
    await step('code_action_diff_accept', page, async () => {
      const has = await page.evaluate(() => Boolean(window.mimi.lsp.capabilities.codeActionProvider));
      check(has, 'SKIP: the server offers no code actions yet');
      await openFromTree(page, expect.actionFile);
      await page.evaluate(([l, c]) => {
        window.mimi.editor.setPosition({ lineNumber: l, column: c });
        window.mimi.editor.focus();
      }, [expect.actionLine, expect.actionColumn]);
      // The server answers automatic (lightbulb) requests with quick fixes only; Ctrl+. asks
      // explicitly and gets every action.
      await page.keyboard.press('Control+.');
      const item = page.locator('.action-widget .action-label, .action-widget [role="option"]').filter({ hasText: expect.actionTitle }).first();
      await item.waitFor({ timeout: 10000 });
      await screenshot(page, 'code_action_menu');
      await item.click();
      await page.waitForSelector('.review', { timeout: 20000 });
      await page.waitForSelector('.review .monaco-diff-editor .line-insert, .review .monaco-diff-editor .char-insert, .review .monaco-diff-editor .gutter-insert', { timeout: 10000 }).catch(() => undefined);
      await screenshot(page, 'code_action_diff');
      await page.click('#review-accept');
      await page.waitForSelector('.review', { state: 'detached' });
      const text = await page.evaluate(() => window.mimi.editor.getModel().getValue());
      check(text.includes(expect.actionResult), `after accepting, the file lacks "${expect.actionResult}"`);
    });

    await step('agent_edit_reject', page, async () => {
      const has = await page.evaluate(() => window.mimi.lsp.hasCommand('mimi.agent.edit'));
      check(has, 'SKIP: the server has no mimi.agent.edit yet');
      await openFromTree(page, expect.actionFile);
      const before = await page.evaluate(() => window.mimi.editor.getModel().getValue());
      await page.evaluate(() => window.mimi.editor.focus());
      await page.keyboard.press('Control+i');
      await page.waitForSelector('#agent-instruction');
      await page.keyboard.type(expect.agentInstruction);
      await page.keyboard.press('Enter');
      await page.waitForSelector('.review', { timeout: 20000 });
      await screenshot(page, 'agent_diff');
      await page.click('#review-reject');
      await page.waitForSelector('.review', { state: 'detached' });
      await page.waitForFunction(() => document.body.dataset.busy === '0', null, { timeout: 10000 });
      const after = await page.evaluate(() => window.mimi.editor.getModel().getValue());
      check(after === before, 'rejecting the diff still changed the file');
    });

    await step('agent_creates_file', page, async () => {
      await openFromTree(page, expect.actionFile);
      await page.evaluate(() => window.mimi.editor.focus());
      await page.keyboard.press('Control+i');
      await page.waitForSelector('#agent-instruction');
      await page.keyboard.type('write a test');
      await page.keyboard.press('Enter');
      await page.waitForSelector('.review .review-files .badge', { timeout: 20000 });
      await screenshot(page, 'agent_new_file_diff');
      await page.keyboard.press('Control+Enter');
      await page.waitForSelector('.review', { state: 'detached' });
      await page.locator(`#tabs .tab[data-path="${expect.createdFile}"]`).click();
      await page.waitForSelector(`#tabs .tab.active.dirty[data-path="${expect.createdFile}"]`);
      await page.keyboard.press('Control+s');
      await page.waitForSelector(`#tree .row.file[data-path="${expect.createdFile}"]`, { timeout: 10000 });
    });

    // ------------------------------------------------------------ chat
    await step('chat_streams', page, async () => {
      const has = await page.evaluate(() => window.mimi.lsp.hasCommand('mimi.chat'));
      check(has, 'SKIP: the server has no mimi.chat yet');
      await openFromTree(page, expect.file);
      await page.click('#btn-chat');
      await page.fill('#chat-input', expect.chatQuestion);
      await page.keyboard.press('Enter');
      // A short answer can finish streaming before this looks (data-deltas below checks that it
      // streamed): wait for the answer in either state.
      await page.waitForSelector('.msg.assistant.streaming, .msg.assistant.done', { timeout: 15000 });
      await screenshot(page, 'chat_streaming');
      await page.waitForSelector('.msg.assistant.done', { timeout: 30000 });
      const answer = await page.locator('.msg.assistant .body').last().textContent();
      check(answer.includes(expect.chatAnswer), `chat answer: ${answer}`);
      const deltas = Number(await page.locator('.msg.assistant').last().getAttribute('data-deltas'));
      check(deltas > 1, `the answer arrived in ${deltas} delta(s), not streamed`);
      return { deltas };
    });

    await step('explain_streams_into_chat', page, async () => {
      // "Mimi: explain" is a code action whose answer belongs in the chat panel.
      await openFromTree(page, expect.actionFile);
      await page.evaluate(([l, c]) => {
        window.mimi.editor.setPosition({ lineNumber: l, column: c });
        window.mimi.editor.focus();
      }, [expect.actionLine, expect.actionColumn]);
      const before = await page.locator('.msg.assistant.done').count();
      await page.keyboard.press('Control+.');
      const item = page.locator('.action-widget .action-label, .action-widget [role="option"]').filter({ hasText: 'Mimi: explain' }).first();
      await item.waitFor({ timeout: 10000 });
      await item.click();
      await page.waitForFunction((n) => document.querySelectorAll('.msg.assistant.done').length > n, before, { timeout: 20000 });
      const question = await page.locator('.msg.user .body').last().textContent();
      check(question.includes(expect.actionFile), `the chat shows "${question}"`);
    });

    await step('chat_citation_opens_file', page, async () => {
      const link = page.locator('.citation').first();
      check((await link.count()) > 0, 'SKIP: the chat answer carried no citations');
      const target = await link.getAttribute('data-path');
      await link.click();
      await page.waitForSelector(`#tabs .tab.active[data-path="${target}"]`);
      // The cursor goes to the cited line; nothing is selected, so the next question does not
      // send the cited code again as "the selected code".
      const state = await page.evaluate(() => {
        const sel = window.mimi.editor.getSelection();
        return { empty: sel.isEmpty(), line: sel.startLineNumber };
      });
      check(state.empty, 'a citation click selected the cited range');
      const sent = await page.evaluate(async () => {
        const lsp = window.mimi.lsp;
        const original = lsp.executeCommand.bind(lsp);
        let args;
        lsp.executeCommand = (command, a, cancel) => {
          if (command === 'mimi.chat') args = a[0];
          return original(command, a, cancel);
        };
        document.getElementById('chat-input').value = 'and then?';
        document.getElementById('chat-send').click();
        while (!args) await new Promise((r) => setTimeout(r, 20));
        lsp.executeCommand = original;
        return { uri: Boolean(args.uri), range: args.range ?? null };
      });
      check(sent.uri && sent.range === null, `the follow-up question sent ${JSON.stringify(sent)}`);
      await page.waitForFunction(() => !document.querySelector('.msg.assistant.streaming') && document.querySelector('#chat-send:not([hidden])'), null, { timeout: 30000 });
      return state;
    });

    // ------------------------------------------------------------ search
    await step('search_opens_result', page, async () => {
      const has = await page.evaluate(() => window.mimi.lsp.hasCommand('mimi.search'));
      check(has, 'SKIP: the server has no mimi.search yet');
      await page.click('#btn-search');
      await page.fill('#search-input', expect.searchQuery);
      await page.keyboard.press('Enter');
      const hit = page.locator('#search-results .hit').filter({ hasText: expect.searchFile.split('/').pop() }).first();
      await hit.waitFor({ timeout: 30000 });
      await screenshot(page, 'search_results');
      const line = Number(await hit.getAttribute('data-line'));
      await hit.click();
      await page.waitForSelector(`#tabs .tab.active[data-path="${expect.searchFile}"]`);
      const cursor = await page.evaluate(() => window.mimi.editor.getPosition().lineNumber);
      check(cursor === line, `the cursor is on line ${cursor}, the hit on ${line}`);
      check(line === expect.searchLine, `the hit is on line ${line}, expected ${expect.searchLine}`);
      await page.keyboard.press('Escape');
    });

    await step('search_as_you_type', page, async () => {
      const has = await page.evaluate(() => window.mimi.lsp.hasCommand('mimi.search'));
      check(has, 'SKIP: the server has no mimi.search yet');
      await page.click('#btn-search');
      await page.fill('#search-input', '');
      await page.locator('#search-input').pressSequentially(expect.searchQuery, { delay: 30 });
      // No Enter: results come while typing pauses.
      const hit = page.locator('#search-results .hit').filter({ hasText: expect.searchFile.split('/').pop() }).first();
      await hit.waitFor({ timeout: 30000 });
      // A new query clears the old results at once, then shows its own.
      await page.locator('#search-input').press('Control+a');
      await page.locator('#search-input').pressSequentially(expect.symbol, { delay: 30 });
      const cleared = await page.evaluate(() => ({
        hits: document.querySelectorAll('#search-results .hit').length,
        status: document.getElementById('search-status').textContent,
      }));
      check(cleared.hits === 0 || cleared.status !== 'Searching…', `old results shown for the new query: ${JSON.stringify(cleared)}`);
      await page.waitForFunction((symbol) => {
        const first = document.querySelector('#search-results .hit');
        return first && first.textContent.includes(symbol);
      }, expect.symbol, { timeout: 30000 });
      await screenshot(page, 'search_as_you_type');
      await page.keyboard.press('Escape');
      return cleared;
    });

    await step('symbol_search', page, async () => {
      const has = await page.evaluate(() => Boolean(window.mimi.lsp.capabilities.workspaceSymbolProvider));
      check(has, 'SKIP: the server answers no workspace/symbol');
      await page.keyboard.press('Control+p');
      await page.waitForSelector('#quickopen-input');
      await page.keyboard.type(`#${expect.symbol}`);
      await page.waitForSelector('.quickopen-list li.active', { timeout: 10000 });
      await screenshot(page, 'symbol_list');
      await page.keyboard.press('Enter');
      await page.waitForSelector(`#tabs .tab.active[data-path="${expect.searchFile}"]`);
      const line = await page.evaluate(() => window.mimi.editor.getPosition().lineNumber);
      check(line === expect.symbolLine, `the cursor is on line ${line}`);
    });

    // ------------------------------------------------------------ reload
    await step('reload_reconnects', page, async () => {
      const before = await page.evaluate(() => window.mimi.lsp.sessions);
      await page.keyboard.press('Control+Shift+S'); // save all, so no "leave the page?" prompt
      await page.waitForFunction(() => !document.querySelector('#tabs .tab.dirty'), null, { timeout: 5000 });
      await page.reload();
      await waitReady(page);
      await page.waitForSelector(`#tabs .tab[data-path="${expect.file}"]`);
      await page.locator(`#tabs .tab[data-path="${expect.file}"]`).click();
      await typeAt(page, expect.typeLine + 1, 1, `\n    ${expect.typed}`);
      const text = await ghostText(page);
      check(text.includes(expect.ghost), `after reload, ghost text "${text}"`);
      return { sessionsBefore: before };
    });

    await step('server_exit_reconnects', page, async () => {
      // The language server process dies (killed); the page notices, reconnects to a fresh
      // one, reopens its documents and keeps completing.
      const before = await page.evaluate(() => window.mimi.lsp.sessions);
      const killed = killLanguageServers(config.webPid);
      check(killed > 0, 'no language server process found to kill');
      await page.waitForFunction((n) => window.mimi.lsp.sessions > n && window.mimi.lsp.state === 'ready', before, { timeout: 30000 });
      await page.locator(`#tabs .tab[data-path="${expect.file}"]`).click();
      await typeAt(page, expect.typeLine + 1, 1, `\n    ${expect.typed}`);
      const text = await ghostText(page);
      check(text.includes(expect.ghost), `after the reconnect, ghost text "${text}"`);
    });

    // ------------------------------------------------------------ two tabs
    await step('two_tabs', page, async () => {
      const second = await context.newPage();
      try {
        await second.goto(base);
        await waitReady(second);
        await openFromTree(second, expect.file);
        await typeAt(second, expect.typeLine + 2, 1, `\n    ${expect.typed}`);
        const text2 = await ghostText(second);
        check(text2.includes(expect.ghost), `second tab ghost text "${text2}"`);
        await screenshot(second, 'two_tabs-second');
        // The first tab still works on its own connection.
        await page.bringToFront();
        await page.keyboard.press('Escape');
        await page.keyboard.press('Backspace');
        await page.keyboard.type(' ', { delay: 25 });
        const text1 = await ghostText(page);
        check(text1.includes(expect.ghost), `first tab ghost text "${text1}"`);
        const states = [await page.evaluate(() => window.mimi.lsp.state), await second.evaluate(() => window.mimi.lsp.state)];
        check(states.every((s) => s === 'ready'), `connection states ${states}`);
      } finally {
        await second.close();
      }
    });

    await step('layout_fits_the_window', page, async () => {
      // A long tree scrolls inside the sidebar; the status bar stays on screen.
      for (const dir of ['pkg', 'tests']) {
        const row = page.locator(`#tree .row.dir[data-path="${dir}"]`);
        if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
      }
      await page.waitForSelector(`#tree .row[data-path="${expect.createdFile}"]`);
      await page.setViewportSize({ width: 1280, height: 200 });
      try {
        const box = await page.locator('#statusbar').boundingBox();
        check(box && box.y + box.height <= 200 + 1, `the status bar ends at ${box && box.y + box.height}px`);
      } finally {
        await page.setViewportSize(viewport);
      }
    });

    await step('narrow_window', page, async () => {
      // ~480 px wide: editor, chat and every control stay on screen; the tree can be hidden.
      await page.setViewportSize({ width: 480, height: 800 });
      try {
        const inView = async (selector) => {
          const box = await page.locator(selector).first().boundingBox();
          return Boolean(box && box.width > 0 && box.height > 0 && box.x >= 0 && box.y >= 0 && box.x + box.width <= 481 && box.y + box.height <= 801);
        };
        check(!(await page.locator('#sidebar').isVisible()), 'the tree covers the editor on a narrow window');
        await page.click('#btn-tree');
        await page.waitForSelector('#sidebar', { state: 'visible' });
        await screenshot(page, 'narrow_tree');
        await page.locator(`#tree .row[data-path="${expect.file}"]`).click();
        await page.waitForSelector('#sidebar', { state: 'hidden' });
        await page.click('#btn-chat');
        await page.waitForSelector('#chat-panel', { state: 'visible' });
        const editorBox = await page.locator('#editor').boundingBox();
        check(editorBox && editorBox.height >= 150, `the editor is ${editorBox?.height}px tall with chat open`);
        for (const selector of ['#editor', '#chat-input', '#chat-send', '#chat-panel .close-panel', '#btn-chat', '#btn-tree', '#statusbar']) {
          check(await inView(selector), `${selector} is off-screen at 480 px`);
        }
        await screenshot(page, 'narrow_chat');
        await page.click('#chat-panel .close-panel');
        // Wide again: the tree comes back unless hidden on purpose.
        await page.setViewportSize(viewport);
        await page.waitForSelector('#sidebar', { state: 'visible' });
        await page.keyboard.press('Control+b');
        await page.waitForSelector('#sidebar', { state: 'hidden' });
        const wide = await page.locator('#editor').boundingBox();
        check(wide && wide.x < 10, `with the tree hidden the editor starts at ${wide?.x}px`);
        await page.keyboard.press('Control+b');
        await page.waitForSelector('#sidebar', { state: 'visible' });
        return { editorHeight: editorBox.height };
      } finally {
        await page.setViewportSize(viewport);
      }
    });

    await step('save_conflict_asks_in_the_page', page, async () => {
      await openFromTree(page, expect.file);
      const file = path.join(config.folder, expect.file);
      await page.evaluate(() => {
        const { editor } = window.mimi;
        const model = editor.getModel();
        editor.executeEdits('test', [{ range: { startLineNumber: 1, startColumn: 1, endLineNumber: 1, endColumn: 1 }, text: '# mine\n' }]);
        return model.getValue();
      });
      writeFileSync(file, `# theirs\n${readFileSync(file, 'utf8')}`);
      const before = nativeDialogs.length;
      await page.keyboard.press('Control+s');
      const ask = page.locator('.prompt.ask');
      await ask.waitFor({ timeout: 10000 });
      check(nativeDialogs.length === before, `a native dialog: ${nativeDialogs.slice(before).join('; ')}`);
      check((await ask.textContent()).includes('changed on disk'), await ask.textContent());
      await screenshot(page, 'save_conflict');
      await ask.getByRole('button', { name: 'Overwrite' }).click();
      await page.waitForSelector('#tabs .tab.active:not(.dirty)', { timeout: 5000 });
      const disk = readFileSync(file, 'utf8');
      check(disk.startsWith('# mine\n') && !disk.includes('# theirs'), `on disk: ${disk.slice(0, 40)}`);
    });

    // ------------------------------------------------------------ confinement
    await step('path_traversal_refused', page, async () => {
      const results = await page.evaluate(async (paths) => {
        const out = {};
        for (const p of paths) {
          const r = await fetch(`api/file?path=${encodeURIComponent(p)}`);
          out[p] = r.status;
        }
        const put = await fetch(`api/file?path=${encodeURIComponent('../mimi-e2e-evil.txt')}`, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ text: 'pwned' }),
        });
        out['PUT ../mimi-e2e-evil.txt'] = put.status;
        const raw = await fetch('api/file?path=%252e%252e/outside.txt');
        out['double-encoded'] = raw.status;
        return out;
      }, expect.traversals);
      for (const [p, status] of Object.entries(results)) {
        check(status === 403, `${p} answered ${status}, not 403`);
      }
      return results;
    });

    out({ metric: 'console_errors', value: consoleErrors.length, detail: consoleErrors.slice(0, 5) });
    out({ metric: 'native_dialogs', value: nativeDialogs.length, detail: nativeDialogs.slice(0, 5) });
    await context.close();

    // ------------------------------------------------------------ timing, fresh page
    await step('first_ghost_text_timing', null, async () => {
      const timing = await timeFirstGhostText(browser, viewport);
      out({ metric: 'load_to_lsp_ready_ms', value: timing.ready });
      out({ metric: 'load_to_first_ghost_text_ms', value: timing.total });
      return timing;
    });
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  out({ step: 'browser', ok: false, error: String(error?.stack ?? error) });
  process.exitCode = 1;
});
