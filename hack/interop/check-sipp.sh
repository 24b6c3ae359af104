#!/usr/bin/env bash
# check-sipp.sh: verify the SIPp scenarios.
#   1. sipp-uas-register.xml (the stateless REGISTER answerer the router's load benchmark
#      uses as its upstream) runs as a UDP UAS and answers every REGISTER of
#      sipp-uac-register.xml, including the second REGISTER of a Call-ID (-deadcall_wait 0).
#   2. sipp-uac-register.xml also registers and unregisters against kamailio-registrar.cfg.
# Exit status 0 when both pass.
#
# Environment: CALLS [20] REGISTER/un-REGISTER pairs per run; RATE [50] calls/s.
#   KEEP_WORK=1 keeps the temp dir with the SIPp logs (kept anyway on failure).
set -euo pipefail
LOG_NAME=check-sipp
source "$(dirname "$0")/lib.sh"
command -v sipp >/dev/null || die "sipp not found: run hack/interop/setup.sh"

make_work
trap cleanup EXIT
trap 'exit 130' INT TERM
CALLS=${CALLS:-20}
RATE=${RATE:-50}

# sipp_run NAME ARGS...: run SIPp in the foreground, bounded, from $WORK (its logs land there).
sipp_run() {
	local name=$1
	shift
	(cd "$WORK" && timeout -k 5 60 sipp "$@" -nostdin -trace_err -trace_stat >"$WORK/$name.log" 2>&1)
}
# summary NAME: "N successful, M failed" from the last statistics screen of SIPp's log.
summary() {
	awk -F'|' '/Successful call/ {s = $3} /Failed call/ {f = $3}
		END {gsub(/ /, "", s); gsub(/ /, "", f); printf "%s successful, %s failed", s, f}' "$WORK/$1.log"
}

rc=0
# 1. UAS <- UAC.
UAS_PORT=$(free_port)
UAC_PORT=$(free_port)
MAX_LIFETIME=60 start_bg sipp-uas sipp -sf "$INTEROP_DIR/sipp-uas-register.xml" -t u1 -i 127.0.0.1 -p "$UAS_PORT" \
	-m $((2 * CALLS)) -deadcall_wait 0 -nostdin -trace_err
UAS_PID=${PIDS[-1]}
sleep 0.5
if sipp_run sipp-uac "127.0.0.1:$UAS_PORT" -sf "$INTEROP_DIR/sipp-uac-register.xml" -t u1 -i 127.0.0.1 \
	-p "$UAC_PORT" -m "$CALLS" -r "$RATE"; then
	echo "ok sipp-uac-register -> sipp-uas-register ($(summary sipp-uac))"
else
	echo "FAIL sipp-uac-register -> sipp-uas-register: sipp exit $? ($(summary sipp-uac))"
	rc=1
fi
if wait_exit "$UAS_PID" 10 && wait "$UAS_PID"; then
	echo "ok sipp-uas-register answered $((2 * CALLS)) REGISTERs ($(summary sipp-uas))"
else
	echo "FAIL sipp-uas-register: did not finish cleanly after $((2 * CALLS)) REGISTERs ($(summary sipp-uas))"
	rc=1
fi

# 2. Kamailio registrar <- UAC.
SIP_PORT=$(free_port)
start_kamailio kamailio "$INTEROP_DIR/kamailio-registrar.cfg" "SIP_PORT=$SIP_PORT"
KPID=${PIDS[-1]}
wait_tcp "$SIP_PORT" 10 "$KPID" || {
	dump_logs
	die "kamailio did not listen on 127.0.0.1:$SIP_PORT"
}
if sipp_run sipp-uac-kamailio "127.0.0.1:$SIP_PORT" -sf "$INTEROP_DIR/sipp-uac-register.xml" -t u1 -i 127.0.0.1 \
	-p "$(free_port)" -m "$CALLS" -r "$RATE"; then
	echo "ok sipp-uac-register -> kamailio-registrar ($(summary sipp-uac-kamailio))"
else
	echo "FAIL sipp-uac-register -> kamailio-registrar ($(summary sipp-uac-kamailio))"
	rc=1
fi
if ((rc != 0)); then dump_logs; fi
exit "$rc"
