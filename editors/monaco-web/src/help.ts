// The keyboard shortcuts overlay (F1 or the ? button).
import { h, overlay } from './ui';

export const SHORTCUTS: Array<[string, string]> = [
  ['Tab', 'Accept the ghost text'],
  ['Ctrl+→', 'Accept the next word of the ghost text'],
  ['Esc', 'Dismiss the ghost text, close a panel or dialog'],
  ['Alt+\\', 'Ask for ghost text now'],
  ['Alt+] / Alt+[', 'Next / previous suggestion'],
  ['Ctrl+.', 'Code actions (the lightbulb)'],
  ['Ctrl+I', 'Ask the agent to edit the selection or file'],
  ['Ctrl+Enter', 'Accept a reviewed edit (Esc rejects it)'],
  ['Ctrl+Shift+L', 'Chat'],
  ['Ctrl+Shift+F', 'Search the codebase (results as you type)'],
  ['Ctrl+Shift+G', 'Changes: git status, diffs, a commit message from the diff, commit'],
  ['Ctrl+`', 'Terminal (when mimi-lsp web runs with --terminal)'],
  ['Ctrl+B', 'Show or hide the file tree'],
  ['Ctrl+P', 'Go to file'],
  ['Ctrl+P #', 'Go to symbol (from the index): type # and a name'],
  ['Ctrl+S', 'Save'],
  ['Ctrl+Shift+S', 'Save all'],
  ['Alt+W', 'Close the tab'],
  ['Alt+PageDown / Alt+PageUp', 'Next / previous tab'],
  ['Ctrl+F / Ctrl+H', 'Find / replace in the file'],
  ['Ctrl+G', 'Go to line'],
  ['Ctrl+Shift+P', 'All editor commands'],
  ['F1', 'This help'],
];

export function showHelp(): void {
  const rows = SHORTCUTS.map(([keys, what]) =>
    h('tr', {}, h('td', {}, ...keys.split(' / ').flatMap((k, i) => [i ? ' / ' : '', h('kbd', {}, k)])), h('td', {}, what)),
  );
  const box = h(
    'div',
    { class: 'help', role: 'dialog', 'aria-label': 'Keyboard shortcuts', id: 'help' },
    h('h2', {}, 'Keyboard shortcuts'),
    h('table', {}, h('tbody', {}, ...rows)),
    h('p', { class: 'muted' }, 'On macOS, Cmd replaces Ctrl. Esc closes this.'),
  );
  overlay(box, { className: 'help-layer' });
}
