#!/usr/bin/env bash
# Installs code-server (real VS Code served to a browser) for the extension's browser tests.
#
# code-server 4.100.3 is the last release that runs on Node 20. Its npm install must skip
# scripts (they try to download things), then `npm rebuild` builds the native modules against
# Debian's headers (ripgrep, libkrb5-dev, libx11-dev, libxkbfile-dev, libsecret-1-dev and
# build-essential come from `make setup-system`). Idempotent: does nothing when installed.
set -euo pipefail

VERSION=4.100.3
DEST=${1:-"$(cd "$(dirname "$0")/../../.." && pwd)/.artifacts/code-server"}
BIN="$DEST/node_modules/.bin/code-server"

if [ -x "$BIN" ] && [ "$(cat "$DEST/.installed" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi

for tool in node npm rg; do
  command -v "$tool" >/dev/null || { echo "install-code-server: '$tool' is missing (run make setup-system)" >&2; exit 1; }
done

mkdir -p "$DEST"
cd "$DEST"
[ -f package.json ] || printf '{"name": "mimi-code-server", "private": true}\n' > package.json
export npm_config_yes=true
# code-server's postinstall refuses to run as root (CI runs as root) without this.
export npm_config_unsafe_perm=true
echo "install-code-server: installing code-server@$VERSION into $DEST (about a minute)" >&2
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$VERSION"
npm rebuild --loglevel=error
"$BIN" --version >/dev/null
echo "$VERSION" > .installed
