/**
 * The status bar item and the "Mimi: Show Status" picker.
 *
 * The item draws `StatusModel.view()` (backend health from `mimi/status`, indexing progress from
 * `mimi/indexStatus`, or why the server is not running); clicking it shows the status picker,
 * which asks the server for `mimi.status` and offers the actions that fix common problems.
 */

import * as vscode from 'vscode';
import type { StatusResult } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';
import type { StatusModel } from './statusModel';

export class StatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;

  constructor(private readonly model: StatusModel) {
    this.item = vscode.window.createStatusBarItem('mimi.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Mimi';
    this.item.command = 'mimi.showStatus';
    this.update();
    this.item.show();
  }

  update(): void {
    const view = this.model.view();
    this.item.text = view.text;
    this.item.tooltip = view.tooltip.join('\n');
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

interface StatusItem extends vscode.QuickPickItem {
  action?: () => unknown;
}

export interface StatusContext {
  server: ServerCommands;
  model: StatusModel;
  serverPath?: string;
  log: vscode.LogOutputChannel;
}

function stateIcon(state?: string): string {
  return state === 'ok' ? '$(pass)' : state === 'unavailable' ? '$(warning)' : state ? '$(error)' : '$(circle-outline)';
}

/** Picker lines for a `mimi.status` answer (exported for tests). */
export function statusItems(status: StatusResult, serverPath?: string): vscode.QuickPickItem[] {
  const items: vscode.QuickPickItem[] = [
    {
      label: `$(server) mimi-lsp ${status.version}`,
      description: serverPath,
    },
  ];
  for (const [feature, backend] of Object.entries(status.backends ?? {})) {
    const what = [backend.kind, backend.model].filter(Boolean).join(' · ');
    items.push({
      label: `${stateIcon(backend.state)} ${feature}: ${backend.state ?? 'unknown'}`,
      description: what,
      detail: [backend.message, backend.fix].filter(Boolean).join(' ') || undefined,
    });
  }
  const index = status.index;
  items.push(
    index
      ? {
          label: `$(database) index: ${String(index.state ?? 'unknown')}`,
          description: `${index.files ?? 0} files, ${index.chunks ?? 0} chunks`,
          detail: typeof index.message === 'string' ? index.message : undefined,
        }
      : { label: '$(database) index: off' },
  );
  const completion = status.metrics?.completion as Record<string, unknown> | undefined;
  if (completion) {
    const latency = completion.latencyMs as Record<string, number> | undefined;
    items.push({
      label: '$(graph) completions',
      description:
        `${completion.requests ?? 0} requests, ${completion.accepted ?? 0} accepted` +
        (latency ? `, p50 ${latency.p50} ms, p95 ${latency.p95} ms` : ''),
    });
  }
  return items;
}

/** Show the status picker; resolves with the server's answer (undefined when not running). */
export async function showStatus(ctx: StatusContext): Promise<StatusResult | undefined> {
  let status: StatusResult | undefined;
  const items: StatusItem[] = [];
  try {
    status = await ctx.server.execute<StatusResult>(Commands.status);
    items.push(...statusItems(status, ctx.serverPath));
  } catch (error) {
    const view = ctx.model.view();
    items.push({
      label: '$(error) mimi-lsp is not running',
      detail: view.tooltip.filter((l) => !l.startsWith('Click')).join(' ') || String(error),
    });
  }
  items.push(
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(plug) Set Up Model Server…', action: () => vscode.commands.executeCommand('mimi.setUp') },
    { label: '$(output) Show Output', action: () => ctx.log.show() },
    { label: '$(debug-restart) Restart Server', action: () => vscode.commands.executeCommand('mimi.restartServer') },
    { label: '$(sync) Reindex Workspace', action: () => vscode.commands.executeCommand('mimi.reindexWorkspace') },
    {
      label: '$(gear) Open Settings',
      action: () => vscode.commands.executeCommand('workbench.action.openSettings', '@ext:mimi-lsp.mimi-lsp'),
    },
  );
  void vscode.window
    .showQuickPick(items, { title: 'Mimi: Status', placeHolder: 'Backend health, index and actions' })
    .then((picked) => picked?.action?.());
  return status;
}
