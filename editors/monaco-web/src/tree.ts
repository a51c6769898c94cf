// The file tree: folders load lazily (GET api/tree?path=), clicking a file opens it in a tab.
import { type Entry, api } from './api';
import { h, overlay, toast } from './ui';

export class FileTree {
  private expanded = new Set<string>();
  private activePath: string | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly openFile: (path: string) => void,
  ) {}

  async refresh(): Promise<void> {
    const list = await this.renderFolder('', 0);
    this.root.replaceChildren(list);
    this.markActive(this.activePath);
  }

  markActive(path: string | null): void {
    this.activePath = path;
    for (const row of Array.from(this.root.querySelectorAll('.row.active'))) row.classList.remove('active');
    if (!path) return;
    const row = this.root.querySelector(`.row[data-path="${CSS.escape(path)}"]`);
    row?.classList.add('active');
  }

  private async renderFolder(path: string, depth: number): Promise<HTMLElement> {
    const list = h('ul', { role: 'group' });
    let entries: Entry[] = [];
    try {
      entries = (await api.tree(path)).entries;
    } catch (error) {
      toast(`Cannot list ${path || 'the folder'}: ${(error as Error).message}`, 'error');
    }
    if (!entries.length && depth === 0) list.append(h('li', { class: 'muted empty' }, 'empty folder'));
    for (const entry of entries) list.append(this.renderEntry(entry, depth));
    return list;
  }

  private renderEntry(entry: Entry, depth: number): HTMLElement {
    const isDir = entry.kind === 'dir';
    const row = h(
      'div',
      {
        class: `row ${entry.kind}`,
        role: 'treeitem',
        tabindex: '0',
        title: entry.path,
        style: `padding-left:${8 + depth * 12}px`,
      },
      h('span', { class: 'twisty' }, isDir ? '▸' : ''),
      h('span', { class: 'label' }, entry.name),
    );
    row.dataset.path = entry.path;
    const li = h('li', {}, row);
    const toggle = async () => {
      if (!isDir) {
        this.openFile(entry.path);
        return;
      }
      const open = li.querySelector(':scope > ul');
      if (open) {
        open.remove();
        this.expanded.delete(entry.path);
        row.firstElementChild!.textContent = '▸';
        row.setAttribute('aria-expanded', 'false');
        return;
      }
      this.expanded.add(entry.path);
      row.firstElementChild!.textContent = '▾';
      row.setAttribute('aria-expanded', 'true');
      li.append(await this.renderFolder(entry.path, depth + 1));
      this.markActive(this.activePath);
    };
    row.addEventListener('click', () => void toggle());
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        void toggle();
      }
    });
    if (isDir && this.expanded.has(entry.path)) {
      this.expanded.delete(entry.path);
      void toggle();
    }
    return li;
  }

  /** Expand the folders leading to ``path`` so it is visible. */
  async reveal(path: string): Promise<void> {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      const row = this.root.querySelector<HTMLElement>(`.row.dir[data-path="${CSS.escape(folder)}"]`);
      if (row && row.getAttribute('aria-expanded') !== 'true') {
        row.click();
        await new Promise((resolve) => window.setTimeout(resolve, 0));
        // wait for the folder to load
        for (let n = 0; n < 50 && !row.parentElement?.querySelector(':scope > ul'); n++) {
          await new Promise((resolve) => window.setTimeout(resolve, 20));
        }
      }
    }
    this.markActive(path);
    this.root.querySelector(`.row[data-path="${CSS.escape(path)}"]`)?.scrollIntoView({ block: 'nearest' });
  }
}

export interface SymbolHit {
  name: string;
  detail: string;
  path: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

/** Ctrl+P: fuzzy file finder over api/files; with a leading '#', symbols from the index
 * (workspace/symbol). */
export async function quickOpen(
  openFile: (path: string, range?: SymbolHit['range']) => void,
  findSymbols?: (query: string) => Promise<SymbolHit[]>,
  initial = '',
): Promise<void> {
  let files: string[] = [];
  const input = h('input', {
    type: 'text',
    id: 'quickopen-input',
    placeholder: 'Go to file… (# for symbols)',
    autocomplete: 'off',
  });
  const list = h('ol', { class: 'quickopen-list' });
  const box = h('div', { class: 'quickopen', role: 'dialog', 'aria-label': 'Go to file' }, input, list);
  const layer = overlay(box);
  input.value = initial;
  let selected = 0;
  let shown: string[] = [];
  let symbols: SymbolHit[] = [];
  let symbolSeq = 0;
  const renderSymbols = async () => {
    const seq = ++symbolSeq;
    const query = input.value.slice(1).trim();
    const found = findSymbols && query ? await findSymbols(query).catch(() => []) : [];
    if (seq !== symbolSeq) return;
    symbols = found.slice(0, 50);
    selected = Math.min(selected, Math.max(symbols.length - 1, 0));
    list.replaceChildren(
      ...(symbols.length
        ? symbols.map((sym, i) => {
            const li = h('li', { class: i === selected ? 'active' : '' },
              h('span', { class: 'name' }, sym.name),
              h('span', { class: 'muted' }, ` ${sym.detail} ${sym.path}:${sym.range.start.line + 1}`));
            li.addEventListener('mousedown', (e) => {
              e.preventDefault();
              layer.close();
              openFile(sym.path, sym.range);
            });
            return li;
          })
        : [h('li', { class: 'muted' }, findSymbols ? (query ? 'No symbols.' : 'Type a symbol name.') : 'No index.')]),
    );
  };
  const render = () => {
    if (input.value.startsWith('#')) {
      void renderSymbols();
      return;
    }
    const query = input.value.toLowerCase().replace(/\s+/g, '');
    shown = files
      .map((f) => ({ f, score: fuzzy(f.toLowerCase(), query) }))
      .filter((x) => x.score >= 0)
      .sort((a, b) => a.score - b.score || a.f.length - b.f.length)
      .slice(0, 50)
      .map((x) => x.f);
    selected = Math.min(selected, Math.max(shown.length - 1, 0));
    list.replaceChildren(
      ...shown.map((f, i) => {
        const li = h('li', { class: i === selected ? 'active' : '' }, h('span', { class: 'name' }, f.split('/').pop() ?? f), h('span', { class: 'muted' }, ` ${f}`));
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          layer.close();
          openFile(f);
        });
        return li;
      }),
    );
  };
  input.addEventListener('input', () => {
    selected = 0;
    render();
  });
  input.addEventListener('keydown', (event) => {
    const symbolMode = input.value.startsWith('#');
    const count = symbolMode ? symbols.length : shown.length;
    if (event.key === 'ArrowDown') selected = Math.min(selected + 1, count - 1);
    else if (event.key === 'ArrowUp') selected = Math.max(selected - 1, 0);
    else if (event.key === 'Enter') {
      event.preventDefault();
      if (symbolMode) {
        const sym = symbols[selected];
        if (!sym) return;
        layer.close();
        openFile(sym.path, sym.range);
        return;
      }
      const f = shown[selected];
      layer.close();
      if (f) openFile(f);
      return;
    } else return;
    event.preventDefault();
    render();
  });
  input.focus();
  try {
    files = (await api.files()).files;
  } catch (error) {
    toast(`Cannot list files: ${(error as Error).message}`, 'error');
  }
  render();
}

/** Subsequence match score (lower is better; -1: no match). */
function fuzzy(text: string, query: string): number {
  if (!query) return 0;
  let t = 0;
  let gaps = 0;
  for (const ch of query) {
    const found = text.indexOf(ch, t);
    if (found < 0) return -1;
    gaps += found - t;
    t = found + 1;
  }
  const base = text.lastIndexOf('/') + 1;
  return gaps + (text.indexOf(query[0], base) >= 0 ? 0 : 10);
}
