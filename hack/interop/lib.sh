# lib.sh: helpers shared by the interop run scripts (sourced, not run).
# Everything listens on 127.0.0.1; every process started through start_bg is bounded by
# MAX_LIFETIME seconds (timeout(1)) and stopped by cleanup, which the caller traps on EXIT.

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$INTEROP_DIR/../.." && pwd)
export REPO_ROOT
MAX_LIFETIME=${MAX_LIFETIME:-300}
PIDS=()
WORK=${WORK:-}

log() { printf '%s %s: %s\n' "$(date +%T)" "${LOG_NAME:-interop}" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# make_work creates the temp dir every process writes its pid, logs and config to.
make_work() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipws-interop.XXXXXX")
}

# start_bg NAME CMD...: start CMD in the background from $WORK, bounded by MAX_LIFETIME,
# stdout+stderr to $WORK/NAME.log; the pid (of timeout(1), which passes TERM on) is appended
# to PIDS.
start_bg() {
	local name=$1
	shift
	(cd "$WORK" && exec timeout -k 5 "$MAX_LIFETIME" "$@") >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	log "started $name (pid $!): $*"
}

# wait_exit PID SECONDS: true once the process is gone, false on timeout.
wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

# cleanup stops what start_bg started (TERM, then KILL after 10 s) and removes $WORK, unless
# KEEP_WORK=1 or the script fails (then the logs stay for inspection; KEEP_WORK_ON_FAILURE=0
# removes them anyway).
cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
	done
	if [[ -n $WORK && -d $WORK ]]; then
		rm -rf "${WORK:?}/bin" # binaries built for the run are not worth keeping
		if [[ ${KEEP_WORK:-0} == 1 || ($rc -ne 0 && ${KEEP_WORK_ON_FAILURE:-1} == 1) ]]; then
			log "logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}

# free_port: print a port on 127.0.0.1 that is free for both TCP and UDP (SIP uses both).
free_port() {
	node --input-type=module -e '
import net from "node:net";
import dgram from "node:dgram";
const tcpFree = p => new Promise(r => { const s = net.createServer(); s.once("error", () => r(false)); s.listen(p, "127.0.0.1", () => s.close(() => r(true))); });
const udpFree = p => new Promise(r => { const s = dgram.createSocket("udp4"); s.once("error", () => { s.close(); r(false); }); s.bind(p, "127.0.0.1", () => s.close(() => r(true))); });
for (let i = 0; i < 200; i++) {
	const p = 20000 + Math.floor(Math.random() * 20000);
	if (await tcpFree(p) && await udpFree(p)) { console.log(p); process.exit(0); }
}
process.exit(1);'
}

# wait_tcp PORT SECONDS [PID]: wait until 127.0.0.1:PORT accepts TCP; false on timeout or if
# PID died.
wait_tcp() {
	local port=$1 end=$((SECONDS + $2)) pid=${3:-}
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

# wait_http URL SECONDS [PID]: wait until URL answers 2xx (Node's fetch, no curl needed).
wait_http() {
	local url=$1 end=$((SECONDS + $2)) pid=${3:-}
	while ! node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(1000)}).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" 2>/dev/null; do
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# start_kamailio NAME CFG DEFINES...: run Kamailio in the foreground mode (-DD -E) with its
# pid file, runtime and working dir under $WORK; DEFINES are passed as -A NAME=VALUE.
start_kamailio() {
	local name=$1 cfg=$2 d
	shift 2
	local args=(-f "$cfg" -DD -E -P "$WORK/$name.pid" -Y "$WORK" -w "$WORK" -m "${KAMAILIO_SHM_MB:-64}" -M "${KAMAILIO_PKG_MB:-8}")
	for d in "$@"; do args+=(-A "$d"); done
	command -v kamailio >/dev/null || die "kamailio not found: run hack/interop/setup.sh"
	kamailio -c "${args[@]}" >"$WORK/$name-check.log" 2>&1 || {
		cat "$WORK/$name-check.log" >&2
		die "$cfg does not parse"
	}
	start_bg "$name" kamailio "${args[@]}"
}

# dump_logs: print the tail of every log under $WORK (on failure).
dump_logs() {
	local f
	for f in "$WORK"/*.log; do
		[[ -f $f ]] || continue
		printf '\n===== %s (last %s lines)\n' "$(basename "$f")" "${LOG_TAIL:-60}" >&2
		tail -n "${LOG_TAIL:-60}" "$f" >&2
	done
}
