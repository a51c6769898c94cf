// The bundled extension under a stubbed `vscode`, against the real mimi-lsp server process.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { activate, fakeSettings, makeWorkspace, noCancel, serverExecutable, until } from './harness.mjs';

describe('a running extension (fake backend)', () => {
  let ext;
  let folder;

  before(async () => {
    folder = makeWorkspace({ 'src/app.py': 'def add(a, b):\n    return a + b\n' });
    ext = await activate({
      folders: [folder],
      settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings({ replies: ['a + b'] }) },
    });
  });

  after(async () => {
    await ext?.deactivate();
  });

  test('starts the server and reports it running in the status bar', () => {
    const { api, stub } = ext;
    assert.equal(api.status.server, 'running');
    const item = stub.ui.statusBarItems.find((i) => i.id === 'mimi.status');
    assert.ok(item.visible);
    assert.match(item.text, /Mimi/);
    assert.equal(item.command, 'mimi.showStatus');
  });

  test('registers an inline completion provider for files', () => {
    const registered = ext.stub.providers.inlineCompletionItem ?? [];
    assert.equal(registered.length, 1);
  });

  test('ghost text from the server converts to VS Code inline completion items', async () => {
    const { vscode, stub } = ext;
    const doc = stub.openDocument(path.join(folder, 'src/ghost.py'), 'def add(a, b):\n    return \n');
    const { provider } = stub.providers.inlineCompletionItem[0];
    const result = await provider.provideInlineCompletionItems(
      doc,
      new vscode.Position(1, 11),
      { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined },
      noCancel(vscode),
    );
    const items = Array.isArray(result) ? result : result.items;
    assert.equal(items.length, 1);
    assert.ok(items[0] instanceof vscode.InlineCompletionItem);
    assert.equal(items[0].insertText, 'a + b');
    assert.equal(items[0].command.command, 'mimi.acceptedCompletion');
  });

  test('accepting ghost text is counted by the server', async () => {
    const { vscode, api } = ext;
    const before = (await api.server.execute('mimi.status')).metrics.completion.accepted;
    await vscode.commands.executeCommand('mimi.acceptedCompletion', 'file:///x.py');
    await until(async () => (await api.server.execute('mimi.status')).metrics.completion.accepted === before + 1, {
      what: 'accepted counter',
    });
  });

  test('the Mimi commands are registered', async () => {
    const ids = await ext.vscode.commands.getCommands();
    for (const id of [
      'mimi.openChat',
      'mimi.searchCodebase',
      'mimi.editSelection',
      'mimi.reindexWorkspace',
      'mimi.showStatus',
      'mimi.showOutput',
      'mimi.restartServer',
    ]) {
      assert.ok(ids.includes(id), `${id} registered`);
    }
  });

  test('Mimi: Show Status round-trips mimi.status and lists the backend', async () => {
    const { vscode, stub } = ext;
    const status = await vscode.commands.executeCommand('mimi.showStatus');
    assert.match(status.version, /^\d+\.\d+/);
    assert.equal(status.backends.completion.kind, 'fake');
    await until(() => stub.ui.shownQuickPicks.length > 0, { what: 'status picker' });
    const labels = stub.ui.shownQuickPicks.at(-1).items.map((i) => i.label);
    assert.ok(labels.some((l) => l.includes(`mimi-lsp ${status.version}`)), labels.join(' | '));
    assert.ok(labels.some((l) => l.includes('completion:')), labels.join(' | '));
    assert.ok(labels.some((l) => l.includes('Restart Server')));
  });

  test('with the index disabled, search and reindex say so instead of showing nothing', async () => {
    const { vscode, stub } = ext;
    void vscode.commands.executeCommand('mimi.searchCodebase', 'add');
    const pick = stub.ui.quickPicks.at(-1);
    await until(() => /index is disabled/.test(pick.placeholder ?? ''), { what: 'disabled message' });
    assert.equal(pick.items.length, 0);
    pick.hide();
    await vscode.commands.executeCommand('mimi.reindexWorkspace');
    const last = stub.ui.messages.at(-1);
    assert.equal(last.level, 'warning');
    assert.match(last.message, /mimi\.index\.enabled/);
  });

  test('the chat view is registered as a webview view', () => {
    assert.ok(ext.stub.ui.webviewViews.has('mimi.chatView'));
    const page = ext.stub.resolveWebviewView('mimi.chatView');
    assert.match(page.view.webview.html, /Content-Security-Policy/);
    assert.match(page.view.webview.html, /chat\.js/);
    assert.equal(page.view.webview.options.enableScripts, true);
  });
});

describe('settings flow', () => {
  test('changed settings reach the server without a restart', async () => {
    const folder = makeWorkspace({});
    const ext = await activate({
      folders: [folder],
      settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings({ replies: ['first'] }) },
    });
    try {
      const { vscode, stub } = ext;
      const doc = stub.openDocument(path.join(folder, 'a.py'), 'x = \n');
      const { provider } = stub.providers.inlineCompletionItem[0];
      const ask = async () => {
        const r = await provider.provideInlineCompletionItems(
          doc,
          new vscode.Position(0, 4),
          { triggerKind: vscode.InlineCompletionTriggerKind.Invoke },
          noCancel(vscode),
        );
        return (Array.isArray(r) ? r : r?.items ?? []).map((i) => i.insertText);
      };
      assert.deepEqual(await ask(), ['first']);
      stub.setConfiguration({ 'mimi.completion.backend': { kind: 'fake', replies: ['second'] } });
      await until(async () => (await ask())[0] === 'second', { what: 'new reply after a settings change' });
      const status = await ext.api.server.execute('mimi.status');
      assert.equal(status.backends.completion.kind, 'fake');
    } finally {
      await ext.deactivate();
    }
  });

  test('only settings the user set are sent; extension-only settings are not', async () => {
    const ext = await activate({
      folders: [makeWorkspace({})],
      settings: {
        'mimi.server.path': serverExecutable(),
        'mimi.trace.server': 'off',
        ...fakeSettings(),
        'mimi.completion.model': 'tiny-model',
      },
    });
    try {
      const options = ext.api.client().clientOptions.initializationOptions;
      assert.deepEqual(options, {
        completion: { backend: { kind: 'fake', replies: ['a + b'], delayMs: 0 }, debounceMs: 0, model: 'tiny-model' },
        index: { enabled: false },
      });
      const status = await ext.api.server.execute('mimi.status');
      assert.equal(status.backends.completion.model, 'tiny-model');
      assert.ok(!ext.stub.ui.messages.some((m) => /invalid settings/.test(m.message)), 'no settings warning');
    } finally {
      await ext.deactivate();
    }
  });
});

test('keys typed while the server starts are answered once it runs, without another key', async () => {
  const folder = makeWorkspace({ 'a.py': 'x = \n' });
  const ext = await activate({
    folders: [folder],
    settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings() },
    wait: false,
  });
  try {
    const { vscode, stub, api } = ext;
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(path.join(folder, 'a.py')));
    stub.applyTextChange(editor.document, new vscode.Range(0, 4, 0, 4), 'a');
    assert.equal(api.status.server, 'starting');
    await api.ready();
    assert.equal(api.status.server, 'running');
    const asked = stub.executedCommands.filter((c) => c.id === 'editor.action.inlineSuggest.trigger');
    assert.equal(asked.length, 1);
  } finally {
    await ext.deactivate();
  }
});
