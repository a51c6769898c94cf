// Next-edit suggestions in the web IDE: Debian Chromium (playwright-core) against a real
// `mimi-lsp web` (no model). Started by tests/web/test_monaco_next_edit.py with $MIMI_E2E =
// { url, chromium, screenshots, file }. Renames a parameter at its definition by typing, then
// checks that the next use is drawn (struck text + replacement), that Tab jumps to it and Tab
// applies it, and that the rename goes on. Prints one JSON line {"ok", "detail"|"error"}.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.env.MIMI_E2E ?? '{}');
mkdirSync(config.screenshots, { recursive: true });
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const check = (cond, message) => {
  if (!cond) throw new Error(message);
};

const shown = (page) =>
  page.waitForFunction(() => {
    const old = document.querySelector('.mimi-next-edit-old');
    const added = document.querySelector('.mimi-next-edit-new');
    const edit = window.mimi.nextEdit.edit;
    return old && added && edit ? { old: old.textContent, edit } : null;
  }, null, { timeout: 15000 }).then((h) => h.jsonValue());

const browser = await chromium.launch({ executablePath: config.chromium, args: ARGS, headless: true });
let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(config.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  await page.waitForFunction(() => window.mimi?.lsp?.state === 'ready', null, { timeout: 20000 });
  await page.locator(`#tree .row.file[data-path="${config.file}"]`).click();
  await page.waitForSelector(`#tabs .tab.active[data-path="${config.file}"]`);
  // Select `rate` in `def total(items, rate):` and type the new name.
  await page.evaluate(() => {
    const { editor, monaco } = window.mimi;
    editor.setSelection(new monaco.Range(1, 18, 1, 22));
    editor.focus();
  });
  await page.keyboard.type('factor', { delay: 30 });
  const first = await shown(page);
  check(first.old === 'rate', `struck text ${JSON.stringify(first.old)}`);
  check(first.edit.range.start.line === 3 && first.edit.range.start.character === 31, `range ${JSON.stringify(first.edit.range)}`);
  check(first.edit.text === 'factor', `text ${first.edit.text}`);
  await page.screenshot({ path: path.join(config.screenshots, 'next-edit-shown.png') });

  await page.keyboard.press('Tab');
  await page.waitForFunction(() => window.mimi.editor.getPosition().lineNumber === 4, null, { timeout: 5000 });
  const pos = await page.evaluate(() => window.mimi.editor.getPosition());
  check(pos.column === 32, `cursor after the jump ${JSON.stringify(pos)}`);
  const before = await page.evaluate(() => window.mimi.editor.getModel().getLineContent(4));
  check(before.endsWith('* rate'), `applied too early: ${before}`);

  await page.keyboard.press('Tab');
  await page.waitForFunction(
    () => window.mimi.editor.getModel().getLineContent(4).endsWith('* factor'), null, { timeout: 5000 });
  const second = await shown(page);
  check(second.edit.range.start.line === 4, `the next use ${JSON.stringify(second.edit.range)}`);
  await page.screenshot({ path: path.join(config.screenshots, 'next-edit-accepted.png') });
  const state = await page.evaluate(() => {
    const { requests, shown: n, accepted, dropped, jumps } = window.mimi.nextEdit;
    return { requests, shown: n, accepted, dropped, jumps };
  });
  check(state.accepted === 1 && state.jumps === 1, `state ${JSON.stringify(state)}`);
  out({ ok: true, detail: state });
} catch (error) {
  try {
    if (page) await page.screenshot({ path: path.join(config.screenshots, 'next-edit-FAILED.png') });
  } catch {
    /* page gone */
  }
  out({ ok: false, error: String(error?.stack ?? error) });
} finally {
  await browser.close();
}
