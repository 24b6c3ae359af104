#!/usr/bin/env bash
# install-deps.sh installs the Debian packages the tests need, only when missing, so a fresh
# machine (and CI) is set up by `make test` itself and a prepared one pays nothing.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v git >/dev/null 2>&1 || need+=(git)
# The demo page's browser test (hack/browser) drives Debian's chromium headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if ((${#need[@]} > 0)); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing ${need[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: apt-get install ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
