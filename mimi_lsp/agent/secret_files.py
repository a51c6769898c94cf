"""Well-known secret files: what the agent, chat and MCP never hand a model without consent.

SSH and GPG keys, cloud and container credentials, ``.env`` files, ``.netrc``, package-registry
tokens, keychains and password stores. ``Workspace`` (``workspace.py``) asks ``is_secret`` before
it returns a file's text and drops such files from search results; the user's say-so (the file
the agent was invoked on, or a confirmation) is the only way past it. Patterns are gitignore-style
(one engine: ``pathspec``, as in ``index/ignore.py``) matched against the whole real path, so a
workspace opened at ``$HOME`` or inside ``~/.ssh`` is covered as well.
"""

from __future__ import annotations

import os

import pathspec

SECRET_PATTERNS: tuple[str, ...] = (
    # key and credential folders
    ".ssh/", ".gnupg/", ".aws/", ".azure/", ".kube/", ".docker/", ".password-store/",
    ".config/gcloud/", ".config/gh/", ".config/hub", "Keychains/",
    # private keys and certificates with keys
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "*.keychain", "*.keychain-db",
    # environment and tool credentials
    ".env", ".env.*", "*.env", ".envrc", ".netrc", "_netrc", ".pgpass", ".my.cnf",
    ".git-credentials", ".npmrc", ".pypirc", ".yarnrc.yml", ".htpasswd",
    "credentials", "credentials.json", "*.tfstate", "*.tfstate.backup", ".terraformrc",
    "secrets.yaml", "secrets.yml", "secrets.json",
    # templates and public halves hold nothing secret
    "!.env.example", "!.env.sample", "!.env.template", "!.env.dist", "!*.pub",
)  # fmt: skip

_SPEC = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)


def is_secret(path: str) -> bool:
    """Whether the real absolute ``path`` is a well-known secret file (or lies in a key folder)."""
    probe = os.path.realpath(path).replace(os.sep, "/").lstrip("/")
    return bool(probe) and _SPEC.match_file(probe)
