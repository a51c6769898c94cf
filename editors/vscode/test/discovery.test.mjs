// How the extension finds mimi-lsp, and what the user sees when it cannot.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { activate, fakeSettings, makeWorkspace, serverExecutable } from './harness.mjs';

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

test('does not run a workspace venv in an untrusted workspace; says why and how to fix', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ext = await activate({ folders: [workspaceWithVenv()], trusted: false, settings: fakeSettings() });
    try {
      assert.equal(ext.api.serverPath(), undefined);
      assert.equal(ext.api.status.server, 'missing');
      const error = ext.stub.ui.messages.find((m) => m.level === 'error');
      assert.match(error.message, /mimi-lsp was not found/);
      assert.match(error.message, /not trusted/);
      assert.match(error.message, /pip install mimi-lsp/);
      assert.deepEqual(error.items, ['Open Settings', 'Show Output']);
      const item = ext.stub.ui.statusBarItems.find((i) => i.id === 'mimi.status');
      assert.equal(item.text, '$(error) Mimi: no server');
      assert.equal(item.backgroundColor.id, 'statusBarItem.errorBackground');
    } finally {
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
