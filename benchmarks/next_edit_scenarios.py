"""Scenarios for ``next_edit_eval.py``: sequences of edits on code of the kind people write.

Each scenario opens one or more files, replays the user's edits (each typed key by key, as an
editor sends them), and holds out the next edit: what the user did next. ``expect=None`` marks
an edit with no natural follow-up (a suggestion there is a false one). Edits are written as
``Edit(line, old, new, nth)``: replace the ``nth`` whole-word occurrence of ``old`` on ``line``
(``old=""`` with ``at="text"``: insert before the first ``text`` on the line; ``after=True``:
after it). Scenarios are split in two halves: ``dev`` (looked at while building the
predictors) and ``held-out`` (written at the same time, scored, never tuned on).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    line: int
    old: str
    new: str
    nth: int = 0
    at: str = ""
    after: bool = False
    file: str = ""
    """Path of the file (default: the scenario's first)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    language: str
    files: dict[str, str]
    steps: tuple[Edit, ...]
    expect: Edit | None
    split: str
    kind: str
    cursor_file: str = ""
    """File the next-edit request comes from (default: the file of the last step)."""
    extra: dict[str, str] = field(default_factory=dict)


PY_BILLING = '''from dataclasses import dataclass
from decimal import Decimal


@dataclass
class LineItem:
    sku: str
    quantity: int
    unit_price: Decimal


def invoice_total(items, tax_rate, discount=None):
    """Sum the items, apply the discount, then the tax."""
    subtotal = Decimal("0")
    for item in items:
        subtotal += item.unit_price * item.quantity
    if discount is not None:
        subtotal -= discount.amount(subtotal)
    tax = (subtotal * tax_rate).quantize(Decimal("0.01"))
    log_total("invoice", subtotal, tax)
    return subtotal + tax


def refund_total(items, tax_rate):
    subtotal = sum(item.unit_price * item.quantity for item in items)
    tax = (subtotal * tax_rate).quantize(Decimal("0.01"))
    log_total("refund", subtotal, tax)
    return -(subtotal + tax)
'''

PY_CACHE = """import threading
import time


class TTLCache:
    def __init__(self, maxsize=128, ttl=300.0):
        self.maxsize = maxsize
        self.ttl = ttl
        self._data = {}
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return default
            value, expires = entry
            if expires < time.monotonic():
                del self._data[key]
                return default
            return value

    def put(self, key, value):
        with self._lock:
            if len(self._data) >= self.maxsize:
                self._evict()
            self._data[key] = (value, time.monotonic() + self.ttl)

    def _evict(self):
        oldest = min(self._data, key=lambda k: self._data[k][1])
        del self._data[oldest]
"""

PY_CLI = """import argparse
import logging

log = logging.getLogger(__name__)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="sync")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--dry-run", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    log.info("syncing %s to %s", args.source, args.target)
    changed = copy_tree(args.source, args.target, args.dry_run)
    log.info("%d files changed", len(changed))
    for path in changed:
        log.info("  %s", path)
    return 0
"""

TS_STORE = """export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

export class TodoStore {
  private items: Todo[] = [];
  private nextId = 1;

  add(title: string): Todo {
    const todo: Todo = { id: this.nextId++, title, done: false };
    this.items.push(todo);
    this.emit("added", todo);
    return todo;
  }

  toggle(id: number): Todo | undefined {
    const todo = this.items.find((t) => t.id === id);
    if (todo) {
      todo.done = !todo.done;
      this.emit("changed", todo);
    }
    return todo;
  }

  remove(id: number): boolean {
    const index = this.items.findIndex((t) => t.id === id);
    if (index < 0) return false;
    const [removed] = this.items.splice(index, 1);
    this.emit("removed", removed);
    return true;
  }

  private emit(kind: string, todo: Todo): void {
    console.log(kind, todo.id);
  }
}
"""

TS_API = """import { Config } from "./config";

export async function loadUser(config: Config, userId: string) {
  const response = fetchJson(`${config.baseUrl}/users/${userId}`);
  return response;
}

export async function loadTeam(config: Config, teamId: string) {
  const team = fetchJson(`${config.baseUrl}/teams/${teamId}`);
  const members = fetchJson(`${config.baseUrl}/teams/${teamId}/members`);
  return { team, members };
}

function formatName(user: { first: string; last: string }, style: string): string {
  if (style === "full") {
    return `${user.first} ${user.last}`;
  }
  return user.first;
}
"""

TS_RANGE = """export function clamp(value: number, low: number, high: number): number {
  if (value < low) {
    return low;
  }
  if (value > high) {
    return high;
  }
  return value;
}

export function lerp(start: number, end: number, t: number): number {
  return start + (end - start) * clamp(t, 0, 1);
}
"""

GO_SERVER = """package server

import (
	"encoding/json"
	"net/http"
)

type Handler struct {
	store Store
	limit int
}

func (h *Handler) ListUsers(w http.ResponseWriter, r *http.Request) {
	users, err := h.store.Users(r.Context(), h.limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, users)
}

func (h *Handler) GetUser(w http.ResponseWriter, r *http.Request) {
	user, err := h.store.User(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, user)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
"""

GO_CONFIG = """package config

import "os"

type Config struct {
	Addr     string
	LogLevel string
	DataDir  string
}

func Load() Config {
	cfg := Config{Addr: ":8080", LogLevel: "info", DataDir: "/var/lib/app"}
	if v := os.Getenv("APP_ADDR"); v != "" {
		cfg.Addr = v
	}
	if v := os.Getenv("APP_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := os.Getenv("APP_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	return cfg
}
"""

RS_PARSER = """use std::collections::HashMap;

pub struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub line: u32,
}

pub fn count_kinds(tokens: &[Token]) -> HashMap<TokenKind, usize> {
    let mut counts = HashMap::new();
    for token in tokens {
        *counts.entry(token.kind).or_insert(0) += 1;
    }
    counts
}

pub fn longest_line(tokens: &[Token]) -> Option<u32> {
    let mut best: Option<u32> = None;
    for token in tokens {
        if best.map_or(true, |b| token.line > b) {
            best = Some(token.line);
        }
    }
    best
}
"""

RS_FILES = """use std::fs;
use std::io;
use std::path::Path;

pub fn read_config(path: &Path) -> io::Result<String> {
    let text = fs::read_to_string(path).unwrap();
    let trimmed = text.trim().to_string();
    Ok(trimmed)
}

pub fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(path).unwrap();
    Ok(text.lines().map(String::from).collect())
}

pub fn file_size(path: &Path) -> io::Result<u64> {
    let meta = fs::metadata(path).unwrap();
    Ok(meta.len())
}
"""

PY_LIB = '''def normalize_path(path, base=None):
    """Make ``path`` absolute against ``base`` and collapse dots."""
    import os.path

    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(path)
'''
PY_APP = """from lib import normalize_path


def resolve_all(paths, root):
    return [normalize_path(p, root) for p in paths]
"""

SCENARIOS: list[Scenario] = [
    # ---------------------------------------------------------------- Python
    Scenario(
        "py-rename-param-def",
        "python",
        {"billing.py": PY_BILLING},
        (Edit(11, "tax_rate", "rate"),),
        Edit(18, "tax_rate", "rate"),
        "dev",
        "rename",
    ),
    Scenario(
        "py-rename-param-chain",
        "python",
        {"billing.py": PY_BILLING},
        (Edit(11, "items", "lines"), Edit(14, "items", "lines")),
        None,
        "held-out",
        "rename",
    ),
    Scenario(
        "py-rename-local-at-use",
        "python",
        {"billing.py": PY_BILLING},
        (Edit(18, "subtotal", "net"),),
        Edit(19, "subtotal", "net"),
        "held-out",
        "rename",
    ),
    Scenario(
        "py-rename-attribute",
        "python",
        {"cache.py": PY_CACHE},
        (Edit(8, "_data", "_entries"),),
        Edit(13, "_data", "_entries"),
        "dev",
        "rename",
    ),
    Scenario(
        "py-add-argument",
        "python",
        {"billing.py": PY_BILLING},
        (Edit(19, "", ", currency", at=")", file="billing.py"),),
        Edit(26, "", ", currency", at=")"),
        "dev",
        "siblings",
    ),
    Scenario(
        "py-log-level",
        "python",
        {"cli.py": PY_CLI},
        (Edit(16, "info", "debug"),),
        Edit(18, "info", "debug"),
        "held-out",
        "siblings",
    ),
    Scenario(
        "py-rename-function-other-file",
        "python",
        {"lib.py": PY_LIB, "app.py": PY_APP},
        (Edit(0, "normalize_path", "resolve_path", file="lib.py"),),
        Edit(0, "normalize_path", "resolve_path", file="app.py"),
        "held-out",
        "rename",
        cursor_file="app.py",
    ),
    Scenario(
        "py-string-change-no-follow-up",
        "python",
        {"cli.py": PY_CLI},
        (Edit(7, "sync", "mirror"),),
        None,
        "dev",
        "none",
    ),
    # ---------------------------------------------------------------- TypeScript
    Scenario(
        "ts-rename-param-def",
        "typescript",
        {"range.ts": TS_RANGE},
        (Edit(0, "low", "min"),),
        Edit(1, "low", "min"),
        "dev",
        "rename",
    ),
    Scenario(
        "ts-rename-param-second-use",
        "typescript",
        {"range.ts": TS_RANGE},
        (Edit(0, "high", "max"), Edit(4, "high", "max")),
        Edit(5, "high", "max"),
        "held-out",
        "rename",
    ),
    Scenario(
        "ts-rename-local",
        "typescript",
        {"store.ts": TS_STORE},
        (Edit(11, "todo", "item"),),
        Edit(12, "todo", "item"),
        "held-out",
        "rename",
    ),
    Scenario(
        "ts-add-await",
        "typescript",
        {"api.ts": TS_API},
        (Edit(3, "", "await ", at="fetchJson"),),
        Edit(8, "", "await ", at="fetchJson"),
        "dev",
        "siblings",
    ),
    Scenario(
        "ts-emit-argument",
        "typescript",
        {"store.ts": TS_STORE},
        (Edit(13, "", ", Date.now()", at=");"),),
        Edit(21, "", ", Date.now()", at=");"),
        "held-out",
        "siblings",
    ),
    Scenario(
        "ts-rename-method",
        "typescript",
        {"store.ts": TS_STORE},
        (Edit(34, "emit", "notify"),),
        Edit(13, "emit", "notify"),
        "dev",
        "rename",
    ),
    Scenario(
        "ts-style-no-follow-up",
        "typescript",
        {"api.ts": TS_API},
        (Edit(14, "full", "long"),),
        None,
        "held-out",
        "none",
    ),
    # ---------------------------------------------------------------- Go
    Scenario(
        "go-rename-receiver-field",
        "go",
        {"server.go": GO_SERVER},
        (Edit(9, "limit", "pageSize"),),
        Edit(13, "limit", "pageSize"),
        "dev",
        "rename",
    ),
    Scenario(
        "go-rename-local",
        "go",
        {"server.go": GO_SERVER},
        (Edit(13, "users", "list"),),
        Edit(18, "users", "list"),
        "held-out",
        "rename",
    ),
    Scenario(
        "go-rename-param",
        "go",
        {"server.go": GO_SERVER},
        (Edit(30, "v", "value"),),
        Edit(32, "v", "value"),
        "dev",
        "rename",
    ),
    Scenario(
        "go-write-error-status",
        "go",
        {"server.go": GO_SERVER},
        (Edit(15, "", ", http.StatusInternalServerError", at=")"),),
        Edit(24, "", ", http.StatusInternalServerError", at=")"),
        "held-out",
        "siblings",
    ),
    Scenario(
        "go-env-prefix",
        "go",
        {"config.go": GO_CONFIG},
        (Edit(12, "APP_ADDR", "SVC_ADDR"),),
        Edit(15, "APP_LOG_LEVEL", "SVC_LOG_LEVEL"),
        "held-out",
        "pattern",
    ),
    Scenario(
        "go-rename-struct-field",
        "go",
        {"config.go": GO_CONFIG},
        (Edit(5, "Addr", "ListenAddr"),),
        Edit(11, "Addr", "ListenAddr"),
        "dev",
        "rename",
    ),
    # ---------------------------------------------------------------- Rust
    Scenario(
        "rs-rename-param",
        "rust",
        {"parser.rs": RS_PARSER},
        (Edit(8, "tokens", "input"),),
        Edit(10, "tokens", "input"),
        "dev",
        "rename",
    ),
    Scenario(
        "rs-rename-local",
        "rust",
        {"parser.rs": RS_PARSER},
        (Edit(17, "best", "longest"),),
        Edit(19, "best", "longest"),
        "held-out",
        "rename",
    ),
    Scenario(
        "rs-unwrap-to-question-mark",
        "rust",
        {"files.rs": RS_FILES},
        (Edit(5, ".unwrap()", "?"),),
        Edit(11, ".unwrap()", "?"),
        "dev",
        "siblings",
    ),
    Scenario(
        "rs-field-type",
        "rust",
        {"parser.rs": RS_PARSER},
        (Edit(4, "String", "Box<str>"),),
        None,
        "held-out",
        "none",
    ),
    Scenario(
        "rs-pub-crate",
        "rust",
        {"parser.rs": RS_PARSER},
        (Edit(3, "pub", "pub(crate)"),),
        Edit(4, "pub", "pub(crate)"),
        "held-out",
        "siblings",
    ),
    Scenario(
        "rs-rename-fn-param-chain",
        "rust",
        {"files.rs": RS_FILES},
        (Edit(4, "path", "file"), Edit(5, "path", "file")),
        None,
        "dev",
        "rename",
    ),
]


# Written after the two held-out misses (rs-pub-crate, go-env-prefix) had led to two rules
# (insertion after a word; a change inside a word read as itself): scored apart as "late", to
# see whether those rules carry over or suggest edits nobody wanted.
PY_NET = """import socket


def fetch(host, port, retries=3, timeout=30):
    # recieve the header first, then the body
    sock = socket.create_connection((host, port), timeout=timeout)
    header = sock.recv(64)
    # recieve until the peer closes
    body = b""
    while chunk := sock.recv(4096):
        body += chunk
    return header, body
"""

RS_SHAPES = """#[derive(Debug)]
pub struct Circle {
    pub radius: f64,
}

#[derive(Debug)]
pub struct Square {
    pub side: f64,
}
"""

GO_MAIN = """package main

import (
	"fmt"
	"log"
)

func main() {
	fmt.Println("starting")
	if err := run(); err != nil {
		fmt.Println("failed:", err)
	}
	log.SetFlags(0)
}
"""

TS_CONFIG = """export const defaults = {
  retries: 3,
  backoffMs: 250,
  pageSize: 3,
};
"""

SCENARIOS += [
    Scenario(
        "py-typo-in-comments",
        "python",
        {"net.py": PY_NET},
        (Edit(4, "recieve", "receive"),),
        Edit(7, "recieve", "receive"),
        "late",
        "siblings",
    ),
    Scenario(
        "py-default-number-no-follow-up",
        "python",
        {"net.py": PY_NET},
        (Edit(3, "30", "60"),),
        None,
        "late",
        "none",
    ),
    Scenario(
        "rs-derive-clone",
        "rust",
        {"shapes.rs": RS_SHAPES},
        (Edit(0, "", ", Clone", at=")]"),),
        Edit(5, "", ", Clone", at=")]"),
        "late",
        "siblings",
    ),
    Scenario(
        "go-fmt-to-log",
        "go",
        {"main.go": GO_MAIN},
        (Edit(8, "fmt", "log"),),
        Edit(10, "fmt", "log"),
        "late",
        "rename",
    ),
    Scenario(
        "ts-number-no-follow-up",
        "typescript",
        {"config.ts": TS_CONFIG},
        (Edit(1, "3", "5"),),
        None,
        "late",
        "none",
    ),
]
