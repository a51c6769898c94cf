// How the extension finds mimi-lsp, and what the user sees when it cannot.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { activate, fakeSettings, makeWorkspace, serverExecutable, until } from './harness.mjs';

function workspaceWithVenv() {
  const folder = makeWorkspace({ 'main.py': 'print(1)\n' });
  fs.mkdirSync(path.join(folder, '.venv', 'bin'), { recursive: true });
  fs.symlinkSync(serverExecutable(), path.join(folder, '.venv', 'bin', 'mimi-lsp'));
  return folder;
}

test('finds the project venv in a trusted workspace folder', async () => {
  const folder = workspaceWithVenv();
  const ext = await activate({ folders: [folder], settings: fakeSettings() });
  try {
    assert.deepEqual(ext.api.serverPath(), {
      command: path.join(folder, '.venv', 'bin', 'mimi-lsp'),
      source: 'workspace',
    });
    assert.equal(ext.api.status.server, 'running');
  } finally {
    await ext.deactivate();
  }
});

test('finds mimi-lsp on PATH when the workspace has none', async () => {
  const bin = path.dirname(serverExecutable());
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${saved}`;
  try {
    const ext = await activate({ folders: [makeWorkspace({})], settings: fakeSettings() });
    try {
      assert.equal(ext.api.serverPath().source, 'path');
      assert.equal(ext.api.status.server, 'running');
    } finally {
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});

test('does not run a workspace venv in an untrusted workspace; says it will once trusted', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [workspaceWithVenv()], trusted: false, settings: fakeSettings() });
    try {
      assert.equal(ext.api.serverPath(), undefined);
      assert.equal(ext.api.status.server, 'missing');
      const [note] = ext.stub.ui.messages;
      assert.equal(note.level, 'info');
      assert.match(note.message, /Mimi will use \.venv\/bin\/mimi-lsp of .* once you trust this folder/);
      assert.deepEqual(note.items, ['Manage Workspace Trust', 'Choose File…']);
      const item = ext.stub.ui.statusBarItems.find((i) => i.id === 'mimi.status');
      assert.equal(item.text, '$(error) Mimi: no server');
      assert.equal(item.backgroundColor.id, 'statusBarItem.errorBackground');
      assert.match(item.tooltip, /not trusted/);
    } finally {
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});

test('with no server anywhere: one message with the fix, not repeated by a restart', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [makeWorkspace({})], trusted: false, settings: fakeSettings() });
    try {
      const errors = () => ext.stub.ui.messages.filter((m) => m.level === 'error');
      assert.equal(errors().length, 1);
      const [error] = errors();
      assert.match(error.message, /mimi-lsp was not found/);
      assert.doesNotMatch(error.message, /trust/, 'trust is no fix when the folder has no server');
      assert.match(error.message, /pip install mimi-lsp/);
      assert.deepEqual(error.items, ['Choose File…', 'Open Settings', 'Show Output']);
      // Trusting the folder restarts the search: same answer, so no second copy.
      ext.vscode.workspace.isTrusted = true;
      ext.stub.events.trust.fire();
      await ext.api.ready();
      await ext.api.restart();
      assert.equal(errors().length, 1);
    } finally {
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});

test('Choose File… writes mimi.server.path and the server starts', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [makeWorkspace({})], settings: fakeSettings(), wait: false });
    try {
      ext.stub.ui.answers.openDialog.push(serverExecutable());
      const error = await until(() => ext.stub.ui.messages.find((m) => m.level === 'error'), { what: 'the message' });
      error.answer('Choose File…');
      await until(() => ext.stub.settings.get('mimi.server.path'), { what: 'mimi.server.path written' });
      assert.equal(ext.stub.settings.get('mimi.server.path'), serverExecutable());
      await until(() => ext.api.status.server === 'running', { what: 'the server running', timeoutMs: 30000 });
    } finally {
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});

test('Open Settings opens the tab that lists mimi.server.path (Remote in a remote window)', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [makeWorkspace({})], settings: fakeSettings(), wait: false });
    ext.vscode.env.remoteName = 'code-server';
    try {
      const error = await until(() => ext.stub.ui.messages.find((m) => m.level === 'error'), { what: 'the message' });
      error.answer('Open Settings');
      const opened = await until(
        () => ext.stub.executedCommands.find((c) => c.id.startsWith('workbench.action.open') && c.id.includes('Settings')),
        { what: 'the settings opened' },
      );
      assert.equal(opened.id, 'workbench.action.openRemoteSettings');
      assert.deepEqual(opened.args[0], { query: 'mimi.server.path' });
    } finally {
      ext.vscode.env.remoteName = undefined;
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});

test('a wrong mimi.server.path is reported with the setting name', async () => {
  const ext = await activate({
    folders: [makeWorkspace({})],
    settings: { 'mimi.server.path': '/no/such/mimi-lsp', ...fakeSettings() },
  });
  try {
    assert.equal(ext.api.status.server, 'missing');
    const error = ext.stub.ui.messages.find((m) => m.level === 'error');
    assert.match(error.message, /"\/no\/such\/mimi-lsp" \(the mimi\.server\.path setting\)/);
  } finally {
    await ext.deactivate();
  }
});

test('Restart Server starts a new server process', async () => {
  const ext = await activate({
    folders: [makeWorkspace({})],
    settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings() },
  });
  try {
    const first = ext.api.client();
    await ext.vscode.commands.executeCommand('mimi.restartServer');
    const second = ext.api.client();
    assert.notEqual(first, second);
    assert.ok(second.isRunning());
    assert.equal(ext.api.status.server, 'running');
    const status = await ext.api.server.execute('mimi.status');
    assert.equal(status.backends.completion.kind, 'fake');
  } finally {
    await ext.deactivate();
  }
});

test('setting mimi.server.path later starts the server', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [makeWorkspace({})], settings: fakeSettings() });
    try {
      assert.equal(ext.api.status.server, 'missing');
      ext.stub.setConfiguration({ 'mimi.server.path': serverExecutable() });
      await ext.api.ready();
      assert.equal(ext.api.status.server, 'running');
    } finally {
      await ext.deactivate();
    }
  } finally {
    process.env.PATH = saved;
  }
});
