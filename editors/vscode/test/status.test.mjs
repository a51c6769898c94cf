// The status bar item follows mimi/status from the real server.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { activate, makeWorkspace, noCancel, serverExecutable, until } from './harness.mjs';

/** A loopback port with nothing listening (bound, then released). */
async function closedPort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

test('an unreachable backend turns the status bar item into a warning with the reason', async () => {
  const port = await closedPort();
  const folder = makeWorkspace({});
  const ext = await activate({
    folders: [folder],
    settings: {
      'mimi.server.path': serverExecutable(),
      'mimi.completion.backend': { kind: 'ollama', host: `http://127.0.0.1:${port}`, timeoutMs: 2000 },
      'mimi.completion.debounceMs': 0,
      'mimi.index.enabled': false,
    },
  });
  try {
    const { vscode, stub, api } = ext;
    const doc = stub.openDocument(path.join(folder, 'a.py'), 'x = \n');
    const { provider } = stub.providers.inlineCompletionItem[0];
    await provider.provideInlineCompletionItems(
      doc,
      new vscode.Position(0, 4),
      { triggerKind: vscode.InlineCompletionTriggerKind.Invoke },
      noCancel(vscode),
    );
    const item = stub.ui.statusBarItems.find((i) => i.id === 'mimi.status');
    await until(() => api.status.health.get('completion')?.state === 'unavailable', { what: 'mimi/status' });
    assert.equal(item.text, '$(warning) Mimi');
    assert.equal(item.backgroundColor.id, 'statusBarItem.warningBackground');
    assert.match(item.tooltip, /Completion: backend unavailable/);
    assert.match(item.tooltip, new RegExp(`127\\.0\\.0\\.1:${port}`));
  } finally {
    await ext.deactivate();
  }
});

test('the Mimi output shows server lines at their own level, each warning once', async () => {
  const ext = await activate({
    folders: [makeWorkspace({})],
    settings: {
      'mimi.server.path': serverExecutable(),
      'mimi.logLevel': 'debug',
      'mimi.completion.backend': { kind: 'fake', replies: [''] },
      'mimi.index.enabled': false,
      // Out of range: the server logs a warning (stderr) and forwards it (window/logMessage).
      'mimi.completion.temperature': 9,
    },
  });
  try {
    const channel = ext.stub.ui.outputChannels.find((c) => c.name === 'Mimi');
    const warned = () => channel.lines.filter((l) => /invalid settings ignored/.test(l));
    await until(() => warned().length > 0, { what: 'the settings warning in the output' });
    await ext.api.server.execute('mimi.status'); // anything still in flight has arrived
    assert.equal(warned().length, 1, warned().join('\n'));
    assert.match(warned()[0], /^\[warn\] /);
    // Server records start with their logger's name (`asyncio: …`, `mimi_lsp.x: …`).
    const server = channel.lines.filter((l) => /^\[\w+\] [\w.]+: /.test(l));
    assert.ok(server.length > 0, channel.lines.join('\n'));
    assert.ok(
      !server.some((l) => l.startsWith('[error]')),
      `INFO/DEBUG lines tagged error:\n${server.filter((l) => l.startsWith('[error]')).join('\n')}`,
    );
    assert.ok(server.some((l) => l.startsWith('[info]') || l.startsWith('[debug]')), channel.lines.join('\n'));
    assert.ok(!server.some((l) => /^\[\w+\] \d{4}-\d\d-\d\d/.test(l)), 'no second timestamp');
  } finally {
    await ext.deactivate();
  }
});
