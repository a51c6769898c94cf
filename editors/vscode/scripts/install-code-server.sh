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
export npm_config_yes=true npm_config_audit=false npm_config_fund=false npm_config_loglevel=error
echo "install-code-server: installing code-server@$VERSION into $DEST (about a minute)" >&2

# 1. The package itself, without its postinstall (which would run the steps below with
#    scripts on, and @vscode/ripgrep's script downloads a binary from GitHub).
npm install --ignore-scripts "code-server@$VERSION"
CS="$DEST/node_modules/code-server"

# 2. VS Code's own dependencies and its built-in extensions' (what postinstall.sh does).
cd "$CS/lib/vscode"
npm install --ignore-scripts --omit=dev
# Debian's ripgrep instead of the download; its presence makes the ripgrep script a no-op.
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# Native modules (node-pty, spdlog, kerberos, watcher, ...) built against Debian's headers.
npm rebuild
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --ignore-scripts --omit=dev && npm rebuild)

# 3. code-server's own native modules (argon2 for password auth).
cd "$DEST"
npm rebuild --ignore-scripts=false argon2 || echo "install-code-server: argon2 not built (only password auth needs it)" >&2

"$BIN" --version >/dev/null
echo "$VERSION" > "$DEST/.installed"
