#!/usr/bin/env bash
# selftest.sh: everything in hack/interop that needs no sipws router, in one go:
#   run-kamailio-ws.sh   JsSIP + SIP.js against Kamailio's own WebSocket server
#   check-registrar.sh   kamailio-registrar.cfg follows Path / Record-Route (stand-in router)
#   check-sipp.sh        the SIPp REGISTER scenarios (UAS for the router benchmark, UAC)
# Runs setup.sh first (SKIP_SETUP=1 to skip). Exit status 0 only if all three pass.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
if [[ ${SKIP_SETUP:-0} != 1 ]]; then ./setup.sh || exit 1; fi
rc=0
for t in run-kamailio-ws.sh check-registrar.sh check-sipp.sh; do
	echo "=== $t"
	./"$t" || rc=1
done
echo "=== selftest: $([[ $rc == 0 ]] && echo PASS || echo FAIL)"
exit "$rc"
