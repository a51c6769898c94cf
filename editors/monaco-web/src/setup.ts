// The page's model-server settings: a dialog that finds model servers (mimi.setup.detect, run by
// the server, which is where the model server must be reachable from), lists their models and
// applies the choice to this page's server (workspace/didChangeConfiguration). The choice is kept
// per folder in localStorage and sent as initializationOptions to every later session, over
// whatever `mimi-lsp web --settings` set.
import { type Json, type LspClient } from './lsp';
import { h, overlay, toast } from './ui';

export interface PageSettings {
  completion: { provider: string; url: string; model: string };
  chat?: { model: string };
}

interface FoundServer {
  provider: string;
  url: string;
  models: string[];
  reachable: boolean;
  message?: string;
  needsKey?: boolean;
}

const NAMES: Record<string, string> = { ollama: 'Ollama', openai: 'OpenAI-compatible', triton: 'Triton' };

function rank(models: string[], score: (name: string) => number): string[] {
  return [...models].sort((a, b) => score(b.toLowerCase()) - score(a.toLowerCase()) || a.localeCompare(b));
}

export const rankForCompletion = (models: string[]) =>
  rank(models, (n) => (/cod|starcoder/.test(n) ? 2 : 0) + (/base/.test(n) ? 1 : 0) - (/instruct|chat|embed/.test(n) ? 2 : 0));
export const rankForChat = (models: string[]) =>
  rank(models, (n) => (/instruct|chat/.test(n) ? 2 : 0) + (/cod/.test(n) ? 1 : 0) - (/base|embed/.test(n) ? 2 : 0));

export class ModelServerSettings {
  private readonly key: string;

  constructor(
    private readonly lsp: LspClient,
    root: string,
  ) {
    this.key = `mimi:settings:${root}`;
  }

  /** The settings chosen in this page for this folder, if any. */
  get saved(): PageSettings | null {
    try {
      return JSON.parse(localStorage.getItem(this.key) ?? 'null');
    } catch {
      return null;
    }
  }

  private save(settings: PageSettings): void {
    localStorage.setItem(this.key, JSON.stringify(settings));
  }

  private async detect(url?: string): Promise<FoundServer[]> {
    const result: Json = await this.lsp.executeCommand('mimi.setup.detect', [url ? { url } : {}]);
    return result?.servers ?? [];
  }

  /** The dialog; resolves with the applied settings, or null when closed. */
  open(): Promise<PageSettings | null> {
    return new Promise((resolve) => {
      let applied: PageSettings | null = null;
      let chosen: FoundServer | null = null;
      const list = h('ul', { class: 'setup-servers', role: 'listbox', 'aria-label': 'Model servers' });
      const status = h('p', { class: 'muted', id: 'setup-status' }, 'Looking for model servers…');
      const address = h('input', { id: 'setup-address', type: 'text', placeholder: 'Address, e.g. 127.0.0.1:11434 or http://gpu-box:8000' });
      const look = h('button', { type: 'button', id: 'setup-look' }, 'Look');
      const completion = h('select', { id: 'setup-completion-model', 'aria-label': 'Completion model' });
      const chat = h('select', { id: 'setup-chat-model', 'aria-label': 'Chat model' });
      const apply = h('button', { class: 'primary', id: 'setup-apply', type: 'submit' }, 'Use this server');
      apply.setAttribute('disabled', '');
      const form = h(
        'form',
        { class: 'prompt setup', role: 'dialog', 'aria-label': 'Model server' },
        h('h2', {}, 'Model server'),
        status,
        list,
        h('div', { class: 'row' }, address, look),
        h('label', {}, 'Completion model (a base code model fills in the middle best)', completion),
        h('label', {}, 'Chat model (an instruct model)', chat),
        h('div', { class: 'row' }, apply),
      );
      const layer = overlay(form, { onClose: () => resolve(applied) });

      const fill = (select: HTMLSelectElement, models: string[]) => {
        select.replaceChildren(...models.map((m) => h('option', { value: m }, m)));
      };
      const choose = (server: FoundServer, item?: HTMLElement) => {
        chosen = server;
        for (const li of Array.from(list.children)) li.classList.toggle('active', li === item);
        fill(completion, rankForCompletion(server.models));
        fill(chat, rankForChat(server.models));
        if (server.models.length) apply.removeAttribute('disabled');
        status.textContent = server.models.length
          ? `${NAMES[server.provider] ?? server.provider} at ${server.url}: ${server.models.length} models.`
          : `${server.url} lists no models.`;
      };
      const show = (servers: FoundServer[]) => {
        list.replaceChildren();
        for (const server of servers.filter((s) => s.reachable)) {
          const li = h(
            'li',
            { role: 'option', tabindex: '0', 'data-url': server.url },
            h('span', { class: 'name' }, `${NAMES[server.provider] ?? server.provider} at ${server.url}`),
            h('span', { class: 'muted' }, server.needsKey ? ' — needs an API key' : ` — ${server.models.length} models`),
          );
          li.addEventListener('click', () => choose(server, li));
          list.append(li);
        }
        const first = servers.find((s) => s.reachable);
        if (first) choose(first, list.firstElementChild as HTMLElement);
      };
      const lookAt = async (url?: string) => {
        status.textContent = url ? `Looking at ${url}…` : 'Looking for model servers…';
        try {
          const found = await this.detect(url);
          const reachable = found.filter((s) => s.reachable);
          if (reachable.length) show(reachable);
          else status.textContent = url
            ? `Nothing answers at ${url}: ${found[0]?.message ?? 'no model server'}.`
            : 'No model server on the usual ports: type its address.';
        } catch (error) {
          status.textContent = `Could not look: ${(error as Error).message}`;
        }
      };
      look.addEventListener('click', () => void lookAt(address.value.trim() || undefined));
      address.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          void lookAt(address.value.trim() || undefined);
        }
      });
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        if (!chosen || !completion.value) return;
        applied = {
          completion: { provider: chosen.provider, url: chosen.url, model: completion.value },
          ...(chat.value ? { chat: { model: chat.value } } : {}),
        };
        this.apply(applied);
        layer.close();
      });
      address.focus();
      void lookAt();
    });
  }

  /** Send ``settings`` to this page's server now and keep them for the next sessions. */
  apply(settings: PageSettings): void {
    this.save(settings);
    this.lsp.notify('workspace/didChangeConfiguration', { settings: { mimi: settings } });
    toast(`Ghost text from ${settings.completion.model} at ${settings.completion.url}.`, 'info', 6000);
  }
}
