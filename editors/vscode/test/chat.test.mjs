// The Chat view against the real server: streamed mimi/chatDelta tokens, citations, history, stop.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { activate, makeWorkspace, serverExecutable, until } from './harness.mjs';

const REPLY = 'The `add` function returns the sum of its two arguments [1].';

describe('Mimi: Chat', () => {
  let ext;
  let folder;
  let page;

  before(async () => {
    folder = makeWorkspace({ 'src/app.py': 'def add(a, b):\n    return a + b\n' });
    ext = await activate({
      folders: [folder],
      settings: {
        'mimi.server.path': serverExecutable(),
        'mimi.completion.backend': { kind: 'fake', replies: [''], chatReplies: [REPLY], chunkChars: 5, delayMs: 5 },
        'mimi.completion.debounceMs': 0,
        'mimi.index.enabled': false,
      },
    });
    const { vscode } = ext;
    const editor = await vscode.window.showTextDocument(
      await vscode.workspace.openTextDocument(path.join(folder, 'src/app.py')),
    );
    editor.selection = new vscode.Selection(0, 0, 1, 16);
    await vscode.commands.executeCommand('mimi.openChat');
    page = ext.stub.resolveWebviewView('mimi.chatView');
  });

  after(async () => {
    await ext?.deactivate();
  });

  test('Mimi: Chat focuses the chat view', () => {
    assert.ok(ext.stub.executedCommands.some((c) => c.id === 'mimi.chatView.focus'));
  });

  test('an answer streams in as deltas, then arrives whole with clickable citations', async () => {
    page.send({ type: 'send', text: 'what does add do?' });
    const done = await page.waitFor((m) => m.type === 'done');
    const user = page.posted.find((m) => m.type === 'user');
    assert.equal(user.text, 'what does add do?');
    assert.equal(user.context, 'src/app.py:1-2');
    const deltas = page.posted.filter((m) => m.type === 'delta' && m.chatId === done.chatId);
    assert.ok(deltas.length > 1, `streamed in ${deltas.length} pieces`);
    assert.equal(deltas.map((d) => d.delta).join(''), REPLY);
    assert.ok(page.posted.indexOf(deltas[0]) < page.posted.indexOf(done));
    assert.equal(done.reply, REPLY);
    assert.ok(done.citations.length >= 1, JSON.stringify(done.citations));
    const citation = done.citations[0];
    assert.match(citation.label, /^src\/app\.py:\d+$/);

    page.send({ type: 'open', uri: citation.uri, range: citation.range });
    await until(() => ext.stub.ui.shownDocuments.at(-1)?.uri === citation.uri, { what: 'citation opened' });
    assert.equal(ext.stub.ui.shownDocuments.at(-1).selection.start.line, citation.range.start.line);
  });

  test('a follow-up question is answered in the same conversation', async () => {
    const before = page.posted.filter((m) => m.type === 'done').length;
    page.send({ type: 'send', text: 'and with strings?' });
    await until(() => page.posted.filter((m) => m.type === 'done').length === before + 1, { what: 'second answer' });
    page.send({ type: 'ready' });
    const history = await page.waitFor((m) => m.type === 'history' && m.messages.length >= 4);
    assert.deepEqual(
      history.messages.slice(-4).map((m) => m.role),
      ['user', 'assistant', 'user', 'assistant'],
    );
  });

  test("the server's explain command (a code action) answers in the chat view", async () => {
    const uri = ext.vscode.Uri.file(path.join(folder, 'src/app.py')).toString();
    const range = { start: { line: 0, character: 0 }, end: { line: 1, character: 16 } };
    const result = await ext.vscode.commands.executeCommand('mimi.explain', { uri, range });
    assert.equal(result.reply, REPLY);
    const done = await page.waitFor((m) => m.type === 'done' && m.chatId === result.chatId);
    assert.equal(done.reply, REPLY);
    const question = page.posted.find((m) => m.type === 'user' && m.chatId === result.chatId);
    assert.equal(question.text, 'Explain the selected code.');
    assert.equal(question.context, 'src/app.py:1-2');
    assert.ok(!ext.stub.ui.messages.some((m) => m.message.includes(REPLY)), 'no message box copy');
  });

  test('New chat clears the conversation', async () => {
    page.send({ type: 'clear' });
    await page.waitFor((m) => m.type === 'clear');
    page.send({ type: 'ready' });
    await page.waitFor((m) => m.type === 'history' && m.messages.length === 0);
  });
});

test('Stop cancels an answer being generated', async () => {
  const ext = await activate({
    folders: [makeWorkspace({})],
    settings: {
      'mimi.server.path': serverExecutable(),
      'mimi.completion.backend': { kind: 'fake', replies: [''], chatReplies: ['never shown'], delayMs: 30000 },
      'mimi.index.enabled': false,
    },
  });
  try {
    const page = ext.stub.resolveWebviewView('mimi.chatView');
    page.send({ type: 'send', text: 'write a lot' });
    await page.waitFor((m) => m.type === 'start');
    const started = Date.now();
    page.send({ type: 'stop' });
    const stopped = await page.waitFor((m) => m.type === 'stopped');
    assert.ok(Date.now() - started < 10000, 'stopped long before the 30 s model call');
    assert.ok(!page.posted.some((m) => m.type === 'done' && m.chatId === stopped.chatId));
    // The server is still there for the next question.
    assert.ok((await ext.api.server.execute('mimi.status')).version);
  } finally {
    await ext.deactivate();
  }
});
