/**
 * Finding the `mimi-lsp` executable to start over stdio.
 *
 * Order: the `mimi.server.path` setting; a project virtual environment in a workspace folder
 * (`.venv/bin/mimi-lsp`, only in a trusted workspace); `mimi-lsp` on PATH. When nothing is found
 * the error says where it looked and how to fix it. Pure apart from `fs` checks, so it is tested
 * without VS Code.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ServerLookup {
  /** `mimi.server.path` as the user wrote it (may contain `~` or `${workspaceFolder}`). */
  configured?: string;
  /** Filesystem paths of the workspace folders. */
  folders: string[];
  /** Whether the workspace is trusted (a workspace's own venv is only used then). */
  trusted: boolean;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

export interface FoundServer {
  command: string;
  source: 'setting' | 'workspace' | 'path';
}

/** Raised when no server can be found; `fix` says what to do. */
export class ServerNotFoundError extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly searched: string[],
    /** A workspace venv's server that would be used if the workspace were trusted. */
    readonly untrusted?: { folder: string; candidate: string },
  ) {
    super(message);
    this.name = 'ServerNotFoundError';
  }
}

function isExecutable(file: string, platform: NodeJS.Platform): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return false;
    if (platform === 'win32') return true;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expand(value: string, folders: string[], env: NodeJS.ProcessEnv): string {
  let out = value.trim();
  if (out === '~' || out.startsWith('~/')) out = path.join(os.homedir(), out.slice(1));
  out = out.replace(/\$\{workspaceFolder\}/g, folders[0] ?? '');
  out = out.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env[name] ?? '');
  return out;
}

/** Candidate venv executables inside one workspace folder. */
export function venvCandidates(folder: string, platform: NodeJS.Platform = process.platform): string[] {
  const dirs = ['.venv', 'venv', '.env'];
  return platform === 'win32'
    ? dirs.map((d) => path.join(folder, d, 'Scripts', 'mimi-lsp.exe'))
    : dirs.map((d) => path.join(folder, d, 'bin', 'mimi-lsp'));
}

function onPath(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter(Boolean);
  const names = platform === 'win32' ? ['mimi-lsp.exe', 'mimi-lsp.cmd', 'mimi-lsp'] : ['mimi-lsp'];
  return dirs.flatMap((d) => names.map((n) => path.join(d, n)));
}

/** The server executable to run, or a `ServerNotFoundError` that explains the fix. */
export function findServer(lookup: ServerLookup): FoundServer {
  const env = lookup.env ?? process.env;
  const platform = lookup.platform ?? process.platform;
  const searched: string[] = [];

  if (lookup.configured && lookup.configured.trim()) {
    let command = expand(lookup.configured, lookup.folders, env);
    if (!path.isAbsolute(command) && lookup.folders[0] && command.includes(path.sep)) {
      command = path.join(lookup.folders[0], command);
    }
    if (!command.includes(path.sep)) {
      // A bare name: look it up on PATH like a shell would.
      const hit = onPath(env, platform).find(
        (p) => path.basename(p) === command && isExecutable(p, platform),
      );
      if (hit) return { command: hit, source: 'setting' };
    } else if (isExecutable(command, platform)) {
      return { command, source: 'setting' };
    }
    throw new ServerNotFoundError(
      `mimi-lsp was not found at "${lookup.configured}" (the mimi.server.path setting).`,
      'Point mimi.server.path at the mimi-lsp executable (for example <project>/.venv/bin/mimi-lsp), or clear it to search the workspace and PATH.',
      [command],
    );
  }

  let untrusted: { folder: string; candidate: string } | undefined;
  for (const folder of lookup.folders) {
    for (const candidate of venvCandidates(folder, platform)) {
      if (lookup.trusted) searched.push(candidate);
      if (!isExecutable(candidate, platform)) continue;
      if (lookup.trusted) return { command: candidate, source: 'workspace' };
      untrusted ??= { folder, candidate };
    }
  }

  for (const candidate of onPath(env, platform)) {
    if (isExecutable(candidate, platform)) return { command: candidate, source: 'path' };
  }
  searched.push('mimi-lsp on PATH');

  // Trust only matters when the workspace has a server of its own: the message is the same
  // before and after trusting a folder without one.
  throw new ServerNotFoundError(
    'mimi-lsp was not found: no mimi.server.path setting, no .venv/bin/mimi-lsp in the workspace' +
      (untrusted ? ' that may be used (the workspace is not trusted)' : '') +
      ', and no mimi-lsp on PATH.',
    'Install the server (`pip install mimi-lsp`, or `make setup` in a mimi-lsp checkout) and set mimi.server.path to the mimi-lsp executable if it is not on PATH.',
    searched,
    untrusted,
  );
}
