#!/usr/bin/env bash
# setup.sh installs what the interop harness needs; idempotent and quick when all is present.
#   Debian packages: kamailio, kamailio-websocket-modules, sip-tester (sipp)
#   npm packages (package-lock.json): jssip, sip.js, ws -> hack/interop/node_modules
# npm's cache lives in ${XDG_CACHE_HOME:-$HOME/.cache}/sipws/npm.
# Environment: SKIP_APT=1 skips the Debian part; SKIP_NPM=1 the npm part.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/sipws
log() { printf 'setup: %s\n' "$*" >&2; }

SUDO=
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi

# --- Debian packages --------------------------------------------------------------------------
APT_PKGS=(kamailio kamailio-websocket-modules sip-tester)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if [[ ${SKIP_APT:-0} != 1 ]]; then
	missing=()
	for p in "${APT_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		# Never let the package start the distribution's kamailio service (it would listen on
		# 5060 on every interface). Docker images already ship such a policy; add one otherwise.
		policy_added=0
		if [[ ! -e /usr/sbin/policy-rc.d ]]; then
			printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
			$SUDO chmod 755 /usr/sbin/policy-rc.d
			policy_added=1
			trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
		fi
		# Refresh the package lists first when a package has no install candidate (lists never
		# fetched), and retry once after a refresh when the install fails (stale lists).
		apt_log=$(mktemp)
		need_update=0
		for p in "${missing[@]}"; do
			cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
			[[ -n $cand && $cand != "(none)" ]] || need_update=1
		done
		apt_install() {
			$SUDO apt-get install -y -q --no-install-recommends \
				-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
				"${missing[@]}" >>"$apt_log" 2>&1
		}
		if ((need_update)); then $SUDO apt-get update -q >>"$apt_log" 2>&1 || true; fi
		if ! apt_install; then
			log "apt-get install failed; refreshing the package lists and retrying"
			$SUDO apt-get update -q >>"$apt_log" 2>&1 || true
			apt_install || {
				tail -n 30 "$apt_log" >&2
				rm -f "$apt_log"
				log "apt-get install ${missing[*]} failed"
				exit 1
			}
		fi
		rm -f "$apt_log"
		if ((policy_added)); then $SUDO rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
		# If a service manager started the packaged kamailio anyway, stop it: the harness runs
		# its own instances on loopback ports.
		if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
			$SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true
		fi
	fi
	for b in kamailio sipp; do
		command -v "$b" >/dev/null || { log "$b not found after install"; exit 1; }
	done
fi

# --- npm packages -----------------------------------------------------------------------------
if [[ ${SKIP_NPM:-0} != 1 ]]; then
	command -v npm >/dev/null || { log "npm not found (Node.js >= 18 is required)"; exit 1; }
	cd "$HERE"
	mkdir -p "$CACHE_DIR/npm"
	npm_flags=(--cache "$CACHE_DIR/npm" --prefer-offline --no-audit --no-fund --loglevel=error)
	stamp=node_modules/.sipws-setup-stamp
	if [[ -f package-lock.json ]]; then
		want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
		if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
			: # node_modules matches the lock file
		else
			log "npm ci"
			npm ci "${npm_flags[@]}" >/dev/null
			echo "$want" >"$stamp"
		fi
	else
		log "npm install (no package-lock.json yet: commit the one this writes)"
		npm install "${npm_flags[@]}" >/dev/null
		want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
		echo "$want" >"$stamp"
	fi
fi
log "ready"
