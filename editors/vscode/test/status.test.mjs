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
