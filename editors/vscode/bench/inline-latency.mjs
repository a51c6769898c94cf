// Benchmark: what the VS Code extension adds around the server, measured on the BUNDLED extension
// (stubbed `vscode`, real mimi-lsp, instant fake model). Prints figures; asserts nothing.
//   activation: activate() until the client is running (server start + initialize)
//   ghost text: provideInlineCompletionItems → server → VS Code items, after a one-character edit
//               (didChange + request + conversion + the accept-command middleware)
// Usage: node bench/inline-latency.mjs [--runs N] [--requests N]
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { activate, fakeSettings, makeWorkspace, noCancel, serverExecutable } from '../test/harness.mjs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const RUNS = arg('--runs', 5);
const REQUESTS = arg('--requests', 300);

function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const fmt = (v) => v.toFixed(2).padStart(8);

const folder = makeWorkspace({});
const settings = { 'mimi.server.path': serverExecutable(), ...fakeSettings({ replies: ['a + b'] }) };

const activation = [];
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  const ext = await activate({ folders: [folder], settings });
  activation.push(performance.now() - start);
  await ext.deactivate();
}

const ext = await activate({ folders: [folder], settings });
const { vscode, stub } = ext;
const body = Array.from({ length: 2000 }, (_, i) => `def f${i}(a, b):\n    return a * ${i}\n`).join('\n');
const doc = stub.openDocument(path.join(folder, 'big.py'), `${body}\ndef add(a, b):\n    return \n`);
const { provider } = stub.providers.inlineCompletionItem[0];
const line = doc.lineCount - 2;
const times = [];
for (let i = 0; i < REQUESTS + 20; i++) {
  // Type a character and delete it again, so every request follows a real edit (no cache hit
  // from an identical prefix) and the document stays the same size.
  const col = doc.lineAt(line).text.length;
  const insert = i % 2 === 0;
  stub.applyTextChange(
    doc,
    insert ? new vscode.Range(line, col, line, col) : new vscode.Range(line, col - 1, line, col),
    insert ? 'x' : '',
  );
  const at = new vscode.Position(line, doc.lineAt(line).text.length);
  const start = performance.now();
  const result = await provider.provideInlineCompletionItems(
    doc,
    at,
    { triggerKind: vscode.InlineCompletionTriggerKind.Invoke },
    noCancel(vscode),
  );
  const elapsed = performance.now() - start;
  const items = Array.isArray(result) ? result : result?.items ?? [];
  if (!items.length) throw new Error('no ghost text');
  if (i >= 20) times.push(elapsed); // warm-up excluded
}
await ext.deactivate();

console.log(`VS Code extension (bundled, stubbed vscode, real server, fake model), ${Math.round(body.length / 1024)} KB document`);
console.log(`  activation to running  n=${RUNS}   p50 ${fmt(pct(activation, 50))} ms  p95 ${fmt(pct(activation, 95))} ms`);
console.log(`  ghost text round trip  n=${REQUESTS}  p50 ${fmt(pct(times, 50))} ms  p95 ${fmt(pct(times, 95))} ms  max ${fmt(Math.max(...times))} ms`);
process.exit(0);
