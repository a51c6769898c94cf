// Small DOM helpers: element builder, toasts, modal overlays, and a safe markdown-lite renderer
// (text nodes only, never innerHTML with model output).

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
}

export type ToastKind = 'info' | 'warning' | 'error';

/** A message in the corner; errors and warnings stay until clicked or replaced. */
/** What a message says, without the prefixes different channels add ("mimi: ", "chat: "). */
function gist(message: string): string {
  return message.replace(/^mimi:\s*/i, '').replace(/^(completion|chat):\s*/i, '').trim();
}

export interface ToastAction {
  label: string;
  run: () => void;
}

export function toast(message: string, kind: ToastKind = 'info', ms?: number, action?: ToastAction): void {
  const root = byId('toasts');
  // The same problem can arrive by several channels (the page's health probe, mimi/status,
  // window/showMessage): say it once, keeping the most detailed wording.
  const said = gist(message);
  for (const old of Array.from(root.children)) {
    const other = (old as HTMLElement).dataset.gist ?? '';
    if (other === said || (said.length > 20 && other.includes(said))) return;
    if (other.length > 20 && said.includes(other)) old.remove();
  }
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  if (action) {
    const button = h('button', { class: 'link toast-action' }, action.label);
    button.addEventListener('click', (event) => {
      event.stopPropagation();
      el.remove();
      action.run();
    });
    el.append(' ', button);
  }
  el.dataset.message = message;
  el.dataset.gist = said;
  el.addEventListener('click', () => el.remove());
  root.append(el);
  const life = ms ?? (kind === 'info' ? 3000 : 12000);
  window.setTimeout(() => el.remove(), life);
  while (root.children.length > 4) root.firstElementChild?.remove();
}

/** A modal layer; resolves when closed. Esc closes it unless the content handles Esc. */
export function overlay(
  content: HTMLElement,
  options: { className?: string; onClose?: () => void } = {},
): { close: () => void; root: HTMLElement } {
  const root = h('div', { class: `overlay ${options.className ?? ''}` }, content);
  const previous = document.activeElement as HTMLElement | null;
  const close = () => {
    if (!root.isConnected) return;
    root.remove();
    document.removeEventListener('keydown', onKey, true);
    options.onClose?.();
    previous?.focus?.();
  };
  const onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  };
  root.addEventListener('mousedown', (event) => {
    if (event.target === root) close();
  });
  document.addEventListener('keydown', onKey, true);
  document.body.append(root);
  return { close, root };
}

/** Render model text: ``` fences as code blocks, `code` spans, **bold**; everything else text. */
export function renderMarkdown(text: string, onLink?: (el: HTMLElement) => void): DocumentFragment {
  const out = document.createDocumentFragment();
  const parts = text.split(/^```[^\n]*\n?/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const code = part.replace(/\n?```\s*$/, '');
      out.append(h('pre', { class: 'code' }, h('code', {}, code)));
      return;
    }
    for (const [j, para] of part.split(/\n{2,}/).entries()) {
      if (!para.trim()) continue;
      const p = h('p');
      const tokens = para.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/);
      for (const token of tokens) {
        if (token.startsWith('`') && token.endsWith('`') && token.length > 1) {
          const code = h('code', {}, token.slice(1, -1));
          onLink?.(code);
          p.append(code);
        } else if (token.startsWith('**') && token.endsWith('**') && token.length > 3) {
          p.append(h('strong', {}, token.slice(2, -2)));
        } else {
          const lines = token.split('\n');
          lines.forEach((line, k) => {
            if (k > 0) p.append(h('br'));
            p.append(line);
          });
        }
      }
      void j;
      out.append(p);
    }
  });
  return out;
}

/** window/showMessageRequest: the message with one button per action; null when dismissed. */
export function askUser(message: string, actions: Array<{ title: string }>, kind: ToastKind = 'info'): Promise<{ title: string } | null> {
  return new Promise((resolve) => {
    let answer: { title: string } | null = null;
    const buttons = actions.map((action, i) => {
      const button = h('button', { class: i === 0 ? 'primary' : '' }, action.title);
      button.addEventListener('click', () => {
        answer = action;
        layer.close();
      });
      return button;
    });
    const box = h('div', { class: `prompt ask ${kind}`, role: 'dialog', 'aria-label': 'mimi asks' },
      h('p', {}, message), h('div', { class: 'row' }, ...buttons));
    const layer = overlay(box, { onClose: () => resolve(answer) });
    buttons[0]?.focus();
  });
}
