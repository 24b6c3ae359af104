#!/usr/bin/env bash
# run-kamailio-ws.sh: start Kamailio as a SIP-over-WebSocket server (kamailio-ws.cfg) on free
# loopback ports, run the JsSIP/SIP.js scenarios of clients.mjs against it, stop Kamailio.
# Exit status: the clients' (0 only when every step passed).
#
# Environment: DOMAIN [127.0.0.1]  SCENARIO [all]  CLIENT_ARGS (extra clients.mjs arguments,
#   e.g. --trace)  WS_PORT / SIP_PORT [free ports]  KEEP_WORK=1 keeps the temp dir with logs
#   (it is kept anyway on failure)  MAX_LIFETIME [300] s bound on every process started.
set -euo pipefail
LOG_NAME=run-kamailio-ws
source "$(dirname "$0")/lib.sh"

[[ -d $INTEROP_DIR/node_modules/jssip ]] || die "node_modules missing: run hack/interop/setup.sh"

make_work
trap cleanup EXIT
trap 'exit 130' INT TERM

WS_PORT=${WS_PORT:-$(free_port)}
SIP_PORT=${SIP_PORT:-$(free_port)}
start_kamailio kamailio "$INTEROP_DIR/kamailio-ws.cfg" "WS_PORT=$WS_PORT" "SIP_PORT=$SIP_PORT"
KPID=${PIDS[-1]}
if ! wait_tcp "$WS_PORT" 10 "$KPID"; then
	dump_logs
	die "kamailio did not listen on 127.0.0.1:$WS_PORT"
fi
log "kamailio ready: ws://127.0.0.1:$WS_PORT/ (SIP udp/tcp 127.0.0.1:$SIP_PORT)"

rc=0
# shellcheck disable=SC2086 # CLIENT_ARGS is a word list on purpose
timeout -k 5 90 node "$INTEROP_DIR/clients.mjs" --url "ws://127.0.0.1:$WS_PORT/" \
	--domain "${DOMAIN:-127.0.0.1}" --scenario "${SCENARIO:-all}" ${CLIENT_ARGS:-} || rc=$?

if ! kill -0 "$KPID" 2>/dev/null; then
	log "kamailio exited during the run"
	rc=1
fi
if ((rc != 0)); then dump_logs; fi
exit "$rc"
