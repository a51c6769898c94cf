/**
 * Mimi: Search Codebase — a QuickPick with live results from `mimi.search`.
 *
 * Each keystroke (after a short pause) cancels the previous query and sends a new one; results
 * are shown as they arrive, the highlighted one is previewed, Enter opens it at its range.
 * Items are `alwaysShow`, since hybrid search finds code that does not contain the typed words.
 */

import * as vscode from 'vscode';
import { openLocation } from './chatView';
import type { SearchHit, SearchResult } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

export interface SearchItem extends vscode.QuickPickItem {
  hit: SearchHit;
}

const DEBOUNCE_MS = 120;

/** QuickPick items for search hits. */
export function searchItems(hits: SearchHit[]): SearchItem[] {
  return hits.map((hit) => {
    const uri = vscode.Uri.parse(hit.uri);
    const where = `${vscode.workspace.asRelativePath(uri, false)}:${hit.range.start.line + 1}`;
    const firstLine = hit.preview.split('\n').find((l) => l.trim()) ?? '';
    return {
      label: hit.symbol ? `$(symbol-method) ${hit.symbol}` : `$(file-code) ${firstLine.trim().slice(0, 80) || where}`,
      description: where,
      detail: hit.preview.replace(/\s+/g, ' ').trim().slice(0, 160),
      alwaysShow: true,
      hit,
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
        if (!pick.items.length) pick.placeholder = `No results for "${query}"`;
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
        timer = setTimeout(() => void run(value), DEBOUNCE_MS);
      });
      pick.onDidChangeActive((items) => {
        const item = items[0];
        if (item) void openLocation(item.hit.uri, item.hit.range, { preview: true, preserveFocus: true }).catch(() => undefined);
      });
      pick.onDidAccept(async () => {
        const item = pick.selectedItems[0] ?? pick.activeItems[0];
        if (!item) return;
        chosen = item.hit;
        pick.hide();
        await openLocation(item.hit.uri, item.hit.range, { preview: false });
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
