/**
 * *Mimi: Set Up*: point Mimi at a model server in three picks.
 *
 * The server's `mimi.setup.detect` says which model servers answer (the configured address,
 * `$OLLAMA_HOST`, Ollama's port, the usual OpenAI-compatible ports) and what models they serve;
 * the user picks a server (or types an address), a completion model and a chat model, and the
 * plain settings `mimi.completion.provider`, `.url`, `.model` (and `mimi.chat.model`) are
 * written to the user settings, which the server applies at once. A server that wants an API key
 * asks for the name of the environment variable that holds it (never the key).
 */

import * as vscode from 'vscode';
import type { DetectResult, FoundServer } from './protocol';
import { Commands } from './protocol';
import type { ServerCommands } from './serverCommands';

interface ServerItem extends vscode.QuickPickItem {
  server?: FoundServer;
  other?: boolean;
}

const PROVIDERS: Record<string, string> = {
  ollama: 'Ollama',
  openai: 'OpenAI-compatible',
  triton: 'Triton',
};

/** Code models that fill in the middle first (base before instruct), then the rest. */
export function rankForCompletion(models: string[]): string[] {
  const score = (m: string) => {
    const name = m.toLowerCase();
    let s = 0;
    if (/cod(e|er|estral|egemma)|starcoder|deepseek-coder|granite.*code/.test(name)) s += 2;
    if (/base/.test(name)) s += 1;
    if (/instruct|chat|embed/.test(name)) s -= 2;
    return s;
  };
  return [...models].sort((a, b) => score(b) - score(a) || a.localeCompare(b));
}

/** Instruct / chat models first, embedding models last. */
export function rankForChat(models: string[]): string[] {
  const score = (m: string) => {
    const name = m.toLowerCase();
    let s = 0;
    if (/instruct|chat|-it\b|:latest/.test(name)) s += 2;
    if (/cod(e|er)/.test(name)) s += 1;
    if (/base|embed/.test(name)) s -= 2;
    return s;
  };
  return [...models].sort((a, b) => score(b) - score(a) || a.localeCompare(b));
}

function describe(server: FoundServer): string {
  return `${PROVIDERS[server.provider] ?? server.provider} at ${server.url}`;
}

async function detect(server: ServerCommands, url?: string, apiKeyEnv?: string): Promise<FoundServer[]> {
  const args: Record<string, string> = {};
  if (url) args.url = url;
  if (apiKeyEnv) args.apiKeyEnv = apiKeyEnv;
  return (await server.execute<DetectResult>(Commands.setupDetect, args)).servers ?? [];
}

/** Step 1: a server that answered, or one at an address the user types. */
async function pickServer(server: ServerCommands): Promise<FoundServer | undefined> {
  const pick = vscode.window.createQuickPick<ServerItem>();
  pick.title = 'Mimi: Set Up (1/3) — model server';
  pick.placeholder = 'Looking for model servers… or type an address (e.g. 127.0.0.1:11434) and press Enter';
  pick.ignoreFocusOut = true;
  pick.busy = true;
  const other: ServerItem = {
    label: '$(edit) Another address…',
    detail: 'Type it in the box above, e.g. http://gpu-box:11434 or 127.0.0.1:8000',
    other: true,
    alwaysShow: true,
  };
  pick.items = [other];
  pick.show();
  void detect(server).then(
    (found) => {
      pick.busy = false;
      pick.items = [
        ...found.map((s) => ({
          label: `$(server) ${describe(s)}`,
          description: s.needsKey ? 'needs an API key' : `${s.models.length} model${s.models.length === 1 ? '' : 's'}`,
          server: s,
        })),
        other,
      ];
      pick.placeholder = found.length
        ? 'Pick a model server, or type another address and press Enter'
        : 'No model server answers on the usual ports: type its address and press Enter';
    },
    () => {
      pick.busy = false;
    },
  );
  for (;;) {
    const chosen = await new Promise<ServerItem | string | undefined>((resolve) => {
      const subscriptions: vscode.Disposable[] = [];
      const done = (value: ServerItem | string | undefined) => {
        for (const d of subscriptions) d.dispose();
        resolve(value);
      };
      subscriptions.push(
        pick.onDidAccept(() => {
          const item = pick.selectedItems[0] ?? pick.activeItems[0];
          const typed = pick.value.trim();
          done(typed && (!item || !item.server) ? typed : item);
        }),
        pick.onDidHide(() => done(undefined)),
      );
    });
    if (chosen === undefined) {
      pick.dispose();
      return undefined;
    }
    if (typeof chosen !== 'string' && chosen.server) {
      pick.dispose();
      return chosen.server;
    }
    const address = typeof chosen === 'string' ? chosen : '';
    if (!address) {
      pick.placeholder = 'Type the address of the model server first, then press Enter';
      continue;
    }
    pick.busy = true;
    const found = await detect(server, address).catch(() => [] as FoundServer[]);
    pick.busy = false;
    const answered = found.find((s) => s.reachable);
    if (answered) {
      pick.dispose();
      return answered;
    }
    pick.placeholder = `Nothing answers at ${address}: ${found.map((s) => s.message).filter(Boolean)[0] ?? 'no model server'}. Try another address`;
  }
}

async function pickModel(title: string, models: string[], current: string | undefined): Promise<string | undefined> {
  if (!models.length) {
    return (await vscode.window.showInputBox({ title, prompt: 'The server lists no models: type a model name', value: current, ignoreFocusOut: true }))?.trim() || undefined;
  }
  const items = models.map((m, i) => ({
    label: m,
    description: m === current ? 'current' : i === 0 ? 'suggested' : undefined,
  }));
  return (await vscode.window.showQuickPick(items, { title, ignoreFocusOut: true, placeHolder: 'Pick a model' }))?.label;
}

/** The whole flow; resolves with the settings written, or undefined when cancelled. */
export async function setUp(server: ServerCommands): Promise<Record<string, string> | undefined> {
  let chosen = await pickServer(server);
  if (!chosen) return undefined;
  let apiKeyEnv: string | undefined;
  if (chosen.needsKey) {
    apiKeyEnv = (
      await vscode.window.showInputBox({
        title: 'Mimi: Set Up — API key',
        prompt: `${describe(chosen)} wants an API key. Name of the environment variable that holds it (set it for the server with mimi.server.env or in your environment; the key is never stored in settings)`,
        placeHolder: 'e.g. OPENAI_API_KEY',
        ignoreFocusOut: true,
      })
    )?.trim();
    if (!apiKeyEnv) return undefined;
    const again = (await detect(server, chosen.url, apiKeyEnv)).find((s) => s.reachable && !s.needsKey);
    if (again) chosen = again;
  }
  const config = vscode.workspace.getConfiguration('mimi');
  const completionModel = await pickModel(
    'Mimi: Set Up (2/3) — completion model (a base code model fills in the middle best)',
    rankForCompletion(chosen.models),
    config.get<string>('completion.model'),
  );
  if (!completionModel) return undefined;
  const chatModel = await pickModel(
    'Mimi: Set Up (3/3) — chat model (an instruct model)',
    rankForChat(chosen.models),
    config.get<string>('chat.model'),
  );
  const written: Record<string, string> = {
    'completion.provider': chosen.provider,
    'completion.url': chosen.url,
    'completion.model': completionModel,
  };
  if (apiKeyEnv) written['completion.apiKeyEnv'] = apiKeyEnv;
  if (chatModel) written['chat.model'] = chatModel;
  for (const [key, value] of Object.entries(written)) {
    await config.update(key, value, vscode.ConfigurationTarget.Global);
  }
  void vscode.window.showInformationMessage(
    `Mimi: ghost text from ${completionModel}${chatModel ? `, chat with ${chatModel}` : ''}, on ${describe(chosen)}.`,
  );
  return written;
}
