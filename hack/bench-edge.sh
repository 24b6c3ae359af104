#!/usr/bin/env bash
# bench-edge.sh measures the sipws edge and a goroutine-per-connection baseline side by side,
# each over ws and wss: user-space memory per idle flow, handshakes per second and REGISTER/200
# round trips through edge -> NATS -> responder -> NATS -> edge. See docs/benchmarks.md.
#
# Everything stays on loopback. Flows come from several client processes and source addresses
# 127.0.0.x because one process may not open more than 20,000 files.
#
# Output: ${OUT:-bench-results}/edge.md (table), .../edge.jsonl (one JSON line per result),
# .../edge-logs/<server>-<transport>/ (stdout and stderr of every process, the sipws config).
#
# Environment (defaults in brackets):
#   SERVERS [sipws baseline]   TRANSPORTS [ws wss]
#   CLIENT_PROCS [3]  FLOWS_PER_PROC [6000]  CONNECT_CONCURRENCY [200]  CONNECT_TIMEOUT [300] s
#   IDLE0_WAIT [5] s before the 0-flow sample; SETTLE [10] s idle before the N-flow samples;
#   SAMPLES [10] RSS samples 1 s apart; LATE_SAMPLE [130] s after the flows are up, sample again,
#     past the Go runtime's forced GC (every 2 min) and scavenging (0: skip)
#   HS_DURATION [10s]  HS_CONCURRENCY [32]  HS_CLASSIC [1]: wss also with X25519 only
#   RTT_DURATION [10s]  RTT_CONNS [100]  REPEAT [3]: handshake and round-trip runs per server
#   QUICK=1: 2 client processes x 500 flows, 3 s runs, one repetition, no late sample
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-bench-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [[ ${QUICK:-0} == 1 ]]; then
	: "${CLIENT_PROCS:=2}" "${FLOWS_PER_PROC:=500}" "${SETTLE:=3}" "${SAMPLES:=3}" "${LATE_SAMPLE:=0}"
	: "${HS_DURATION:=3s}" "${RTT_DURATION:=3s}" "${IDLE0_WAIT:=2}" "${REPEAT:=1}"
fi
SERVERS=${SERVERS:-sipws baseline}
TRANSPORTS=${TRANSPORTS:-ws wss}
CLIENT_PROCS=${CLIENT_PROCS:-3}
FLOWS_PER_PROC=${FLOWS_PER_PROC:-6000}
CONNECT_CONCURRENCY=${CONNECT_CONCURRENCY:-200}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-300}
IDLE0_WAIT=${IDLE0_WAIT:-5}
SETTLE=${SETTLE:-10}
SAMPLES=${SAMPLES:-10}
LATE_SAMPLE=${LATE_SAMPLE:-130}
HS_DURATION=${HS_DURATION:-10s}
HS_CONCURRENCY=${HS_CONCURRENCY:-32}
HS_CLASSIC=${HS_CLASSIC:-1}
RTT_DURATION=${RTT_DURATION:-10s}
RTT_CONNS=${RTT_CONNS:-100}
REPEAT=${REPEAT:-3}
# Nothing started here may outlive this bound, even if this script is killed.
MAX_LIFETIME=${MAX_LIFETIME:-3600}

if ((CLIENT_PROCS < 1 || CLIENT_PROCS > 3)); then
	echo "CLIENT_PROCS must be 1..3 (sources 127.0.0.2-4; 5-9 are for handshakes and rtt)" >&2
	exit 2
fi
if ((FLOWS_PER_PROC > 19000)); then
	echo "FLOWS_PER_PROC must stay below the 20,000 open files of one process" >&2
	exit 2
fi

log() { printf '%s bench-edge: %s\n' "$(date +%T)" "$*" >&2; }

WORK=$(mktemp -d)
BIN=${BIN:-$WORK/bin}
LOGS=$OUT/edge-logs
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_exit PID SECONDS: wait until the process is gone; false on timeout.
wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
	wait "$pid" 2>/dev/null || true
}

# stop PID: SIGTERM, then SIGKILL after 20 s.
stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait_exit "$1" 20 || { log "pid $1 ignored SIGTERM, killing"; kill -KILL "$1" 2>/dev/null || true; }
}

# start NAME CMD...: run CMD in the background with its output in $LOGDIR/NAME.{out,err}; the
# pid is in $LAST_PID. A guard kills it when this script or the time bound is gone (edgebench
# also watches its parent itself; the sipws binary does not).
start() {
	local name=$1
	shift
	"$@" >"$LOGDIR/$name.out" 2>"$LOGDIR/$name.err" &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	local script=$$ pid=$LAST_PID end=$((SECONDS + MAX_LIFETIME))
	(
		trap - EXIT
		while kill -0 "$pid" 2>/dev/null; do
			if ! kill -0 "$script" 2>/dev/null || ((SECONDS > end)); then
				kill -TERM "$pid" 2>/dev/null
				sleep 5
				kill -KILL "$pid" 2>/dev/null
				exit 0
			fi
			sleep 2
		done
	) >/dev/null 2>&1 &
}

# wait_line FILE REGEX SECONDS PID: wait until FILE has a line matching REGEX while PID lives.
wait_line() {
	local file=$1 re=$2 end=$((SECONDS + $3)) pid=$4
	until grep -qE "$re" "$file" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "process $pid ended before printing /$re/ in $file:"
			tail -n 20 "${file%.out}.err" >&2 || true
			return 1
		fi
		if ((SECONDS >= end)); then
			log "timed out waiting for /$re/ in $file"
			return 1
		fi
		sleep 0.5
	done
}

EB=$BIN/edgebench
log "building into $BIN"
go build -o "$EB" ./hack/edgebench
if [[ " $SERVERS " == *" sipws "* ]]; then
	go build -o "$BIN/sipws" ./cmd/sipws
fi

# One self-signed ECDSA P-256 certificate for every wss server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

RESULTS=$OUT/edge.jsonl
: >"$RESULTS"
rm -rf "$LOGS"
mkdir -p "$LOGS"

# sipws_config FILE NATS_PORT WS_PORT WSS_PORT ADMIN_PORT: an edge config with both listeners and
# limits out of the way (all flows come from three addresses, at full speed).
sipws_config() {
	local limits='
    limits:
      maxConnections: 100000
      maxConnectionsPerIP: 20000
      handshakesPerSecondPerIP: 1000000
      handshakeBurstPerIP: 1000000
      messagesPerSecond: 1000000
      messageBurst: 1000000'
	cat >"$1" <<EOF
gateway: bench
node: bench1
listeners:
  - name: ws
    address: 127.0.0.1:$3
    protocol: ws
    path: /$limits
  - name: wss
    address: 127.0.0.1:$4
    protocol: wss
    path: /
    tls:
      minVersion: "1.3"
      certificates:
        - certFile: $WORK/cert.pem
          keyFile: $WORK/key.pem$limits
nats:
  url: nats://127.0.0.1:$2
admin:
  address: 127.0.0.1:$5
flowToken:
  keysFile: ""
EOF
}

# bench SERVER TRANSPORT: one complete measurement against a fresh server process.
bench() {
	local server=$1 transport=$2 natsp wsp wssp adminp url spid
	LOGDIR=$LOGS/$server-$transport
	mkdir -p "$LOGDIR"
	read -r natsp wsp wssp adminp < <("$EB" freeport -n 4)
	local label=(-server "$server")
	# Other work on the machine skews every number here; keep the load next to the results.
	echo "$server $transport: load average $(cut -d' ' -f1-3 /proc/loadavg) at start" >>"$LOGS/load.txt"

	start responder "$EB" responder -embed "127.0.0.1:$natsp" -gateway bench "${label[@]}"
	local rpid=$LAST_PID
	wait_line "$LOGDIR/responder.out" '^READY' 20 "$rpid"

	local port=$wsp
	[[ $transport == wss ]] && port=$wssp
	url=$transport://127.0.0.1:$port/
	case $server in
	sipws)
		sipws_config "$LOGDIR/sipws.yaml" "$natsp" "$wsp" "$wssp" "$adminp"
		start sipws "$BIN/sipws" edge --config "$LOGDIR/sipws.yaml"
		;;
	baseline)
		local tlsflags=()
		[[ $transport == wss ]] && tlsflags=(-tls-cert "$WORK/cert.pem" -tls-key "$WORK/key.pem")
		start baseline "$EB" baseline -listen "127.0.0.1:$port" "${tlsflags[@]}" \
			-nats "nats://127.0.0.1:$natsp" -gateway bench -node bench1 "${label[@]}"
		;;
	esac
	spid=$LAST_PID
	if ! "$EB" probe -url "$url" -wait 60s 2>>"$LOGDIR/probe.err"; then
		log "$server $transport: no flow could register at $url; see $LOGDIR"
		tail -n 20 "$LOGDIR/$server.err" >&2 || true
		return 1
	fi

	log "$server $transport: pid $spid on $url; waiting ${IDLE0_WAIT}s, then sampling 0 flows"
	sleep "$IDLE0_WAIT"
	local sample=("$EB" sample -pid "$spid" -every 1s -server "$server" -transport "$transport")
	"${sample[@]}" -count "$SAMPLES" -phase idle0 >"$LOGDIR/sample-idle0.out"

	log "$server $transport: opening $CLIENT_PROCS x $FLOWS_PER_PROC flows"
	local cpids=() i flows=0 n
	for ((i = 1; i <= CLIENT_PROCS; i++)); do
		start "clients$i" "$EB" clients -url "$url" -n "$FLOWS_PER_PROC" -source "127.0.0.$((i + 1))" \
			-concurrency "$CONNECT_CONCURRENCY" -hold "${MAX_LIFETIME}s" "${label[@]}"
		cpids+=("$LAST_PID")
	done
	for ((i = 1; i <= CLIENT_PROCS; i++)); do
		wait_line "$LOGDIR/clients$i.out" '^READY ' "$CONNECT_TIMEOUT" "${cpids[i - 1]}"
		read -r _ n _ < <(grep -m1 '^READY ' "$LOGDIR/clients$i.out")
		flows=$((flows + n))
	done
	log "$server $transport: $flows flows up; idle ${SETTLE}s, then $SAMPLES samples"
	sleep "$SETTLE"
	"${sample[@]}" -count "$SAMPLES" -phase flows -flows "$flows" >"$LOGDIR/sample-flows.out"
	if ((LATE_SAMPLE > 0)); then
		log "$server $transport: sampling again ${LATE_SAMPLE}s after the flows came up"
		sleep "$((LATE_SAMPLE - SETTLE - SAMPLES > 0 ? LATE_SAMPLE - SETTLE - SAMPLES : 0))"
		"${sample[@]}" -count "$SAMPLES" -phase flows-late -flows "$flows" >"$LOGDIR/sample-late.out"
	fi
	for pid in "${cpids[@]}"; do stop "$pid"; done

	# Rates on a shared 2-CPU machine vary from run to run: each rate is measured $REPEAT times,
	# alternating, and the report shows the median. A failing measurement is a result too (its
	# line says why); the others still run.
	local k
	for ((k = 1; k <= REPEAT; k++)); do
		log "$server $transport: handshakes for $HS_DURATION ($k/$REPEAT)"
		"$EB" handshakes -url "$url" -duration "$HS_DURATION" -concurrency "$HS_CONCURRENCY" \
			-pid "$spid" "${label[@]}" >"$LOGDIR/handshakes-$k.out" 2>"$LOGDIR/handshakes-$k.err" ||
			log "$server $transport: handshakes failed; see $LOGDIR/handshakes-$k.err"
		if [[ $transport == wss && $HS_CLASSIC == 1 ]]; then
			"$EB" handshakes -url "$url" -duration "$HS_DURATION" -concurrency "$HS_CONCURRENCY" -curves X25519 \
				-phase x25519 -pid "$spid" "${label[@]}" >"$LOGDIR/handshakes-x25519-$k.out" 2>"$LOGDIR/handshakes-x25519-$k.err" ||
				log "$server $transport: X25519 handshakes failed; see $LOGDIR/handshakes-x25519-$k.err"
		fi
		log "$server $transport: round trips over $RTT_CONNS flows for $RTT_DURATION ($k/$REPEAT)"
		"$EB" rtt -url "$url" -conns "$RTT_CONNS" -duration "$RTT_DURATION" -pid "$spid" "${label[@]}" \
			>"$LOGDIR/rtt-$k.out" 2>"$LOGDIR/rtt-$k.err" ||
			log "$server $transport: rtt failed; see $LOGDIR/rtt-$k.err"
	done

	if ! kill -0 "$spid" 2>/dev/null; then
		log "$server $transport: the server died; see $LOGDIR/$server.err"
	fi
	stop "$spid"
	stop "$rpid"
	grep -h '^{' "$LOGDIR"/*.out >>"$RESULTS" || true
}

for transport in $TRANSPORTS; do
	for server in $SERVERS; do
		bench "$server" "$transport"
	done
done

{
	echo "# sipws edge benchmark"
	echo
	echo "$(date -u +'%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
		"Linux $(uname -r), $(go version | awk '{print $3}');" \
		"$((CLIENT_PROCS * FLOWS_PER_PROC)) flows from $CLIENT_PROCS client processes; handshakes $HS_DURATION x $HS_CONCURRENCY;" \
		"round trips $RTT_DURATION x $RTT_CONNS flows; rates are the median of $REPEAT runs."
	echo
	"$EB" report "$RESULTS"
	echo
	sed 's/^/- /' "$LOGS/load.txt"
} >"$OUT/edge.md"
cat "$OUT/edge.md"
