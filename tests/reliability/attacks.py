"""One table of path attacks, tried against every surface that takes a file path.

``attack_tree(tmp)`` builds a workspace next to a folder holding a secret, with planted links
leading out; ``ATTACKS`` are the path spellings an attacker (or a prompt-injected model) would
try. The same table runs against the agent's tools (in-process and through the real server),
the web file endpoints (real ``mimi-lsp web``) and the MCP tools (real ``mimi-lsp mcp``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SECRET = "MIMI-SECRET-7f3a9c"
"""Text of every file outside the workspace: it must never come back from any surface."""


@dataclass(frozen=True)
class Tree:
    root: Path
    """The workspace folder."""
    outside: Path
    """A sibling folder with ``secret.txt`` (also the fake $HOME)."""


def attack_tree(tmp: Path) -> Tree:
    """``tmp/ws`` (the workspace, with links out) and ``tmp/outside`` (the secret)."""
    root, outside = tmp / "ws", tmp / "outside"
    (root / "sub").mkdir(parents=True)
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    (outside / "dir" / "secret.txt").write_text(f"{SECRET}\n")
    (outside / ".ssh").mkdir()
    (outside / ".ssh" / "id_rsa").write_text(f"{SECRET}\n")
    (root / "ok.py").write_text("def ok():\n    return 1\n")
    (root / "sub" / "inner.py").write_text("def inner():\n    return 2\n")
    os.symlink(outside, root / "link_out", target_is_directory=True)
    os.symlink(outside / "secret.txt", root / "link_file.txt")
    os.symlink(outside / "dir", root / "sub" / "deep_link", target_is_directory=True)
    return Tree(root, outside)


def attacks(tree: Tree) -> list[tuple[str, str]]:
    """(name, path) pairs: every spelling must be refused and leak nothing."""
    out = tree.outside
    return [
        ("dotdot", "../outside/secret.txt"),
        ("dotdot-nested", "sub/../../outside/secret.txt"),
        ("dotdot-many", "../../../../../../" + str(out / "secret.txt").lstrip("/")),
        ("absolute", str(out / "secret.txt")),
        ("absolute-etc", "/etc/passwd"),
        ("url-encoded-dots", "%2e%2e/outside/secret.txt"),
        ("url-encoded-slash", "..%2foutside%2fsecret.txt"),
        ("double-encoded", "%252e%252e%252foutside%252fsecret.txt"),
        ("symlink-dir", "link_out/secret.txt"),
        ("symlink-file", "link_file.txt"),
        ("symlink-nested", "sub/deep_link/secret.txt"),
        ("windows-backslash", "..\\outside\\secret.txt"),
        ("windows-drive", "C:\\outside\\secret.txt"),
        ("windows-drive-slash", "C:/outside/secret.txt"),
        ("unc", "\\\\server\\share\\secret.txt"),
        ("home", "~/.ssh/id_rsa"),
        ("file-uri", (out / "secret.txt").as_uri()),
        ("nul-byte", "ok.py\x00/../../outside/secret.txt"),
    ]
