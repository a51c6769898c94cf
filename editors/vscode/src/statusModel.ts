/**
 * What the status bar item shows, as a pure function of what the server told us.
 *
 * Inputs: the client's state (starting, running, stopped, missing server), `mimi/status`
 * notifications (backend health per feature) and `mimi/indexStatus` (indexing progress).
 * Output: text, tooltip lines and a severity; `statusBar.ts` draws it.
 */

import type { IndexStatusNotification, StatusNotification } from './protocol';

export type ServerState = 'starting' | 'running' | 'stopped' | 'missing';
export type Severity = 'ok' | 'warning' | 'error';

export interface StatusView {
  text: string;
  tooltip: string[];
  severity: Severity;
}

interface FeatureHealth {
  state: 'ok' | 'unavailable' | 'error';
  message?: string;
}

export class StatusModel {
  server: ServerState = 'starting';
  serverMessage?: string;
  readonly health = new Map<string, FeatureHealth>();
  index?: IndexStatusNotification;

  /** Record the client's state; a message explains `stopped` or `missing`. */
  setServer(state: ServerState, message?: string): void {
    this.server = state;
    this.serverMessage = message;
    if (state !== 'running') this.health.clear();
  }

  /** Apply a `mimi/status` notification. */
  applyStatus(payload: StatusNotification): void {
    for (const [feature, value] of Object.entries(payload)) {
      if (feature === 'message') continue;
      if (value === 'ok' || value === 'unavailable' || value === 'error') {
        this.health.set(feature, {
          state: value,
          message: value === 'ok' ? undefined : payload.message,
        });
      }
    }
  }

  /** Apply a `mimi/indexStatus` notification. */
  applyIndex(payload: IndexStatusNotification): void {
    this.index = payload;
  }

  view(): StatusView {
    const tooltip: string[] = [];
    if (this.server === 'missing') {
      return {
        text: '$(error) Mimi: no server',
        tooltip: [this.serverMessage ?? 'mimi-lsp was not found.', 'Click for details.'],
        severity: 'error',
      };
    }
    if (this.server === 'stopped') {
      return {
        text: '$(error) Mimi: stopped',
        tooltip: [this.serverMessage ?? 'The mimi-lsp server stopped.', 'Click for details.'],
        severity: 'error',
      };
    }
    if (this.server === 'starting') {
      return { text: '$(loading~spin) Mimi', tooltip: ['Starting mimi-lsp…'], severity: 'ok' };
    }

    let severity: Severity = 'ok';
    let icon = '$(sparkle)';
    for (const [feature, health] of this.health) {
      const line = `${capitalize(feature)}: ${describe(health.state)}`;
      tooltip.push(health.message ? `${line} — ${health.message}` : line);
      if (health.state === 'error') {
        severity = 'error';
        icon = '$(error)';
      } else if (health.state === 'unavailable' && severity !== 'error') {
        severity = 'warning';
        icon = '$(warning)';
      }
    }
    if (this.health.size === 0) tooltip.push('Completion: waiting for the first request');

    let suffix = '';
    const index = this.index;
    if (index) {
      const counts = `${index.files} files, ${index.chunks} chunks`;
      if (index.state === 'indexing') {
        suffix = ` $(sync~spin) ${index.files}`;
        tooltip.push(`Index: indexing… ${counts}`);
      } else if (index.state === 'ready') {
        tooltip.push(`Index: ready, ${counts}`);
      } else {
        tooltip.push(`Index: error${index.message ? ` — ${index.message}` : ''}`);
        if (severity === 'ok') {
          severity = 'warning';
          icon = '$(warning)';
        }
      }
    }
    tooltip.push('Click for status and actions.');
    return { text: `${icon} Mimi${suffix}`, tooltip, severity };
  }
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function describe(state: FeatureHealth['state']): string {
  return state === 'ok' ? 'healthy' : state === 'unavailable' ? 'backend unavailable' : 'error';
}
