#!/usr/bin/env bash
# setup.sh installs what the browser test needs; idempotent and quick when all is present:
# Debian's chromium (through hack/install-deps.sh) and npm ci of package-lock.json
# (playwright-core, which downloads no browser; esbuild and jssip for `make demo-assets`).
# npm's cache lives in ${XDG_CACHE_HOME:-$HOME/.cache}/sipws/npm.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/sipws
log() { printf 'browser setup: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null; then
	bash "$HERE/../install-deps.sh"
fi
command -v chromium >/dev/null || { log "chromium not found after install"; exit 1; }
command -v npm >/dev/null || { log "npm not found (Node.js >= 18 is required)"; exit 1; }
cd "$HERE"
mkdir -p "$CACHE_DIR/npm"
stamp=node_modules/.sipws-setup-stamp
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	log "npm ci"
	npm ci --cache "$CACHE_DIR/npm" --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
	echo "$want" >"$stamp"
fi
log "ready"
