#!/usr/bin/env bash
# bench-relay.sh: SIP transactions per second (REGISTER → 200) relayed from WebSocket clients to
# a UDP SIP server, sipws and Kamailio side by side in one run (docs/benchmarks.md, "Relay").
#
#   relaybench ──ws──► sipws local (edge → embedded NATS → router) ──udp──► sipp UAS
#   relaybench ──ws──► Kamailio 5.6 (websocket + tm, kamailio-ws-relay.cfg) ──udp──► sipp UAS
#   relaybench ──udp─────────────────────────────────────────────────────► sipp UAS (baseline)
#
# All systems are started first and idle while another one is measured; the systems take turns
# in each phase (and in each round, ROUNDS > 1), so that load from other processes on a shared
# machine falls on all of them alike. Per system: a closed loop with CONNS WebSocket
# connections (each sends a REGISTER, waits for its 200, sends the next; own Call-ID per
# connection, CSeq +1 each time) for WARMUP + DURATION s gives the peak rate; then an open loop
# paced at half that rate gives the latency at half load, and the same open loop straight to
# sipp over UDP (CONNS sockets) right after gives the baseline the "added" latency is computed
# against. Then sipws's CPU profile during one more closed loop (PROFILE=1), and sipp's own
# closed-loop peak.
#
# Output: ${OUT:-bench-results}/relay.jsonl (a JSON line per run), relay.md (machine, table,
# profile summary), relay-logs/ (server logs, sipws-cpu.pprof, pprof -top output).
# docs/benchmarks.md: the section "## Relay: ..." is replaced, or appended (UPDATE_DOCS=0: not).
#
# Environment (defaults in brackets):
#   DURATION [20] measured s per run   WARMUP [3] s before it   CONNS [200]
#   BASE_DURATION [10] s of each direct-UDP baseline run (after 2 s warm-up)
#   ROUNDS [1]: run every phase this many times; the table shows the least disturbed run of
#     each (highest peak; lowest p99 at half peak and of the baseline), relay.jsonl all of them
#   SYSTEMS [sipws sipws-nats-tcp sipws-split kamailio kamailio-stateless]   (sipws-nats-tcp: edge
#     and router reach the embedded NATS over loopback TCP instead of in memory; sipws-split:
#     nats-server, sipws edge and sipws router as three processes, as deployed; kamailio:
#     t_relay; -stateless: forward())
#   LADDER ["2500 5000 7500 10000 12500"]: open-loop rates at which LADDER_SYSTEMS ["sipws kamailio"]
#     also run, LADDER_DURATION [10] s each after 2 s, each rate with its direct baseline ("" skips)
#   PROFILE [1]  PROFILE_SECONDS [10]   QUIET_WAIT [3] s to wait before a run for other
#   processes to use under QUIET_MAX [0.3] cores (the run goes on anyway; every result records
#   the other load)   KAMAILIO_SHM_MB [4096]  KAMAILIO_MM [tlsf]: shared memory manager (-x;
#   the packaged default, qm, made Kamailio 2-3 times slower here)
#   KAMAILIO_CHILDREN [2]  KAMAILIO_TCP_CHILDREN [2]
#   KAMAILIO_ARGS: extra kamailio arguments, e.g. "-A WITH_SANITY"
#   SKIP_SETUP=1 skips hack/interop/setup.sh   REPORT_ONLY=1 only rewrites relay.md and the docs
#     section from the last run's relay.jsonl and relay-logs/ (same settings assumed)   MAX_LIFETIME [1800] s bound on every process
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-bench-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/relay-logs

secs() { local v=${1%s}; [[ $v =~ ^[0-9]+$ ]] || { echo "bad duration '$1' (whole seconds)" >&2; exit 2; }; echo "$v"; }
DURATION=$(secs "${DURATION:-20}")
WARMUP=$(secs "${WARMUP:-3}")
BASE_DURATION=$(secs "${BASE_DURATION:-10}")
CONNS=${CONNS:-200}
ROUNDS=${ROUNDS:-1}
ROUNDS_NOTE=""
((ROUNDS > 1)) && ROUNDS_NOTE="best of $ROUNDS"
SYSTEMS=${SYSTEMS:-sipws sipws-nats-tcp sipws-split kamailio kamailio-stateless}
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=$(secs "${PROFILE_SECONDS:-10}")
QUIET_WAIT=${QUIET_WAIT:-3}
QUIET_MAX=${QUIET_MAX:-0.3}
KAMAILIO_SHM_MB=${KAMAILIO_SHM_MB:-4096}
KAMAILIO_MM=${KAMAILIO_MM:-tlsf}
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-2}
KAMAILIO_TCP_CHILDREN=${KAMAILIO_TCP_CHILDREN:-2}
MAX_LIFETIME=${MAX_LIFETIME:-1800}
LADDER=${LADDER-2500 5000 7500 10000 12500}
LADDER_SYSTEMS=${LADDER_SYSTEMS:-sipws kamailio}
LADDER_DURATION=$(secs "${LADDER_DURATION:-10}")
DOCS=${DOCS:-docs/benchmarks.md}
UPDATE_DOCS=${UPDATE_DOCS:-1}

log() { printf '%s bench-relay: %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipws-bench-relay.XXXXXX")
PIDS=()
wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}
cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg NAME CMD...: CMD in the background, bounded by MAX_LIFETIME (timeout passes TERM
# on), output to $LOGS/NAME.log; its pid (timeout's: CPU is measured over the process tree) is
# appended to PIDS.
start_bg() {
	local name=$1
	shift
	(cd "$WORK" && exec timeout -k 5 "$MAX_LIFETIME" "$@") >"$LOGS/$name.log" 2>&1 &
	PIDS+=($!)
	log "started $name (pid $!): $*"
}
stop_bg() {
	kill -TERM "$1" 2>/dev/null || true
	wait_exit "$1" 15 || kill -KILL "$1" 2>/dev/null || true
}
wait_tcp() {
	local port=$1 end=$((SECONDS + $2)) pid=$3
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}
# udp_drops PORT: receive-buffer drops of the UDP socket bound to 127.0.0.1:PORT (/proc/net/udp).
udp_drops() { awk -v p="$(printf '0100007F:%04X' "$1")" '$2 == p { print $NF; exit }' /proc/net/udp; }
# pprof_share PROFILE FOCUS [IGNORE]: "ms percent" of the CPU samples whose stack has a function
# matching FOCUS and none matching IGNORE.
pprof_share() {
	local a=(-top -nodecount=100000 -unit=ms -focus="$2")
	[[ -n ${3:-} ]] && a+=(-ignore="$3")
	go tool pprof "${a[@]}" "$1" 2>/dev/null |
		sed -n 's/^Showing nodes accounting for \([0-9.]*\)ms, \([0-9.]*\)% of.*/\1 \2/p'
}
# pprof_breakdown PROFILE: a markdown table of where sipws's CPU went, by pipeline stage. Each
# sample counts once, for the first stage (in this order) whose function is on its stack.
pprof_breakdown() {
	local stages=(
		"GC (background mark, sweep, scavenge)|runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge"
		"edge: WebSocket read, frame + SIP parse, publish to NATS|edge/server\.\(\*Server\)\.workerLoop|edge/server\.\(\*Server\)\.pollLoop"
		"edge: NATS message to the client (WebSocket write)|edge/server\.\(\*Server\)\.deliver"
		"router: request from NATS, Via/Path/flow token, UDP send|edge/router\.\(\*Router\)\.clientWorker"
		"router: UDP read, response matched, publish to NATS|siptransport\.\(\*Layer\)\.readUDP"
		"embedded NATS server (route messages between edge and router)|nats-server"
		"NATS client library (read and flush loops)|nats%2ego"
		"Go scheduler, timers, netpoll|runtime\.mcall|runtime\.schedule|runtime\.findRunnable|runtime\.sysmon|runtime\.netpoll"
	)
	local st name re ign="" v total=0
	echo "| stage (functions on the stack) | CPU share |"
	echo "| --- | --- |"
	for st in "${stages[@]}"; do
		name=${st%%|*} re=${st#*|}
		v=$(pprof_share "$1" "$re" "$ign")
		echo "| $name | ${v#* }% |"
		total=$(awk -v t="$total" -v v="${v#* }" 'BEGIN { print t + v }')
		ign=${ign:+$ign|}$re
	done
	echo "| rest | $(awk -v t="$total" 'BEGIN { printf "%.2f", 100 - t }')% |"
	v=$(pprof_share "$1" 'syscall\.Syscall|syscall\.RawSyscall|internal/runtime/syscall')
	echo "| *of all the above: in system calls (socket reads and writes, epoll, futex)* | *${v#* }%* |"
}
json_field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

# --- set-up -----------------------------------------------------------------------------------
REPORT_ONLY=${REPORT_ONLY:-0}
if [[ $REPORT_ONLY != 1 && ${SKIP_SETUP:-0} != 1 ]]; then
	log "installing what is missing (hack/interop/setup.sh: kamailio, websocket module, sipp)"
	SKIP_NPM=1 bash hack/interop/setup.sh
fi
for b in kamailio sipp go timeout curl awk; do command -v "$b" >/dev/null || die "$b not found"; done
for s in $SYSTEMS; do
	case $s in sipws | sipws-nats-tcp | sipws-split | kamailio | kamailio-stateless) ;; *) die "SYSTEMS: unknown system $s" ;; esac
done
mkdir -p "$WORK/bin" "$WORK/kamailio"
log "building relaybench${REPORT_ONLY/#1/ (REPORT_ONLY=1: report from the last run)}"
go build -o "$WORK/bin/relaybench" ./hack/relaybench
RB=$WORK/bin/relaybench
RESULTS=$OUT/relay.jsonl
rc=0

# measure_all: everything that runs load; sets DROPS.
measure_all() {
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	: >"$RESULTS"
	log "building sipws"
	CGO_ENABLED=0 go build -trimpath -o "$WORK/bin/sipws" ./cmd/sipws

	read -r UAS_PORT WS_PORT ADMIN_PORT NATS_PORT ROUTER_PORT KWS_PORT KSIP_PORT KWS2_PORT KSIP2_PORT \
		WS2_PORT ADMIN2_PORT NATS2_PORT ROUTER2_PORT WS3_PORT ADMIN3_PORT ADMIN4_PORT NATS3_PORT \
		ROUTER3_PORT < <("$RB" freeport -n 18)
	if [[ " $SYSTEMS " == *" sipws-split "* ]]; then
		log "building nats-server (the module's own main package, the version sipws links)"
		go build -o "$WORK/bin/nats-server" github.com/nats-io/nats-server/v2
	fi

	# sipp as the UDP registrar: answers every REGISTER with 200 (hack/interop/sipp-uas-register.xml).
	# -buff_size: sipp's socket buffers are 64 KiB by default, too small for the bursts of 200
	# flows (the kernel drops REGISTERs and the relays' retransmissions after 500 ms show up as p99).
	# The watchdog limits are raised so that sipp does not end the test when other processes starve
	# it for a while (it logs "Overload warning" then).
	start_bg sipp sipp -sf "$ROOT/hack/interop/sipp-uas-register.xml" -t u1 -i 127.0.0.1 -p "$UAS_PORT" \
		-deadcall_wait 0 -buff_size 4194304 -nostdin \
		-watchdog_minor_maxtriggers 1000000 -watchdog_major_maxtriggers 1000000
	SIPP=${PIDS[-1]}
	sleep 1
	kill -0 "$SIPP" 2>/dev/null || { cat "$LOGS/sipp.log" >&2; die "sipp did not start"; }

	declare -gA URL SPID UDPPORT ADMIN
	# idle_cpu SYS: -cpu flags for the systems idling while SYS is measured (so that their CPU,
	# e.g. Kamailio's tm timers freeing the last run's transactions, is not "other processes").
	idle_cpu() {
		local o
		for o in $SYSTEMS; do [[ $o == "$1" ]] || printf -- '-cpu\nidle-%s=%s\n' "$o" "${SPID[$o]}"; done
	}
	quiet() {
		local o ex=(-exclude "sipp=$SIPP")
		for o in $SYSTEMS; do ex+=(-exclude "$o=${SPID[$o]}"); done
		"$RB" quiet -max "$QUIET_MAX" -timeout "${QUIET_WAIT}s" "${ex[@]}" 2>&1 | sed 's/^/  /' >&2 || true
	}

	# load ARGS...: one relaybench load run; its JSON line goes to RESULTS and stdout.
	load() {
		local line
		line=$("$RB" load -conns "$CONNS" "$@" 2>>"$LOGS/relaybench.log") || {
			tail -n 5 "$LOGS/relaybench.log" >&2
			return 1
		}
		echo "$line" >>"$RESULTS"
		echo "$line"
	}

	# sipws_config WS_PORT ADMIN_PORT ROUTER_UDP_PORT: the sipws configuration every sipws
	# system shares (one WS listener, limits out of the way, the route to sipp).
	sipws_config() {
		cat <<-YAML
			# generated by hack/bench-relay.sh
			gateway: bench
			listeners:
			  - name: ws
			    address: 127.0.0.1:$1
			    protocol: ws
			    path: /
			    limits:
			      handshakesPerSecondPerIP: 100000
			      handshakeBurstPerIP: 100000
			      maxConnectionsPerIP: 100000
			      # each flow sends a REGISTER as soon as the last one is answered
			      messagesPerSecond: 1000000
			      messageBurst: 1000000
			keepAlive:
			  pingInterval: 25s
			  idleTimeout: 90s
			drainTimeout: 1s
			admin:
			  address: 127.0.0.1:$2
			  pprof: true
			router:
			  listen:
			    udp: 127.0.0.1:$3
			  routes:
			    - name: upstream
			      upstream:
			        targets:
			          - uri: sip:127.0.0.1:$UAS_PORT
			        # sipp answers only REGISTER: no OPTIONS probes.
			        healthCheck:
			          disabled: true
		YAML
	}

	# --- start every system; they idle while another one is measured ------------------------------
	for sys in $SYSTEMS; do
		case $sys in
		sipws | sipws-nats-tcp)
			# sipws-nats-tcp: the same process, but its edge and router reach the embedded NATS
			# over loopback TCP, as pods reach a NATS cluster (local mode default: in memory).
			natsflags=() ws=$WS_PORT adm=$ADMIN_PORT nport=$NATS_PORT rport=$ROUTER_PORT
			if [[ $sys == sipws-nats-tcp ]]; then
				natsflags=(--nats-in-process=false) ws=$WS2_PORT adm=$ADMIN2_PORT nport=$NATS2_PORT rport=$ROUTER2_PORT
			fi
			cfg=$WORK/$sys.yaml
			sipws_config "$ws" "$adm" "$rport" >"$cfg"
			cp "$cfg" "$LOGS/$sys.yaml"
			start_bg "$sys" "$WORK/bin/sipws" local --config "$cfg" --nats-listen "127.0.0.1:$nport" "${natsflags[@]}" --log-level warn
			SPID[$sys]=${PIDS[-1]}
			# shellcheck disable=SC2015 # either failing is fatal
			wait_tcp "$adm" 20 "${SPID[$sys]}" && wait_tcp "$ws" 20 "${SPID[$sys]}" || {
				cat "$LOGS/$sys.log" >&2
				die "$sys did not start"
			}
			URL[$sys]=ws://127.0.0.1:$ws/ UDPPORT[$sys]=$rport ADMIN[$sys]=$adm
			;;
		sipws-split)
			# The shape of a deployment: nats-server, `sipws edge` and `sipws router` as three
			# processes on loopback TCP, sharing a flow-token key ring. One wrapper process is
			# their parent, so that CPU is measured over all three.
			ring=$WORK/split-keys.yaml
			printf 'current: 1\nkeys:\n  - id: 1\n    secret: %s\n' "$(head -c 32 /dev/urandom | base64)" >"$ring"
			for role in edge router; do
				adm=$ADMIN3_PORT
				[[ $role == router ]] && adm=$ADMIN4_PORT
				{
					printf 'nats:\n  url: nats://127.0.0.1:%s\nflowToken:\n  keysFile: %s\n' "$NATS3_PORT" "$ring"
					sipws_config "$WS3_PORT" "$adm" "$ROUTER3_PORT"
				} >"$WORK/split-$role.yaml"
				cp "$WORK/split-$role.yaml" "$LOGS/sipws-split-$role.yaml"
			done
			cat >"$WORK/split.sh" <<-SH
				# generated by hack/bench-relay.sh: the three processes of sipws-split
				trap 'kill \$(jobs -p) 2>/dev/null; wait; exit 0' TERM INT
				"$WORK/bin/nats-server" -a 127.0.0.1 -p $NATS3_PORT &
				sleep 0.5
				SIPWS_NODE=edge-0 "$WORK/bin/sipws" edge --config "$WORK/split-edge.yaml" --log-level warn &
				"$WORK/bin/sipws" router --config "$WORK/split-router.yaml" --log-level warn &
				wait
			SH
			start_bg "$sys" bash "$WORK/split.sh"
			SPID[$sys]=${PIDS[-1]}
			# shellcheck disable=SC2015 # either failing is fatal
			wait_tcp "$ADMIN4_PORT" 20 "${SPID[$sys]}" && wait_tcp "$WS3_PORT" 20 "${SPID[$sys]}" || {
				cat "$LOGS/$sys.log" >&2
				die "$sys did not start"
			}
			URL[$sys]=ws://127.0.0.1:$WS3_PORT/ UDPPORT[$sys]=$ROUTER3_PORT ADMIN[$sys]=$ADMIN3_PORT
			;;
		kamailio | kamailio-stateless)
			if [[ $sys == kamailio ]]; then kws=$KWS_PORT ksip=$KSIP_PORT; else kws=$KWS2_PORT ksip=$KSIP2_PORT; fi
			kargs=(-f "$ROOT/hack/interop/kamailio-ws-relay.cfg" -DD -E -m "$KAMAILIO_SHM_MB" -M 16 -x "$KAMAILIO_MM"
				-P "$WORK/kamailio/$sys.pid" -Y "$WORK/kamailio/$sys" -w "$WORK/kamailio/$sys"
				-A "WS_PORT=$kws" -A "SIP_PORT=$ksip" -A "UPSTREAM=\"sip:127.0.0.1:$UAS_PORT\""
				-A "CHILDREN=$KAMAILIO_CHILDREN" -A "TCP_CHILDREN=$KAMAILIO_TCP_CHILDREN")
			[[ $sys == kamailio-stateless ]] && kargs+=(-A RELAY_STATELESS)
			# shellcheck disable=SC2206 # KAMAILIO_ARGS is a word list on purpose
			kargs+=(${KAMAILIO_ARGS:-})
			mkdir -p "$WORK/kamailio/$sys"
			kamailio -c "${kargs[@]}" >"$LOGS/$sys-check.log" 2>&1 || {
				cat "$LOGS/$sys-check.log" >&2
				die "kamailio-ws-relay.cfg does not parse"
			}
			start_bg "$sys" kamailio "${kargs[@]}"
			SPID[$sys]=${PIDS[-1]}
			wait_tcp "$kws" 20 "${SPID[$sys]}" || {
				cat "$LOGS/$sys.log" >&2
				die "$sys did not start"
			}
			URL[$sys]=ws://127.0.0.1:$kws/ UDPPORT[$sys]=$ksip
			;;
		esac
	done
	sleep 1 # Kamailio's workers forked

	# --- peak: closed loops, the systems taking turns in every round -----------------------------
	declare -gA PEAK
	for ((r = 1; r <= ROUNDS; r++)); do
		for sys in $SYSTEMS; do
			quiet
			log "$sys: closed loop, $CONNS connections, ${WARMUP}+${DURATION} s${ROUNDS_NOTE:+ (round $r)}"
			mapfile -t idle < <(idle_cpu "$sys")
			line=$(load -url "${URL[$sys]}" -system "$sys" -phase peak -duration "${DURATION}s" -warmup "${WARMUP}s" \
				-cpu "server=${SPID[$sys]}" -cpu "sipp=$SIPP" "${idle[@]}") || {
				log "$sys: peak run failed"
				rc=1
				continue
			}
			p=$(json_field "$line" per_second)
			log "$sys: peak $p/s (p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms, other processes $(json_field "$line" other_cores) cores)"
			PEAK[$sys]=$(awk -v a="${PEAK[$sys]:-0}" -v b="$p" 'BEGIN { print (b > a ? b : a) }')
		done
	done

	# --- half peak: open loops at half of each system's best peak, each followed by its baseline ---
	for ((r = 1; r <= ROUNDS; r++)); do
		for sys in $SYSTEMS; do
			half=$(awk -v p="${PEAK[$sys]:-0}" 'BEGIN { printf "%d", p / 2 }')
			((half > 0)) || continue
			quiet
			log "$sys: open loop at $half/s${ROUNDS_NOTE:+ (round $r)}"
			mapfile -t idle < <(idle_cpu "$sys")
			line=$(load -url "${URL[$sys]}" -system "$sys" -phase half -rate "$half" -duration "${DURATION}s" \
				-warmup "${WARMUP}s" -timeline -cpu "server=${SPID[$sys]}" -cpu "sipp=$SIPP" "${idle[@]}") || {
				log "$sys: half-peak run failed"
				rc=1
				continue
			}
			log "$sys: at $half/s p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms, median second's p99 $(json_field "$line" p99_per_second_median_ms) ms, other processes $(json_field "$line" other_cores) cores"
			quiet
			mapfile -t idle < <(idle_cpu "")
			line=$(load -udp "127.0.0.1:$UAS_PORT" -system direct -phase baseline -for "$sys" -rate "$half" \
				-duration "${BASE_DURATION}s" -warmup 2s -timeline -cpu "sipp=$SIPP" "${idle[@]}") || {
				log "baseline run failed"
				rc=1
				continue
			}
			log "direct UDP to sipp at $half/s (baseline for $sys): p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms"
		done
	done

	# --- same rate: the sipws systems at Kamailio (t_relay)'s half-peak rate, whose direct-UDP
	# baseline is the one measured above, so latency compares at one offered load too ------------
	if [[ " $SYSTEMS " == *" kamailio "* ]]; then
		same=$(awk -v p="${PEAK[kamailio]:-0}" 'BEGIN { printf "%d", p / 2 }')
		for ((r = 1; r <= ROUNDS; r++)); do
			for sys in $SYSTEMS; do
				[[ $sys == sipws* ]] && ((same > 0)) || continue
				quiet
				log "$sys: open loop at $same/s (Kamailio's half peak)${ROUNDS_NOTE:+ (round $r)}"
				mapfile -t idle < <(idle_cpu "$sys")
				line=$(load -url "${URL[$sys]}" -system "$sys" -phase same -rate "$same" -duration "${DURATION}s" \
					-warmup "${WARMUP}s" -timeline -cpu "server=${SPID[$sys]}" -cpu "sipp=$SIPP" "${idle[@]}") || {
					log "$sys: same-rate run failed"
					rc=1
					continue
				}
				log "$sys: at $same/s p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms"
			done
		done
	fi

	# --- load ladder: the same open loop at fixed rates for LADDER_SYSTEMS, each rate followed by
	# its direct baseline, so that added latency is seen against load, not at one point --------
	local lsys=""
	for sys in $LADDER_SYSTEMS; do
		[[ " $SYSTEMS " == *" $sys "* ]] && lsys+="$sys "
	done
	if [[ -n $LADDER && -n $lsys ]]; then
		for ((r = 1; r <= ROUNDS; r++)); do
			for rate in $LADDER; do
				for sys in $lsys; do
					quiet
					log "$sys: ladder, open loop at $rate/s${ROUNDS_NOTE:+ (round $r)}"
					mapfile -t idle < <(idle_cpu "$sys")
					line=$(load -url "${URL[$sys]}" -system "$sys" -phase ladder -rate "$rate" -duration "${LADDER_DURATION}s" \
						-warmup 2s -cpu "server=${SPID[$sys]}" -cpu "sipp=$SIPP" "${idle[@]}") || {
						log "$sys: ladder run at $rate/s failed"
						rc=1
						continue
					}
					log "$sys: at $rate/s p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms, machine busy $(json_field "$line" machine_busy_cores) cores"
				done
				quiet
				mapfile -t idle < <(idle_cpu "")
				line=$(load -udp "127.0.0.1:$UAS_PORT" -system direct -phase baseline -for ladder -rate "$rate" \
					-duration "${BASE_DURATION}s" -warmup 2s -cpu "sipp=$SIPP" "${idle[@]}") || {
					log "ladder baseline at $rate/s failed"
					rc=1
					continue
				}
				log "direct UDP to sipp at $rate/s: p50 $(json_field "$line" p50_ms) ms, p99 $(json_field "$line" p99_ms) ms"
			done
		done
	fi

	# --- sipws's CPU profile, during one more closed loop -----------------------------------------
	if [[ " $SYSTEMS " == *" sipws "* && $PROFILE == 1 ]]; then
		quiet
		log "sipws: CPU profile (${PROFILE_SECONDS} s) during another closed loop"
		(sleep 2 && timeout 60 curl -sS -o "$LOGS/sipws-cpu.pprof" \
			"http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS") &
		ppid=$!
		mapfile -t idle < <(idle_cpu sipws)
		load -url "${URL[sipws]}" -system sipws -phase profile -duration "$((PROFILE_SECONDS + 1))s" -warmup 2s \
			-cpu "server=${SPID[sipws]}" -cpu "sipp=$SIPP" "${idle[@]}" >/dev/null || rc=1
		wait "$ppid" || log "profile fetch failed"
		if [[ -s $LOGS/sipws-cpu.pprof ]]; then
			go tool pprof -top -nodecount=30 "$LOGS/sipws-cpu.pprof" >"$LOGS/sipws-pprof-top.txt" 2>/dev/null || true
			go tool pprof -top -cum -nodecount=40 "$LOGS/sipws-cpu.pprof" >"$LOGS/sipws-pprof-cum.txt" 2>/dev/null || true
		fi
	fi

	quiet
	log "sipp alone: closed loop over UDP, $CONNS sockets"
	mapfile -t idle < <(idle_cpu "")
	load -udp "127.0.0.1:$UAS_PORT" -system direct -phase peak -duration "${BASE_DURATION}s" -warmup 2s \
		-cpu "sipp=$SIPP" "${idle[@]}" >/dev/null || rc=1

	DROPS=""
	for sys in $SYSTEMS; do
		DROPS+="$sys $(udp_drops "${UDPPORT[$sys]}"), "
		stop_bg "${SPID[$sys]}"
		if [[ $sys == kamailio* ]] && grep -qiE 'out of memory|no more shm|ERROR' "$LOGS/$sys.log"; then
			log "$sys logged errors (see $LOGS/$sys.log):"
			grep -iE 'out of memory|no more shm|ERROR' "$LOGS/$sys.log" | sort | uniq -c | sort -rn | head -5 >&2
		fi
	done
	DROPS+="sipp $(udp_drops "$UAS_PORT")"
	echo "$DROPS" >"$LOGS/udp-drops.txt"
}

if [[ $REPORT_ONLY == 1 ]]; then
	[[ -s $RESULTS ]] || die "REPORT_ONLY=1: no $RESULTS"
	DROPS=$(cat "$LOGS/udp-drops.txt" 2>/dev/null || echo "not recorded")
else
	measure_all
fi

# --- report -----------------------------------------------------------------------------------
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
# sipp -v exits 99: versions are read without pipefail.
kamailio_version=$(set +o pipefail; kamailio -v 2>/dev/null | awk 'NR == 1 { print $3 }')
sipp_version=$(set +o pipefail; sipp -v 2>&1 | sed -n 's/.*SIPp v\([0-9.]*\).*/\1/p' | head -1)
machine="$(nproc) CPUs ($cpu_model), $mem RAM, Linux $(uname -r), $(go version | awk '{print $3}'), Kamailio $kamailio_version, SIPp $sipp_version"
table=$("$RB" report "$RESULTS")
profile_top=""
if [[ -s $LOGS/sipws-pprof-top.txt ]]; then
	profile_top=$(sed -n '1,/flat%/p' "$LOGS/sipws-pprof-top.txt" | grep -E '^(Duration|      flat)' || true)
	profile_top+=$'\n'$(awk '/flat%/ { on = 1; next } on' "$LOGS/sipws-pprof-top.txt" | head -n 20)
	profile_cum=$(awk '/flat%/ { on = 1; next } on' "$LOGS/sipws-pprof-cum.txt" | head -n 40)
	profile_stages=$(pprof_breakdown "$LOGS/sipws-cpu.pprof")
	profile_rate=$(sed -n 's/.*"phase":"profile".*"per_second":\([0-9.]*\).*"server":\([0-9.]*\).*/\1 REGISTER\/s, sipws \2 cores/p' "$RESULTS")
fi

{
	echo "# Relay: REGISTER through WS → UDP ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "Machine: $machine."
	echo "$CONNS WebSocket connections; closed loop ${WARMUP}+${DURATION} s, open loop at half the peak ${WARMUP}+${DURATION} s, direct-UDP baselines 2+${BASE_DURATION} s${ROUNDS_NOTE:+; $ROUNDS_NOTE rounds (highest peak, lowest p99)}. UDP receive-buffer drops (relay's upstream socket, sipp's): $DROPS."
	echo
	echo "$table"
	if [[ -n $profile_top ]]; then
		echo
		echo "sipws CPU profile (closed loop, ${PROFILE_SECONDS} s; ${profile_rate:-?}) by pipeline stage:"
		echo
		echo "$profile_stages"
		echo
		echo "Flat top 20:"
		echo
		echo '```'
		echo "$profile_top"
		echo '```'
		echo
		echo "Cumulative top 40:"
		echo
		echo '```'
		echo "$profile_cum"
		echo '```'
	fi
} >"$OUT/relay.md"
log "wrote $OUT/relay.md and $RESULTS"
cat "$OUT/relay.md"

if [[ $UPDATE_DOCS == 1 ]]; then
	section=$WORK/relay-section.md
	{
		cat <<-EOF
			## Relay: REGISTER through WS → NATS → UDP

			How many SIP transactions per second sipws relays from WebSocket clients to a UDP SIP server,
			and at what latency, next to Kamailio's websocket module doing the same relay on the same
			machine in the same run. Written by \`hack/bench-relay.sh\` (\`make bench-relay\`) on
			$(date -u +%Y-%m-%d).

			**Machine**: $machine. The load client, the relay under test and the upstream (sipp) share
			these CPUs; other processes' CPU during each run is in the table ("other processes").

			**What is measured**: a transaction is one REGISTER sent by a WebSocket client and its 200
			OK coming back. Paths:

			- sipws: \`relaybench\` ─ws→ \`sipws local\` (edge → embedded NATS → router, one process)
			  ─udp→ sipp UAS (\`hack/interop/sipp-uas-register.xml\`: answers every REGISTER with 200,
			  echoing Contact and Path) and back. Health probes off, router T1 500 ms, log level warn.
			  In local mode the edge and router reach the embedded nats-server in memory
			  (\`nats.InProcessServer\`); "sipws-nats-tcp" is the same process with
			  \`--nats-in-process=false\`: both reach it over loopback TCP, 4 socket writes and 4 reads
			  more per transaction, as pods reach a NATS cluster (minus the network).
			  "sipws-split" is the shape of a deployment: \`nats-server\` (built from the module
			  sipws links), \`sipws edge\` and \`sipws router\` as three processes on loopback TCP,
			  sharing a flow-token key ring; its CPU is the sum of the three.
			- Kamailio $kamailio_version (\`hack/interop/kamailio-ws-relay.cfg\`, ${KAMAILIO_CHILDREN} UDP + ${KAMAILIO_TCP_CHILDREN} TCP
			  workers, ${KAMAILIO_SHM_MB} MiB shared memory with the ${KAMAILIO_MM} manager (\`-x ${KAMAILIO_MM}\`), UDP receive buffer
			  up to 4 MiB${KAMAILIO_ARGS:+, extra arguments \`$KAMAILIO_ARGS\`}):
			  WebSocket handshake by xhttp + websocket, then per request a max-forwards check,
			  \`force_rport\`, \`add_path_received\` on REGISTER (the counterpart of the router's Path
			  with the flow token) and \`t_relay()\` to the same sipp ("kamailio", stateful like
			  sipws's router) or \`forward()\` ("kamailio-stateless"). A relay, not a registrar; no
			  sanity checks unless \`KAMAILIO_ARGS="-A WITH_SANITY"\`.
			- baseline: the same REGISTERs straight to sipp over UDP (one socket per flow).

			The load client (\`hack/relaybench\`, Go) opens $CONNS connections and gets one REGISTER answered
			on each before measuring. Each connection has its own Call-ID, From tag and
			\`.invalid\` Via host (like JsSIP); CSeq and branch grow by one per request; messages are
			about 600 bytes.

			- **Peak**: closed loop: each connection sends a REGISTER, waits for its 200, sends the
			  next; ${WARMUP} s warm-up then ${DURATION} s measured. Peak = 200s received for requests sent in the
			  measured window / ${DURATION} s.
			- **Half peak**: open loop at half the system's own peak: each connection sends on a fixed
			  schedule (rate/$CONNS per second, phases spread evenly over the interval), whatever the
			  answers do; ${WARMUP} s + ${DURATION} s. Latency is from just before a REGISTER's write to the
			  read of its 200 (so client scheduling delay on the shared CPUs is included).
			- **Added latency** = latency through the relay at half peak − latency of the baseline
			  (direct UDP to sipp, same rate, same number of flows, 2 s + ${BASE_DURATION} s, run right after).
			  The issue's target: added p99 ≤ 2 ms at half of the peak rate. Besides the p99 of the
			  whole window, each second of the window gets its own p99 and the table shows their
			  median ("median second"): a few seconds in which other processes take the CPUs move
			  the window's p99 a lot and the median second's hardly at all.
			- **Same rate**: each system's half peak is a different load, so the sipws systems also
			  run the open loop at Kamailio (t_relay)'s half-peak rate, after all half-peak runs;
			  their added latency there is against the direct baseline measured at that rate for
			  Kamailio.
			- **Load ladder** (second table): $(echo "$LADDER_SYSTEMS" | sed 's/ /, /g') also run the open loop at
			  fixed rates ($(echo "$LADDER" | sed 's/ /, /g') REGISTER/s; 2 s + ${LADDER_DURATION} s each), every rate
			  followed by its own direct baseline, so that the added latency shows against the
			  offered load and how busy the whole machine is, and the table ends with the highest
			  rate up to which each system added at most 2 ms at p99 at every rate (bold: within it).
			- **CPU**: utime+stime deltas from \`/proc/<pid>/stat\` over the measured window, summed over
			  the process tree (Kamailio's workers), in cores; per transaction = cores / rate.
			  "other processes" = machine busy time (\`/proc/stat\`) minus relay, sipp and load client.
			- All systems run from the start and idle while another is measured; they take turns
			  phase by phase (all peaks, then all half-peak runs), so that load from other processes
			  on a shared machine is spread over them. \`relaybench quiet\` waits up to ${QUIET_WAIT} s before
			  each run for other processes to use under ${QUIET_MAX} cores.
			- Percentiles are exact (every sample kept, nearest rank). A request not answered within
			  2 s counts as lost.${ROUNDS_NOTE:+
			- Every phase ran $ROUNDS times; the table shows the least disturbed run of each (highest
			  peak, lowest p99 at half peak and of the baseline); all runs are in \`relay.jsonl\`.}

			**Results**:

		EOF
		echo "$table"
		echo
		if [[ -n $profile_top ]]; then
			echo "**sipws CPU profile** (\`/debug/pprof/profile?seconds=$PROFILE_SECONDS\` during a further closed"
			echo "loop at ${profile_rate:-?}), by pipeline stage:"
			echo
			echo "$profile_stages"
			echo
			echo "Flat top 20 (\`go tool pprof -top\`; the cumulative view is in \`bench-results/relay.md\`):"
			echo
			echo '```'
			echo "$profile_top"
			echo '```'
			echo
		fi
		cat <<-EOF
			**Reading the numbers**:

			- The relay, sipp and the load client share the two CPUs, so at the peak the relay gets
			  only what the other two leave; "relay CPU per transaction" is the figure that does not
			  depend on that split. It is higher at half peak than at the peak for every relay:
			  at the peak each wake-up and system call carries several messages, at half peak one.
			- Latency at half peak includes the load client's own scheduling delay on the busy CPUs
			  ("sends behind schedule"); the direct-UDP baseline has far less CPU competing with it,
			  so "added" is an upper bound on what the relay itself adds.
			- In sipws every transaction crosses, besides the client's WebSocket and the UDP socket to
			  sipp, four loopback TCP connections (edge → NATS server → router and back) and about
			  a dozen goroutine hand-offs: about a third of its CPU at the peak is system calls (more
			  at low rates, where each wake-up carries one message), SIP parsing (\`sipmsg\`) a few
			  percent (the stage table above). Kamailio hands a request from its TCP worker to its
			  UDP socket in one process and the reply from a UDP worker to the TCP connection.
			- "Whole machine busy at peak": a relay that leaves CPU idle in the closed loop is held
			  back by the latency of its own hand-offs, not by CPU.
			- Kamailio must run with the TLSF memory manager (\`-x tlsf\`) and a large shared memory
			  (\`-m 4096\`) to be measured fairly: with the packaged default manager it needed 2-3
			  times the CPU per REGISTER, and with 1 GiB tm ran out of shared memory at 20,000/s
			  (500 answers).
			- This machine is shared with other work; the "other processes" column says how much CPU
			  it took during each run. A run with more than about 0.2 cores of it is not comparable.

			**Reproduce**: \`make bench-relay\` or \`bash hack/bench-relay.sh\` (installs kamailio,
			kamailio-websocket-modules and sip-tester through \`hack/interop/setup.sh\` when missing; about
			4 minutes). \`DURATION=5 SYSTEMS="sipws kamailio" PROFILE=0\` for a quick run, \`ROUNDS=3\` on
			a busy machine (best of three per phase). \`relaybench load -timeline\` (used for the half-peak
			runs; see \`relay-logs/relaybench.log\`) prints every second's percentiles. Output in
			\`bench-results/\`: \`relay.md\`, \`relay.jsonl\` (every run), \`relay-logs/\` (server logs,
			\`sipws-cpu.pprof\`). Everything listens on 127.0.0.1 on free ports.

		EOF
	} >"$section"
	touch "$DOCS"
	# Replace an earlier Relay section (up to the next "## " heading), keep everything else.
	# Trailing blank lines are dropped and one put back before the section.
	awk 'BEGIN { skip = 0 }
		/^## Relay: / { skip = 1; next }
		/^## / { skip = 0 }
		!skip { lines[++n] = $0 }
		END { while (n > 0 && lines[n] ~ /^[ \t]*$/) n--; for (i = 1; i <= n; i++) print lines[i] }' "$DOCS" >"$WORK/docs.md"
	if [[ -s $WORK/docs.md ]]; then echo >>"$WORK/docs.md"; else printf '# Benchmarks\n\n' >"$WORK/docs.md"; fi
	cat "$section" >>"$WORK/docs.md"
	cat "$WORK/docs.md" >"$DOCS"
	log "updated the Relay section of $DOCS"
fi
exit "$rc"
