package main

import "github.com/sipws/sipws/edge/sipcorpus"

// RFC 4475 torture messages, from internal/sipcorpus.

// tortureRelay are the valid messages a proxy must relay intact (§3.1.1 without dblreq,
// which is two messages in one), plus §3.3 messages whose syntax is valid.
var tortureRelay = sipcorpus.Pick("wsinv", "intmeth", "esc01", "esc02", "escnull", "lwsdisp",
	"longreq", "semiuri", "transports", "mpart01", "unreason", "noreason", "bext01", "unksm2")

// tortureReject are messages that are malformed at the message level (framing, start line).
var tortureReject = sipcorpus.Pick("dblreq", "badvers", "bigcode", "clerr", "lwsruri",
	"lwsstart", "mcl01", "ncl", "trws")
