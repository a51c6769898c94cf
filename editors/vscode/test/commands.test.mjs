// The Mimi commands round-trip through the real server: search picker, reindex, agent edit, and
// the index progress in the status bar.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { activate, fakeSettings, makeWorkspace, noCancel, serverExecutable, until } from './harness.mjs';

const FILES = {
  'shop/pricing.py':
    'TAX_RATE = 0.2\n\n\ndef apply_discount(price, percent):\n    """Price after a percentage discount."""\n    return price * (1 - percent / 100)\n\n\ndef with_tax(price):\n    return price * (1 + TAX_RATE)\n',
  'shop/cart.py':
    'from shop.pricing import apply_discount\n\n\nclass Cart:\n    def __init__(self):\n        self.items = []\n\n    def total(self):\n        return sum(apply_discount(i.price, i.discount) for i in self.items)\n',
  'README.md': '# shop\n',
};

function call(name, args) {
  return JSON.stringify({ tool_calls: [{ name, arguments: args }] });
}

describe('with the workspace index (BM25 only)', () => {
  let ext;
  let folder;

  before(async () => {
    folder = makeWorkspace(FILES);
    ext = await activate({
      folders: [folder],
      settings: {
        'mimi.server.path': serverExecutable(),
        ...fakeSettings(),
        'mimi.index.enabled': true,
        'mimi.index.embeddings': false,
        'mimi.index.cacheDir': fs.mkdtempSync(path.join(os.tmpdir(), 'mimi-index-')),
      },
    });
    await until(() => ext.api.status.index?.state === 'ready', { what: 'mimi/indexStatus ready', timeoutMs: 60000 });
  });

  after(async () => {
    await ext?.deactivate();
  });

  test('index progress from mimi/indexStatus shows in the status bar tooltip', () => {
    const item = ext.stub.ui.statusBarItems.find((i) => i.id === 'mimi.status');
    assert.equal(ext.api.status.index.files, 3);
    assert.match(item.tooltip, /Index: ready, 3 files, \d+ chunks/);
  });

  test('Mimi: Search Codebase shows live results and opens the chosen location', async () => {
    const { vscode, stub } = ext;
    const opened = vscode.commands.executeCommand('mimi.searchCodebase');
    const pick = stub.ui.quickPicks.at(-1);
    assert.equal(pick.title, 'Mimi: Search Codebase');
    pick.type('apply_discount');
    await until(() => pick.items.length > 0 && !pick.busy, { what: 'search results' });
    const first = pick.items[0];
    assert.ok(first.alwaysShow);
    assert.match(first.description, /^shop\/(pricing|cart)\.py:\d+$/);
    const target = pick.items.find((i) => i.description.startsWith('shop/pricing.py')) ?? first;
    pick.accept(target);
    const hit = await opened;
    assert.equal(hit.uri, target.hit.uri);
    const shown = stub.ui.shownDocuments.at(-1);
    assert.equal(shown.uri, target.hit.uri);
    assert.deepEqual(
      { line: shown.selection.start.line, character: shown.selection.start.character },
      target.target.start,
    );
    if (target.hit.symbol === 'apply_discount') {
      // The cursor lands on the symbol's name, not the chunk's first line.
      assert.deepEqual(target.target, { start: { line: 3, character: 4 }, end: { line: 3, character: 18 } });
      assert.equal(target.description, 'shop/pricing.py:4');
    }
    assert.equal(shown.options.preview, false);
    assert.equal(pick.visible, false);
  });

  test('typing replaces the results of the previous query, even one still in flight', async () => {
    const { vscode, stub } = ext;
    // Starts with the selected text as the query (the previous test left a selection).
    void vscode.commands.executeCommand('mimi.searchCodebase', 'apply_discount');
    const pick = stub.ui.quickPicks.at(-1);
    pick.type('Cart');
    pick.type('with_tax');
    await until(() => pick.items.length > 0 && !pick.busy, { what: 'search results' });
    assert.equal(pick.items[0].hit.symbol, 'with_tax', pick.items.map((i) => i.label).join());
    assert.equal(pick.value, 'with_tax');
    pick.hide();
  });

  test('Mimi: Reindex round-trips mimi.reindex and reports the counts', async () => {
    const { vscode, stub } = ext;
    const result = await vscode.commands.executeCommand('mimi.reindexWorkspace');
    assert.equal(result.files, 3);
    assert.ok(result.chunks > 0);
    const info = stub.ui.messages.at(-1);
    assert.equal(info.message, `Mimi: indexed 3 files (${result.chunks} chunks).`);
  });
});

describe('Mimi: Edit Selection', () => {
  const EDIT = call('edit', { path: 'shop/pricing.py', edits: [{ search: 'TAX_RATE = 0.2', replace: 'TAX_RATE = 0.25' }] });

  async function editingExtension() {
    const folder = makeWorkspace(FILES);
    const ext = await activate({
      folders: [folder],
      settings: {
        'mimi.server.path': serverExecutable(),
        ...fakeSettings(),
        'mimi.completion.backend': { kind: 'fake', replies: [''], chatReplies: [EDIT, 'Raised the tax rate to 25%.'] },
      },
    });
    const { vscode } = ext;
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(path.join(folder, 'shop/pricing.py')));
    editor.selection = new vscode.Selection(0, 0, 0, 14);
    return { ext, editor };
  }

  test('shows the agent edit as a diff; Apply applies all of it and says what was done', async () => {
    const { ext, editor } = await editingExtension();
    try {
      const { vscode, stub } = ext;
      stub.ui.answers.inputBox.push('raise the tax rate to 25%');
      stub.ui.answers.message.push('Apply');
      const result = await vscode.commands.executeCommand('mimi.editSelection');
      assert.equal(result.applied, true);
      assert.deepEqual(result.files, ['shop/pricing.py']);
      // The diff: the file against the proposed text, served by the review's content provider.
      const diff = stub.executedCommands.find((c) => c.id === 'vscode.diff');
      assert.equal(diff.args[0].toString(), editor.document.uri.toString());
      assert.equal(diff.args[1].scheme, 'mimi-review');
      assert.match(diff.args[2], /^shop\/pricing\.py ↔ /);
      // Applied without needsConfirmation: VS Code's preview would leave it unticked.
      const call = stub.ui.applyEditCalls.at(-1);
      const metadata = call.edit.metadata();
      assert.ok(metadata.length > 0 && metadata.every((m) => m.needsConfirmation === false), JSON.stringify(metadata));
      assert.equal(editor.document.lineAt(0).text, 'TAX_RATE = 0.25');
      const asked = stub.ui.messages.find((m) => m.items.includes('Apply'));
      assert.match(asked.message, /apply the changes to shop\/pricing\.py\?/);
      assert.deepEqual(asked.items, ['Apply', 'Discard']);
      assert.match(stub.ui.messages.at(-1).message, /Raised the tax rate to 25%/);
      assert.match(stub.ui.inputBoxes.at(-1).prompt, /selected code/);
      // The progress notification ended when the diff came up, before the user answered.
      assert.ok(stub.ui.progress.find((p) => p.options.title === 'Mimi is editing…').done);
      assert.equal(stub.ui.context.get('mimi.reviewing'), false);
    } finally {
      await ext.deactivate();
    }
  });

  test('the diff shows the proposed text and Discard leaves the file untouched', async () => {
    const { ext, editor } = await editingExtension();
    try {
      const { vscode, stub, api } = ext;
      const running = vscode.commands.executeCommand('mimi.editSelection', 'raise the tax rate to 25%');
      await until(() => stub.ui.context.get('mimi.reviewing') === true, { what: 'the review' });
      const diff = stub.executedCommands.find((c) => c.id === 'vscode.diff');
      assert.match(stub.ui.content(diff.args[1]), /^TAX_RATE = 0\.25\n/);
      assert.equal(api.review.active, true);
      // The diff's title-bar button.
      await vscode.commands.executeCommand('mimi.review.discard');
      const result = await running;
      assert.equal(result.applied, false);
      assert.equal(editor.document.lineAt(0).text, 'TAX_RATE = 0.2');
      assert.equal(stub.ui.applyEditCalls.length, 0);
      assert.ok(!stub.ui.messages.some((m) => /no edit was made/.test(m.message)), 'a discard needs no message');
    } finally {
      await ext.deactivate();
    }
  });

  test('a file edited during the review is not overwritten: the user is told why', async () => {
    const { ext, editor } = await editingExtension();
    try {
      const { vscode, stub } = ext;
      const running = vscode.commands.executeCommand('mimi.editSelection', 'raise the tax rate to 25%');
      await until(() => stub.ui.context.get('mimi.reviewing') === true, { what: 'the review' });
      stub.applyTextChange(editor.document, new vscode.Range(9, 0, 9, 0), '# note\n');
      await vscode.commands.executeCommand('mimi.review.apply');
      const result = await running;
      assert.equal(result.applied, false);
      assert.equal(editor.document.lineAt(0).text, 'TAX_RATE = 0.2');
      assert.ok(stub.ui.messages.some((m) => m.level === 'warning' && /changed during the review/.test(m.message)));
    } finally {
      await ext.deactivate();
    }
  });

  test('code actions run the agent as a command, so their edit reaches the review too', async () => {
    const { ext, editor } = await editingExtension();
    try {
      const { vscode, stub } = ext;
      const { provider } = stub.providers.codeActions[0];
      const actions = await provider.provideCodeActions(
        editor.document,
        new vscode.Range(3, 4, 3, 4),
        { triggerKind: vscode.CodeActionTriggerKind.Invoke, diagnostics: [], only: undefined },
        noCancel(vscode),
      );
      const docstrings = actions.find((a) => a.title === 'Mimi: add docstrings');
      assert.equal(docstrings.command.command, 'mimi.agent.edit', 'a command, not an edit to resolve');
      stub.ui.answers.message.push('Apply');
      const result = await vscode.commands.executeCommand(docstrings.command.command, ...docstrings.command.arguments);
      assert.equal(result.applied, true);
      assert.equal(editor.document.lineAt(0).text, 'TAX_RATE = 0.25');
    } finally {
      await ext.deactivate();
    }
  });

  test('Cancel in the progress notification stops the agent run', async () => {
    const folder = makeWorkspace(FILES);
    const ext = await activate({
      folders: [folder],
      settings: {
        'mimi.server.path': serverExecutable(),
        ...fakeSettings(),
        'mimi.completion.backend': { kind: 'fake', replies: [''], chatReplies: ['Done.'], delayMs: 30000 },
      },
    });
    try {
      const { vscode, stub, api } = ext;
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(path.join(folder, 'shop/cart.py')));
      const started = Date.now();
      const running = vscode.commands.executeCommand('mimi.editSelection', 'add docstrings');
      const progress = await until(() => stub.ui.progress.find((p) => p.options.title === 'Mimi is editing…'), {
        what: 'progress notification',
      });
      assert.equal(progress.options.cancellable, true);
      progress.source.cancel();
      assert.equal(await running, undefined);
      assert.ok(Date.now() - started < 20000, 'returned long before the 30 s model call');
      assert.equal(stub.ui.applyEditCalls.length, 0);
      assert.equal((await api.server.execute('mimi.status')).backends.completion.kind, 'fake');
    } finally {
      await ext.deactivate();
    }
  });

  test('without an open editor it says what to do instead of calling the server', async () => {
    const ext = await activate({
      folders: [makeWorkspace({})],
      settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings() },
    });
    try {
      const result = await ext.vscode.commands.executeCommand('mimi.editSelection');
      assert.equal(result, undefined);
      assert.match(ext.stub.ui.messages.at(-1).message, /open a file/);
    } finally {
      await ext.deactivate();
    }
  });
});
