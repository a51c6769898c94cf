/**
 * Settings that flow from VS Code to the server.
 *
 * `contributes.configuration` is generated from the server's JSON schema (`mimi-lsp schema`,
 * see scripts/gen-config.mjs); every key there except the extension's own (`mimi.server.*`,
 * `mimi.trace.*`) belongs to the server. Only values the user actually set are sent: the server
 * owns the defaults (and its environment layer, e.g. `MIMI_COMPLETION_MODEL`, must not be
 * overridden by a default VS Code would otherwise fill in).
 */

import pkg from '../package.json';

interface ConfigurationSection {
  properties: Record<string, unknown>;
}

/** Keys (without the `mimi.` prefix) handled by the extension itself, never sent. */
export const EXTENSION_ONLY = ['server.', 'trace.'];

/** Every `mimi.*` key the server understands, without the `mimi.` prefix. */
export function serverKeys(): string[] {
  const sections = (pkg.contributes.configuration ?? []) as unknown as ConfigurationSection[];
  return sections
    .flatMap((section) => Object.keys(section.properties ?? {}))
    .filter((key) => key.startsWith('mimi.'))
    .map((key) => key.slice('mimi.'.length))
    .filter((key) => !EXTENSION_ONLY.some((prefix) => key.startsWith(prefix)));
}

/** What `WorkspaceConfiguration.inspect` returns (the parts used here). */
export interface Inspected<T> {
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface InspectableConfiguration {
  inspect<T>(key: string): Inspected<T> | undefined;
}

/** The settings the user set (folder over workspace over user), as the server's nested object. */
export function serverSettings(
  config: InspectableConfiguration,
  keys: string[] = serverKeys(),
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const info = config.inspect<unknown>(key);
    const value = info?.workspaceFolderValue ?? info?.workspaceValue ?? info?.globalValue;
    if (value === undefined) continue;
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      node[part] = next && typeof next === 'object' ? next : {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}
