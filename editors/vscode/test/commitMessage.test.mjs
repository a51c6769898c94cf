// "Mimi: Write Commit Message" against the real server and real git: the Source Control input
// box fills as the model streams, from the repository the SCM title button was pressed for.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { activate, fakeSettings, makeWorkspace, serverExecutable } from './harness.mjs';

const MESSAGE = 'fix(cart): round totals down\n\nTotals were rounded up.';

function git(cwd, ...args) {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

describe('Mimi: Write Commit Message', () => {
  let ext;
  let folder;
  const inputBox = { value: '', history: [] };

  before(async () => {
    folder = makeWorkspace({ 'cart.py': 'def total(xs):\n    return round(sum(xs))\n' });
    git(folder, 'init', '-q', '-b', 'main');
    git(folder, 'config', 'user.email', 'dev@example.com');
    git(folder, 'config', 'user.name', 'Dev');
    git(folder, 'add', '.');
    git(folder, 'commit', '-qm', 'feat(cart): add total');
    ext = await activate({
      folders: [folder],
      settings: { 'mimi.server.path': serverExecutable(), ...fakeSettings({ chatReplies: [MESSAGE], chunkChars: 5 }) },
    });
    // The built-in git extension's API, as VS Code's Source Control view exposes it.
    const repository = {
      rootUri: ext.vscode.Uri.file(folder),
      get inputBox() {
        return {
          get value() {
            return inputBox.value;
          },
          set value(v) {
            inputBox.value = v;
            inputBox.history.push(v);
          },
        };
      },
    };
    ext.vscode.extensions.getExtension = (id) =>
      id === 'vscode.git' ? { isActive: true, exports: { getAPI: () => ({ repositories: [repository] }) } } : undefined;
  });

  after(async () => {
    await ext?.deactivate();
  });

  test('fills the SCM input box while streaming, then with the whole message', async () => {
    execFileSync('sh', ['-c', "sed -i 's/round(sum(xs))/int(sum(xs))/' cart.py && git add cart.py"], { cwd: folder });
    const result = await ext.vscode.commands.executeCommand('mimi.writeCommitMessage', {
      rootUri: ext.vscode.Uri.file(folder),
    });
    assert.equal(result, MESSAGE);
    assert.equal(inputBox.value, MESSAGE);
    // Streamed: the box held growing prefixes of the message before the final value.
    const partial = inputBox.history.filter((v) => v.length < MESSAGE.length);
    assert.ok(partial.length >= 3, `only ${partial.length} partial values`);
    assert.ok(partial.every((v) => MESSAGE.startsWith(v)));
    const progress = ext.stub.ui.progress.at(-1);
    assert.equal(progress.options.location, ext.vscode.ProgressLocation.SourceControl);
  });

  test('nothing to commit: a warning and the box is left as it was', async () => {
    git(folder, 'commit', '-qm', 'fix: done');
    inputBox.value = 'draft';
    const result = await ext.vscode.commands.executeCommand('mimi.writeCommitMessage');
    assert.equal(result, undefined);
    assert.equal(inputBox.value, 'draft');
    const warning = ext.stub.ui.messages.at(-1);
    assert.match(warning.message, /Nothing to commit/);
  });
});
