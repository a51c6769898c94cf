/**
 * The Mimi output channel as the language client sees it: server log lines at their own level,
 * each said once.
 *
 * mimi-lsp logs to stderr as `2026-01-02 10:11:12,345 INFO mimi_lsp.x: text` (or one JSON object
 * per line with `--log-format json`); vscode-languageclient would tag every stderr line
 * `[error]`. `pipeServerStderr` parses the level (continuation lines such as a traceback keep the
 * level of their record). The server also forwards its warnings and errors as
 * `window/logMessage`, so the same line arrives twice: `DedupingLog` drops a line already written
 * at the same level a moment ago.
 */

import * as readline from 'node:readline';
import type * as stream from 'node:stream';
import type * as vscode from 'vscode';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<string, Level> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  WARN: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

const TEXT_LINE = /^\d{4}-\d\d-\d\d[ T][\d:.,]+ (DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL) (.*)$/;

/** The level and text of one stderr line, or undefined for a continuation line. */
export function parseServerLine(line: string): { level: Level; text: string } | undefined {
  const match = TEXT_LINE.exec(line);
  if (match) return { level: LEVELS[match[1]], text: match[2] };
  if (line.startsWith('{')) {
    try {
      const record = JSON.parse(line) as { level?: string; logger?: string; msg?: string; exc?: string };
      const level = LEVELS[String(record.level ?? '').toUpperCase()];
      if (level && typeof record.msg === 'string') {
        const text = record.logger ? `${record.logger}: ${record.msg}` : record.msg;
        return { level, text: record.exc ? `${text}\n${record.exc}` : text };
      }
    } catch {
      // not JSON after all: a continuation line
    }
  }
  return undefined;
}

/** Write the server's stderr to `channel`, each record at its own level. */
export function pipeServerStderr(input: stream.Readable, channel: vscode.LogOutputChannel): void {
  let level: Level = 'info';
  readline
    .createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 })
    .on('line', (line) => {
      const parsed = parseServerLine(line);
      if (parsed) level = parsed.level;
      channel[level](parsed ? parsed.text : line);
    });
}

/** A LogOutputChannel that drops a line written at the same level within `windowMs`. */
export class DedupingLog implements vscode.LogOutputChannel {
  private readonly recent = new Map<string, number>();

  constructor(
    readonly inner: vscode.LogOutputChannel,
    private readonly windowMs = 5000,
  ) {}

  get name(): string {
    return this.inner.name;
  }
  get logLevel(): vscode.LogLevel {
    return this.inner.logLevel;
  }
  get onDidChangeLogLevel(): vscode.Event<vscode.LogLevel> {
    return this.inner.onDidChangeLogLevel;
  }

  private fresh(level: Level, message: string | Error): boolean {
    const text = message instanceof Error ? message.message : message;
    const key = `${level}\u0000${text}`;
    const now = Date.now();
    const seen = this.recent.get(key);
    this.recent.set(key, now);
    if (this.recent.size > 200) {
      for (const [k, t] of this.recent) if (now - t > this.windowMs) this.recent.delete(k);
    }
    return seen === undefined || now - seen > this.windowMs;
  }

  trace(message: string, ...args: unknown[]): void {
    if (this.fresh('trace', message)) this.inner.trace(message, ...args);
  }
  debug(message: string, ...args: unknown[]): void {
    if (this.fresh('debug', message)) this.inner.debug(message, ...args);
  }
  info(message: string, ...args: unknown[]): void {
    if (this.fresh('info', message)) this.inner.info(message, ...args);
  }
  warn(message: string, ...args: unknown[]): void {
    if (this.fresh('warn', message)) this.inner.warn(message, ...args);
  }
  error(error: string | Error, ...args: unknown[]): void {
    if (this.fresh('error', error)) this.inner.error(error, ...args);
  }
  append(value: string): void {
    this.inner.append(value);
  }
  appendLine(value: string): void {
    this.inner.appendLine(value);
  }
  replace(value: string): void {
    this.inner.replace(value);
  }
  clear(): void {
    this.inner.clear();
  }
  show(preserveFocus?: boolean): void;
  show(column?: vscode.ViewColumn, preserveFocus?: boolean): void;
  show(a?: boolean | vscode.ViewColumn, b?: boolean): void {
    if (typeof a === 'boolean' || a === undefined) this.inner.show(a);
    else this.inner.show(a, b);
  }
  hide(): void {
    this.inner.hide();
  }
  dispose(): void {
    this.inner.dispose();
  }
}
