/**
 * The custom protocol between mimi-lsp and its editors (names and shapes from DESIGN.md).
 *
 * Standard LSP (inline completion, code actions, applyEdit) is handled by vscode-languageclient;
 * everything here goes through `workspace/executeCommand` or a `mimi/*` notification. Keep these
 * in step with the server and the other clients (Neovim, Monaco).
 */

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspLocation {
  uri: string;
  range: LspRange;
}

/** `mimi/status` (server → client): completion backend health. */
export interface StatusNotification {
  completion?: 'ok' | 'unavailable' | 'error';
  chat?: 'ok' | 'unavailable' | 'error';
  message?: string;
}

/** `mimi/indexStatus` (server → client): indexing progress. */
export interface IndexStatusNotification {
  state: 'indexing' | 'ready' | 'error';
  files: number;
  chunks: number;
  message?: string;
}

/** `mimi/chatDelta` (server → client): streamed tokens of one chat answer. */
export interface ChatDeltaNotification {
  chatId: string;
  delta: string;
}

export interface ChatHistoryMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatArgs {
  chatId: string;
  message: string;
  history?: ChatHistoryMessage[];
  uri?: string;
  range?: LspRange;
}

export interface ChatResult {
  chatId: string;
  reply: string;
  citations: LspLocation[];
}

export interface SearchArgs {
  query: string;
  k?: number;
  mode?: 'hybrid' | 'bm25' | 'vector';
}

export interface SearchHit {
  uri: string;
  range: LspRange;
  score: number;
  symbol?: string | null;
  kind?: string;
  language?: string;
  preview: string;
}

export interface SearchResult {
  hits: SearchHit[];
  /** Why there are no hits (e.g. the index is disabled). */
  message?: string;
}

export interface AgentEditArgs {
  uri: string;
  range?: LspRange;
  instruction: string;
}

export interface AgentEditResult {
  applied: boolean;
  summary: string;
  files: string[];
}

export interface ReindexResult {
  files: number;
  chunks: number;
  state?: string;
  /** Set when nothing was indexed (disabled) or indexing failed. */
  message?: string;
}

export interface BackendStatus {
  kind?: string;
  model?: string;
  state?: string;
  message?: string | null;
  fix?: string | null;
}

export interface StatusResult {
  version: string;
  backends: Record<string, BackendStatus>;
  index: (Partial<IndexStatusNotification> & Record<string, unknown>) | null;
  metrics: Record<string, unknown>;
}

/** One model server `mimi.setup.detect` found (or, for a given address, why not). */
export interface FoundServer {
  provider: 'ollama' | 'openai' | 'triton';
  url: string;
  models: string[];
  reachable: boolean;
  message?: string;
  needsKey?: boolean;
}

export interface DetectResult {
  servers: FoundServer[];
}

export const Commands = {
  chat: 'mimi.chat',
  explain: 'mimi.explain',
  search: 'mimi.search',
  agentEdit: 'mimi.agent.edit',
  reindex: 'mimi.reindex',
  status: 'mimi.status',
  commitMessage: 'mimi.git.commitMessage',
  setupDetect: 'mimi.setup.detect',
} as const;

export const Notifications = {
  status: 'mimi/status',
  indexStatus: 'mimi/indexStatus',
  chatDelta: 'mimi/chatDelta',
  didAcceptCompletion: 'mimi/didAcceptCompletion',
} as const;
