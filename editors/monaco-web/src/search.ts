// The search panel: mimi.search over the codebase index as you type; a result opens its file at
// its range. A new query clears the old results at once; answers to older queries are dropped.
import { type Documents } from './documents';
import { type Json, type LspClient, type Range } from './lsp';
import { byId, h, toast } from './ui';

export class SearchPanel {
  private readonly input = byId<HTMLInputElement>('search-input');
  private readonly mode = byId<HTMLSelectElement>('search-mode');
  private readonly results = byId('search-results');
  private readonly status = byId('search-status');
  private seq = 0;
  private timer: number | undefined;
  private shown = '';
  /** Quiet time after a key before searching (Enter searches at once). */
  static readonly DELAY_MS = 250;

  constructor(
    private readonly lsp: LspClient,
    private readonly docs: Documents,
    private readonly openAt: (path: string, range?: Range) => void,
  ) {
    byId('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      window.clearTimeout(this.timer);
      void this.run();
    });
    this.input.addEventListener('input', () => this.typed());
    this.mode.addEventListener('change', () => void this.run());
  }

  focus(): void {
    this.input.focus();
    this.input.select();
  }

  /** The query changed: old results go now, the search runs once typing pauses. */
  private typed(): void {
    window.clearTimeout(this.timer);
    const query = this.input.value.trim();
    if (query === this.shown) return;
    this.seq += 1; // an answer still in flight is for an older query
    this.results.replaceChildren();
    this.status.textContent = query.length >= 2 ? 'Searching…' : '';
    this.shown = '';
    if (query.length < 2) return;
    this.timer = window.setTimeout(() => void this.run(), SearchPanel.DELAY_MS);
  }

  async run(): Promise<void> {
    const query = this.input.value.trim();
    if (!query) return;
    if (!this.lsp.hasCommand('mimi.search')) {
      toast('This server has no search (mimi.search) yet.', 'warning');
      return;
    }
    const seq = ++this.seq;
    this.status.textContent = 'Searching…';
    if (query !== this.shown) this.results.replaceChildren();
    let result: Json;
    try {
      result = await this.lsp.executeCommand('mimi.search', [{ query, k: 20, mode: this.mode.value }]);
    } catch (error) {
      if (seq === this.seq) this.status.textContent = `Search failed: ${(error as Error).message}`;
      return;
    }
    if (seq !== this.seq) return;
    this.shown = query;
    const hits: Json[] = result?.hits ?? [];
    this.status.textContent = hits.length ? `${hits.length} result${hits.length === 1 ? '' : 's'}` : 'No results.';
    this.results.replaceChildren(
      ...hits.map((hit) => {
        const path = this.docs.pathOf(hit.uri) ?? hit.uri;
        const line = (hit.range?.start?.line ?? 0) + 1;
        const li = h(
          'li',
          { class: 'hit', tabindex: '0', title: `${path}:${line} (score ${Number(hit.score ?? 0).toFixed(3)})` },
          h('div', { class: 'where' },
            h('span', { class: 'name' }, `${path.split('/').pop()}:${line}`),
            hit.symbol ? h('span', { class: 'symbol' }, ` ${hit.symbol}`) : null,
            h('span', { class: 'muted' }, ` ${path}`)),
          h('pre', { class: 'preview' }, String(hit.preview ?? '').split('\n').slice(0, 4).join('\n')),
        );
        li.dataset.path = path;
        li.dataset.line = String(line);
        const open = () => this.openAt(path, hit.range);
        li.addEventListener('click', open);
        li.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') open();
        });
        return li;
      }),
    );
  }
}
