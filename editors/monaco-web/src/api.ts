// The page's side of the file endpoints of `mimi-lsp web` (same origin; the cookie carries the
// token). Paths are relative to the folder, with '/'.

export interface Info {
  name: string;
  root: string;
  rootUri: string;
  version: string;
  lsp: string;
  /** The terminal's WebSocket path when `mimi-lsp web --terminal` serves one. */
  terminal?: string | null;
}

export interface Entry {
  name: string;
  path: string;
  kind: 'file' | 'dir';
  size: number | null;
}

export interface FileData {
  path: string;
  uri: string;
  mtime: string;
  size: number;
  text?: string;
  /** false only from readIfExists, for a file not on disk. */
  exists?: boolean;
}

export interface Health {
  completion?: { state: string; message?: string; kind?: string; model?: string };
  chat?: { state: string; message?: string; kind?: string; model?: string };
}

export interface GitChange {
  path: string;
  oldPath: string | null;
  /** git's letter for the staged state ('.' unchanged, '?' untracked). */
  index: string;
  /** git's letter for the worktree state. */
  worktree: string;
}

export interface GitStatus {
  repository: boolean;
  branch?: string | null;
  problem?: string | null;
  changes?: GitChange[];
  error?: string;
  fix?: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data: Record<string, unknown> = {};
  try {
    data = await response.json();
  } catch {
    /* not JSON */
  }
  if (!response.ok) {
    const message = String(data.error ?? response.statusText);
    const fix = data.fix ? ` ${data.fix}` : '';
    throw new ApiError(message + fix, response.status, data);
  }
  return data as T;
}

const q = (path: string) => encodeURIComponent(path);

export const api = {
  info: () => call<Info>('GET', 'api/info'),
  health: () => call<Health>('GET', 'api/health'),
  tree: (path = '') => call<{ path: string; entries: Entry[] }>('GET', `api/tree?path=${q(path)}`),
  files: () => call<{ files: string[]; truncated: boolean }>('GET', 'api/files'),
  read: (path: string) => call<FileData>('GET', `api/file?path=${q(path)}`),
  /** The file, or {exists: false} when it is not on disk (yet): no 404 for files edits create. */
  readIfExists: (path: string) =>
    call<FileData>('GET', `api/file?path=${q(path)}&missing=ok`),
  save: (path: string, text: string, mtime: string | null) =>
    call<FileData>('PUT', `api/file?path=${q(path)}`, { text, mtime }),
  git: {
    status: () => call<GitStatus>('GET', 'api/git/status'),
    diff: (path: string, staged: boolean) =>
      call<{ path: string; original: string; modified: string }>(
        'GET',
        `api/git/diff?path=${q(path)}&staged=${staged ? 1 : 0}`,
      ),
    stage: (paths: string[]) => call<{ ok: boolean }>('POST', 'api/git/stage', { paths }),
    unstage: (paths: string[]) => call<{ ok: boolean }>('POST', 'api/git/unstage', { paths }),
    commit: (message: string) =>
      call<{ commit: string; subject: string; all: boolean }>('POST', 'api/git/commit', { message }),
  },
};
