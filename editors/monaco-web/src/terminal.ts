// The terminal panel (only when `mimi-lsp web --terminal`): xterm.js on a WebSocket to a real
// shell on a PTY in the folder. One shell per tab: the socket opens with the panel and the
// server hangs the shell up when it closes (closing the panel, the tab, or a reload). Output
// arrives as binary frames; the page acknowledges what xterm has drawn so the server never runs
// far ahead of it (a runaway `yes` is throttled there, and the editor stays responsive here).
import '@xterm/xterm/css/xterm.css';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

import { byId, toast } from './ui';

export class TerminalPanel {
  private readonly host = byId('terminal-panel');
  private readonly screen = byId('terminal-screen');
  private term: Terminal | null = null;
  private socket: WebSocket | null = null;
  private fit: FitAddon | null = null;
  private observer: ResizeObserver | null = null;

  constructor(private readonly path: string) {
    byId('terminal-close').addEventListener('click', () => this.close());
  }

  get isOpen(): boolean {
    return this.term !== null;
  }

  toggle(): void {
    if (this.isOpen) {
      if (this.term && !this.host.contains(document.activeElement)) this.term.focus();
      else this.close();
    } else this.open();
  }

  open(): void {
    if (this.term) return;
    this.host.hidden = false;
    document.body.classList.add('terminal-open');
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, 'Cascadia Code', 'DejaVu Sans Mono', Menlo, monospace",
      fontSize: 13,
      scrollback: 5000,
      theme: { background: '#1e1e1e', foreground: '#d4d4d4' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(this.screen);
    fit.fit();
    this.term = term;
    this.fit = fit;

    const url = new URL(this.path, window.location.href);
    url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = `?cols=${term.cols}&rows=${term.rows}`;
    const socket = new WebSocket(url.toString());
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    const send = (message: object) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };
    socket.addEventListener('message', (event) => {
      if (event.data instanceof ArrayBuffer) {
        const bytes = new Uint8Array(event.data);
        // Acknowledge once xterm has processed the bytes: the server's flow-control window.
        term.write(bytes, () => send({ type: 'ack', bytes: bytes.length }));
        return;
      }
      let message: { type?: string; code?: number | null; message?: string } = {};
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (message.type === 'exit') this.close();
      else if (message.type === 'error') toast(`Terminal: ${message.message}`, 'error');
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      if (event.code !== 1000) term.write(`\r\n\x1b[2m[terminal disconnected (${event.code})]\x1b[0m\r\n`);
      else this.close();
    });
    term.onData((data) => send({ type: 'input', data }));
    term.onResize(({ cols, rows }) => send({ type: 'resize', cols, rows }));
    this.observer = new ResizeObserver(() => fit.fit());
    this.observer.observe(this.screen);
    term.focus();
  }

  /** Close the panel and end its shell. */
  close(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    this.observer?.disconnect();
    this.term?.dispose();
    this.term = null;
    this.fit = null;
    this.screen.replaceChildren();
    this.host.hidden = true;
    document.body.classList.remove('terminal-open');
  }
}
