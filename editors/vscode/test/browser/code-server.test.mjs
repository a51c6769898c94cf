// The packaged extension in real VS Code (code-server in Chromium) against the real server.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { serverExecutable } from '../harness.mjs';
import { launch, missingTools, openFile, runCommand, screenshot } from './codeServer.mjs';

const missing = missingTools();
if (missing && process.env.CI) {
  throw new Error(`browser tests need: ${missing}`);
}

const PRICING = [
  'TAX_RATE = 0.2',
  '',
  '',
  'def apply_discount(price, percent):',
  '    """Price after a percentage discount."""',
  '    return price * (1 - percent / 100)',
  '',
].join('\n');

const AGENT_EDIT = JSON.stringify({
  tool_calls: [
    {
      name: 'edit',
      arguments: { path: 'shop/pricing.py', edits: [{ search: 'TAX_RATE = 0.2', replace: 'TAX_RATE = 0.25' }] },
    },
  ],
});

const DOCSTRING_EDIT = JSON.stringify({
  tool_calls: [
    {
      name: 'edit',
      arguments: {
        path: 'shop/cart.py',
        edits: [{ search: '    def __init__(self):\n', replace: '    def __init__(self):\n        """An empty cart."""\n' }],
      },
    },
  ],
});

const CHAT_REPLY =
  '`apply_discount` takes a price and a percentage and returns the discounted price [1]. ' +
  'For example:\n\n```python\napply_discount(100, 20)  # 80.0\n```\n';

/** The chat view's page: the webview frame that holds the composer. */
async function chatFrame(page) {
  for (let i = 0; i < 150; i++) {
    for (const frame of page.frames()) {
      if (await frame.$('#composer').catch(() => null)) return frame;
    }
    await page.waitForTimeout(100);
  }
  throw new Error('the chat view did not appear');
}

/**
 * A mimi-lsp that starts only once `gate` exists: the test decides when the server is ready, so
 * keys typed "while it starts" are typed while it starts, however loaded the machine is.
 */
function gatedServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimi-gated-'));
  const gate = path.join(dir, 'open');
  const script = path.join(dir, 'mimi-lsp');
  fs.writeFileSync(
    script,
    `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\nexec '${serverExecutable()}' "$@"\n`,
    { mode: 0o755 },
  );
  return { script, open: () => fs.writeFileSync(gate, ''), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe('VS Code (code-server) with the Mimi extension', { skip: missing ? `missing ${missing}` : false }, () => {
  let vs;
  const server = gatedServer();

  before(async () => {
    vs = await launch({
      files: {
        'calc.py': 'def add(a, b):\n    \n',
        'shop/pricing.py': PRICING,
        'shop/cart.py': 'class Cart:\n    def __init__(self):\n        self.items = []\n',
        'README.md': '# project\n',
      },
      settings: {
        'mimi.server.path': server.script,
        'mimi.completion.backend': {
          kind: 'fake',
          replies: ['return a + b'],
          // Turns of the scripted chat model: the agent's edit, its summary, then the chat answer.
          // Then Ctrl+. "add docstrings": its edit and summary.
          chatReplies: [AGENT_EDIT, 'Raised the tax rate to 25%.', CHAT_REPLY, DOCSTRING_EDIT, 'Added a docstring.'],
          chunkChars: 6,
          delayMs: 20,
        },
        'mimi.completion.debounceMs': 0,
        'mimi.index.enabled': true,
        'mimi.index.embeddings': false,
        'mimi.index.cacheDir': fs.mkdtempSync(path.join(os.tmpdir(), 'mimi-cs-index-')),
      },
    });
  });

  afterEach(async (t) => {
    // A failing test leaves a picture of what was on screen.
    if (vs && !t.passed) {
      const name = `failed-${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
      t.diagnostic(`screenshot: ${await screenshot(vs.page, name)}`);
    }
  });

  after(async () => {
    await vs?.close();
    server.remove();
  });

  test('keys typed while the server starts get ghost text once it runs, without another key', async (t) => {
    // Issue 16 item 9: they asked nobody, and nothing appeared until the next keystroke.
    const { page } = vs;
    await openFile(page, 'calc.py');
    await page.locator('.monaco-editor .view-line').nth(1).click();
    await page.keyboard.press('End');
    await page.keyboard.type('x', { delay: 60 });
    await page.keyboard.press('Backspace');
    assert.equal(await page.locator('.statusbar-item[id$="mimi.status"] .codicon-sparkle').count(), 0, 'the server is not running yet');
    // Typed right after the window opened: often before VS Code has even activated the extension.
    const activated = (await page.locator('.statusbar-item[id$="mimi.status"]').count()) > 0;
    t.diagnostic(`typed ${activated ? 'after' : 'before'} the extension was activated`);
    t.diagnostic(`screenshot: ${await screenshot(page, '00-typed-while-starting')}`);
    server.open();
    const ghost = page.locator('.ghost-text-decoration, .ghost-text').first();
    await ghost.waitFor({ state: 'visible', timeout: 60000 });
    const shown = (await page.locator('.ghost-text-decoration, .ghost-text').allTextContents()).join('');
    assert.match(shown.replace(/\u00a0/g, ' '), /return a \+ b/);
    t.diagnostic(`screenshot: ${await screenshot(page, '00-ghost-text-once-running')}`);
    await page.keyboard.press('Escape');
    await page.locator('.ghost-text-decoration, .ghost-text').first().waitFor({ state: 'detached', timeout: 10000 });
  });

  test('the status bar shows Mimi once the server runs', async (t) => {
    const item = vs.page.locator('.statusbar-item', { hasText: 'Mimi' }).first();
    await item.waitFor({ state: 'visible', timeout: 60000 });
    // Running: the spinner is replaced by the sparkle icon.
    await vs.page.locator('.statusbar-item .codicon-sparkle').first().waitFor({ timeout: 60000 });
    t.diagnostic(`screenshot: ${await screenshot(vs.page, '01-status-bar')}`);
  });

  test('ghost text appears and Tab accepts it', async (t) => {
    const { page } = vs;
    await openFile(page, 'calc.py');
    const editor = page.locator('.monaco-editor .view-lines').first();
    await editor.click();
    // Line 2 is the empty body: put the cursor at its end.
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await runCommand(page, 'Trigger Inline Suggestion');
    const ghost = page.locator('.ghost-text-decoration, .ghost-text').first();
    await ghost.waitFor({ state: 'visible', timeout: 45000 });
    const shown = (await page.locator('.ghost-text-decoration, .ghost-text').allTextContents()).join('');
    assert.match(shown.replace(/\u00a0/g, ' '), /return a \+ b/);
    t.diagnostic(`screenshot: ${await screenshot(page, '02-ghost-text')}`);
    await page.keyboard.press('Tab');
    await page.locator('.view-line', { hasText: 'return a + b' }).first().waitFor({ timeout: 10000 });
    assert.equal(await page.locator('.ghost-text-decoration, .ghost-text').count(), 0);
    t.diagnostic(`screenshot: ${await screenshot(page, '03-accepted')}`);
  });

  test('Ctrl+. inside a function lists the Mimi actions (not only explain)', async (t) => {
    const { page } = vs;
    await openFile(page, 'shop/pricing.py');
    await page.locator('.view-line', { hasText: 'return price' }).first().click();
    await page.keyboard.press('Control+.');
    const menu = page.locator('.action-widget');
    await menu.waitFor({ timeout: 30000 });
    await menu.locator('.monaco-list-row', { hasText: 'Mimi: write tests' }).first().waitFor({ timeout: 30000 });
    const titles = (await menu.locator('.monaco-list-row').allInnerTexts()).map((x) => x.trim());
    const mimi = titles.filter((x) => x.startsWith('Mimi:'));
    t.diagnostic(`Ctrl+. lists: ${mimi.join(' | ')}`);
    for (const title of ['Mimi: edit `apply_discount`…', 'Mimi: add docstrings', 'Mimi: write tests for `apply_discount`', 'Mimi: explain']) {
      assert.ok(mimi.some((x) => x.includes(title)), `${title} missing from Ctrl+.: ${titles.join(' | ')}`);
    }
    t.diagnostic(`screenshot: ${await screenshot(page, '03b-code-actions')}`);
    await page.keyboard.press('Escape');
    await openFile(page, 'calc.py'); // as the next test expects
  });

  test('the search picker shows live results and opens the chosen file', async (t) => {
    const { page } = vs;
    await runCommand(page, 'Mimi: Search Codebase');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill('apply_discount');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'shop/pricing.py' }).first();
    await row.waitFor({ state: 'visible', timeout: 45000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '04-search-picker')}`);
    await row.click();
    await page.locator('.tab.active[aria-label^="pricing.py"]').waitFor({ timeout: 15000 });
    await page.locator('.view-line', { hasText: 'def apply_discount' }).first().waitFor();
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '05-search-opened')}`);
  });

  test('the Settings UI lists the server settings with their descriptions', async (t) => {
    const { page } = vs;
    await runCommand(page, 'Mimi: Show Status');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Open Settings' }).first();
    await row.waitFor({ state: 'visible', timeout: 15000 });
    const version = page.locator('.quick-input-list .monaco-list-row', { hasText: 'mimi-lsp ' }).first();
    assert.match(await version.innerText(), /mimi-lsp \d+\.\d+/);
    assert.equal(await page.locator('.quick-input-list .monaco-list-row', { hasText: 'index: ready' }).count(), 1);
    t.diagnostic(`screenshot: ${await screenshot(page, '06-status-picker')}`);
    await row.click();
    const editor = page.locator('.settings-editor');
    await editor.waitFor({ timeout: 20000 });
    const model = page.locator('.setting-item', { hasText: 'Completion (base) model.' }).first();
    await model.waitFor({ timeout: 20000 });
    assert.match(await model.innerText(), /Model/);
    t.diagnostic(`screenshot: ${await screenshot(page, '06-settings-ui')}`);
    await page.keyboard.press('Control+W');
  });

  test('Edit Selection shows the agent edit as a diff; Apply applies it', async (t) => {
    const { page } = vs;
    await openFile(page, 'shop/pricing.py');
    await page.locator('.view-line', { hasText: 'TAX_RATE' }).first().click();
    await page.keyboard.press('Home');
    await page.keyboard.press('Shift+End');
    await runCommand(page, 'Mimi: Edit Selection');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill('raise the tax rate to 25%');
    await page.keyboard.press('Enter');
    // The diff: the file on the left, the agent's version on the right.
    await page.locator('.tab.active[aria-label*="pricing.py ↔"]').waitFor({ timeout: 45000 });
    await page.locator('.editor-container .modified-in-monaco-diff-editor .view-line', { hasText: 'TAX_RATE = 0.25' }).first().waitFor();
    const toasts = page.locator('.notifications-toasts');
    await toasts.locator('.notification-toast', { hasText: 'apply the changes to shop/pricing.py?' }).waitFor();
    // Nothing has changed yet, and the "editing…" progress is gone: the diff waits for the user.
    await toasts.locator('.notification-toast', { hasText: 'Mimi is editing' }).waitFor({ state: 'detached', timeout: 10000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '07-edit-review')}`);
    // Apply in the diff's title bar.
    await page.locator('.editor-actions .action-label[aria-label="Apply Edit"]').first().click();
    await page.locator('.tab.active[aria-label^="pricing.py"]').first().waitFor({ timeout: 15000 });
    assert.equal(await page.locator('.tab[aria-label*="↔"]').count(), 0, 'the diff closed');
    await page.locator('.view-line', { hasText: 'TAX_RATE = 0.25' }).first().waitFor({ timeout: 15000 });
    await toasts.locator('.notification-toast', { hasText: 'Raised the tax rate' }).first().waitFor({ timeout: 15000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '08-edit-applied')}`);
  });

  test('the chat view renders a streamed answer with clickable sources', async (t) => {
    const { page } = vs;
    await openFile(page, 'shop/pricing.py');
    await runCommand(page, 'Mimi: Chat');
    const frame = await chatFrame(page);
    await frame.fill('#input', 'What does apply_discount do?');
    await frame.press('#input', 'Enter');
    const answer = frame.locator('.message.assistant[data-done="true"]').first();
    await answer.waitFor({ timeout: 45000 });
    assert.match(await answer.locator('.body').innerText(), /returns the discounted price/);
    assert.ok(Number(await answer.getAttribute('data-deltas')) > 1, 'the answer arrived in pieces');
    assert.equal(await answer.locator('pre code').count(), 1, 'the code block is rendered');
    const source = answer.locator('.citations a').first();
    await source.waitFor();
    assert.match(await source.innerText(), /shop\/pricing\.py:\d+/);
    t.diagnostic(`screenshot: ${await screenshot(page, '09-chat')}`);
    await openFile(page, 'calc.py');
    await source.click();
    await page.locator('.tab.active[aria-label^="pricing.py"]').waitFor({ timeout: 15000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '10-chat-source-opened')}`);
  });

  test('Ctrl+. "add docstrings" inside a function: the edit comes as a diff and Apply applies it', async (t) => {
    // Issue 16 item 5: VS Code's Refactor Preview showed agent edits unticked, so Apply did nothing.
    const { page } = vs;
    await openFile(page, 'shop/cart.py');
    await page.locator('.view-line', { hasText: 'self.items' }).first().click();
    await page.keyboard.press('Control+.');
    const item = page.locator('.action-widget .monaco-list-row', { hasText: 'Mimi: add docstrings' }).first();
    await item.waitFor({ timeout: 30000 });
    // Chosen with the keyboard, as the menu is used (a pointer block covers it for the mouse).
    const focused = page.locator('.action-widget .monaco-list-row.focused');
    for (let i = 0; i < 10 && !(await focused.innerText().catch(() => '')).includes('Mimi: add docstrings'); i++) {
      await page.keyboard.press('ArrowDown');
    }
    assert.match(await focused.innerText(), /Mimi: add docstrings/);
    await page.keyboard.press('Enter');
    await page.locator('.tab.active[aria-label*="cart.py ↔"]').waitFor({ timeout: 45000 });
    await page.locator('.modified-in-monaco-diff-editor .view-line', { hasText: 'An empty cart.' }).first().waitFor();
    assert.equal(await page.locator('.panel .refactor-preview, .refactor-preview').count(), 0, 'no Refactor Preview');
    t.diagnostic(`screenshot: ${await screenshot(page, '11-docstring-review')}`);
    await page.locator('.editor-actions .action-label[aria-label="Apply Edit"]').first().click();
    await page.locator('.tab.active[aria-label^="cart.py"]').first().waitFor({ timeout: 15000 });
    assert.equal(await page.locator('.tab[aria-label*="↔"]').count(), 0, 'the diff closed');
    await page.locator('.view-line', { hasText: 'An empty cart.' }).first().waitFor({ timeout: 15000 });
    t.diagnostic(`screenshot: ${await screenshot(page, '12-docstring-applied')}`);
  });
});
