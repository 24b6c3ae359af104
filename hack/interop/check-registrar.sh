#!/usr/bin/env bash
# check-registrar.sh: start kamailio-registrar.cfg on a free loopback port and run
# check-registrar.mjs against it: a stand-in for sipws's router (Path on REGISTER,
# Record-Route with a flow token) proves that Kamailio stores the Path, routes requests to a
# registered user along it, and routes in-dialog requests and CANCEL along Record-Route.
# Needs no sipws. Exit status: the checks'.
#
# Environment: SIP_PORT [free port]  DOMAIN [127.0.0.1]  CHECK_ARGS (e.g. --trace)
#   KEEP_WORK=1 keeps the temp dir with the logs (kept anyway on failure).
set -euo pipefail
LOG_NAME=check-registrar
source "$(dirname "$0")/lib.sh"

make_work
trap cleanup EXIT
trap 'exit 130' INT TERM

SIP_PORT=${SIP_PORT:-$(free_port)}
start_kamailio kamailio "$INTEROP_DIR/kamailio-registrar.cfg" "SIP_PORT=$SIP_PORT"
KPID=${PIDS[-1]}
if ! wait_tcp "$SIP_PORT" 10 "$KPID"; then
	dump_logs
	die "kamailio did not listen on 127.0.0.1:$SIP_PORT"
fi
log "kamailio registrar ready: udp/tcp 127.0.0.1:$SIP_PORT"

rc=0
# shellcheck disable=SC2086 # CHECK_ARGS is a word list on purpose
timeout -k 5 60 node "$INTEROP_DIR/check-registrar.mjs" --kamailio "127.0.0.1:$SIP_PORT" \
	--domain "${DOMAIN:-127.0.0.1}" ${CHECK_ARGS:-} || rc=$?
if ((rc != 0)); then dump_logs; fi
exit "$rc"
