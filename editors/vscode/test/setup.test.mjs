// Mimi: Set Up against the real server and an Ollama stand-in on a non-default port.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { activate, makeWorkspace, noCancel, serverExecutable, standin, until } from './harness.mjs';

test('Set Up finds the server at a typed address, offers its models and writes plain settings', async () => {
  const ollama = await standin('ollama', ['--models', 'llama3:8b,qwen2.5-coder:7b-instruct,qwen2.5-coder:1.5b-base', '--reply', 'a + b']);
  const folder = makeWorkspace({});
  const ext = await activate({
    folders: [folder],
    settings: { 'mimi.server.path': serverExecutable(), 'mimi.index.enabled': false, 'mimi.completion.debounceMs': 0 },
  });
  try {
    const { vscode, stub, api } = ext;
    // Step 2 and 3 answer with the first (suggested) model; record what was offered.
    const offered = [];
    stub.ui.answers.quickPick.push((items) => (offered.push(items.map((i) => i.label)), items[0]));
    stub.ui.answers.quickPick.push((items) => (offered.push(items.map((i) => i.label)), items[0]));
    const running = vscode.commands.executeCommand('mimi.setUp');
    const pick = await until(() => stub.ui.quickPicks.find((p) => /Set Up \(1\/3\)/.test(p.title ?? '')), { what: 'the server picker' });
    await until(() => !pick.busy, { what: 'detection' });
    // The stand-in is on a non-default port: type its address (without http://).
    pick.type(ollama.url.replace('http://', ''));
    pick.activeItems = [pick.items.find((i) => i.other)];
    pick.accept(pick.activeItems[0]);
    const written = await running;
    assert.deepEqual(written, {
      'completion.provider': 'ollama',
      'completion.url': ollama.url,
      'completion.model': 'qwen2.5-coder:1.5b-base',
      'chat.model': 'qwen2.5-coder:7b-instruct',
    });
    assert.equal(offered[0][0], 'qwen2.5-coder:1.5b-base', 'a base code model is suggested for completion');
    assert.equal(offered[1][0], 'qwen2.5-coder:7b-instruct', 'an instruct model is suggested for chat');
    assert.equal(stub.settings.get('mimi.completion.url'), ollama.url);
    // The server applies them: ghost text comes from the stand-in.
    const doc = stub.openDocument(path.join(folder, 'a.py'), 'def add(a, b):\n    return \n');
    const { provider } = stub.providers.inlineCompletionItem[0];
    const texts = await until(
      async () => {
        const r = await provider.provideInlineCompletionItems(
          doc,
          new vscode.Position(1, 11),
          { triggerKind: vscode.InlineCompletionTriggerKind.Invoke },
          noCancel(vscode),
        );
        const items = (Array.isArray(r) ? r : r?.items ?? []).map((i) => i.insertText);
        return items.length && items;
      },
      { what: 'ghost text from the stand-in', timeoutMs: 30000 },
    );
    assert.deepEqual(texts, ['a + b']);
    assert.ok(stub.ui.messages.some((m) => /ghost text from qwen2\.5-coder:1\.5b-base/.test(m.message)));
  } finally {
    await ext.deactivate();
    await ollama.stop();
  }
});
