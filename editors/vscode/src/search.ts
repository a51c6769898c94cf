/**
 * Mimi: Search Codebase — a QuickPick with live results from `mimi.search`.
 *
 * Each keystroke (after a short pause) cancels the previous query and sends a new one; results
 * are shown as they arrive, the highlighted one is previewed, Enter opens it at its range.
 * Items are `alwaysShow`, since hybrid search finds code that does not contain the typed words.
 */

import * as vscode from 'vscode';
import { openLocation } from './chatView';
import type { LspRange, SearchHit, SearchResult } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

export interface SearchItem extends vscode.QuickPickItem {
  hit: SearchHit;
  /** Where the symbol's name is (or the hit's start): the cursor goes there. */
  target: LspRange;
}

const DEBOUNCE_MS = 120;

const KIND_ICONS: Record<string, string> = {
  function: 'symbol-function',
  method: 'symbol-method',
  constructor: 'symbol-constructor',
  class: 'symbol-class',
  struct: 'symbol-struct',
  interface: 'symbol-interface',
  trait: 'symbol-interface',
  enum: 'symbol-enum',
  module: 'symbol-module',
  constant: 'symbol-constant',
  variable: 'symbol-variable',
  section: 'symbol-string',
};

/** The symbol's name inside the hit (found in its preview), else the hit's start. */
export function symbolTarget(hit: SearchHit): LspRange {
  const start = hit.range.start;
  if (hit.symbol) {
    const name = hit.symbol.split('.').pop() ?? hit.symbol;
    const word = new RegExp(`\\b${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`);
    const lines = hit.preview.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = word.exec(lines[i]);
      if (m) {
        const character = (i === 0 ? start.character : 0) + m.index;
        const line = start.line + i;
        return { start: { line, character }, end: { line, character: character + name.length } };
      }
    }
  }
  return { start, end: start };
}

/** QuickPick items for search hits. */
export function searchItems(hits: SearchHit[]): SearchItem[] {
  return hits.map((hit) => {
    const uri = vscode.Uri.parse(hit.uri);
    const target = symbolTarget(hit);
    const where = `${vscode.workspace.asRelativePath(uri, false)}:${target.start.line + 1}`;
    const firstLine = hit.preview.split('\n').find((l) => l.trim()) ?? '';
    const icon = KIND_ICONS[hit.kind ?? ''] ?? (hit.symbol ? 'symbol-misc' : 'file-code');
    return {
      label: `$(${icon}) ${hit.symbol ? hit.symbol : firstLine.trim().slice(0, 80) || where}`,
      description: where,
      detail: hit.preview.replace(/\s+/g, ' ').trim().slice(0, 160),
      alwaysShow: true,
      hit,
      target,
    };
  });
}

export class SearchPicker {
  constructor(
    private readonly server: ServerCommands,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Show the picker (optionally pre-filled); resolves with the opened hit, if any. */
  show(initial = ''): Promise<SearchHit | undefined> {
    const pick = vscode.window.createQuickPick<SearchItem>();
    pick.title = 'Mimi: Search Codebase';
    pick.placeholder = 'Search code by meaning or by name (hybrid index)';
    pick.matchOnDescription = true;
    pick.matchOnDetail = true;
    pick.value = initial;

    let timer: ReturnType<typeof setTimeout> | undefined;
    let source: vscode.CancellationTokenSource | undefined;
    let generation = 0;

    const run = async (query: string): Promise<void> => {
      source?.cancel();
      const mine = ++generation;
      if (!query.trim()) {
        pick.items = [];
        pick.busy = false;
        return;
      }
      source = new vscode.CancellationTokenSource();
      pick.busy = true;
      try {
        const result = await this.server.execute<SearchResult>(
          Commands.search,
          { query, k: 20 },
          source.token,
        );
        if (mine !== generation) return;
        pick.items = searchItems(result?.hits ?? []);
        if (!pick.items.length) pick.placeholder = result?.message ?? `No results for "${query}"`;
      } catch (error) {
        if (mine !== generation) return;
        const text = error instanceof Error ? error.message : String(error);
        this.log.warn(`mimi.search failed: ${text}`);
        pick.items = [];
        pick.placeholder = `Search failed: ${text}`;
      } finally {
        if (mine === generation) pick.busy = false;
      }
    };

    return new Promise((resolve) => {
      let chosen: SearchHit | undefined;
      pick.onDidChangeValue((value) => {
        if (timer) clearTimeout(timer);
        // Results for the previous text are stale from this keystroke on, even in flight.
        source?.cancel();
        generation++;
        pick.busy = Boolean(value.trim());
        timer = setTimeout(() => void run(value), DEBOUNCE_MS);
      });
      pick.onDidChangeActive((items) => {
        const item = items[0];
        if (item) void openLocation(item.hit.uri, item.target, { preview: true, preserveFocus: true }).catch(() => undefined);
      });
      pick.onDidAccept(async () => {
        const item = pick.selectedItems[0] ?? pick.activeItems[0];
        if (!item) return;
        chosen = item.hit;
        pick.hide();
        await openLocation(item.hit.uri, item.target, { preview: false });
        resolve(chosen);
      });
      pick.onDidHide(() => {
        if (timer) clearTimeout(timer);
        source?.cancel();
        pick.dispose();
        if (!chosen) resolve(undefined);
      });
      pick.show();
      if (initial) void run(initial);
    });
  }
}
