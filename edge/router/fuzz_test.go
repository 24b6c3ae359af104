package router

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/sipcorpus"
	"github.com/sipws/sipws/edge/siptransport"
)

// fuzzRouter is a started router with a NATS connection, one TCP upstream that reads and
// discards (no UDP retransmission storms), and a UDP sink for what it answers upstream.
type fuzzEnv struct {
	r     *Router
	token string
	sink  *net.UDPConn
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	ns := startNATS(f)
	keys := flow.RandomKeyring()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	f.Cleanup(func() { ln.Close() })
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	f.Cleanup(func() { sink.Close() })
	cfg := baseConfig(ns.ClientURL(), []string{"sip:" + ln.Addr().String() + ";transport=tcp"}, func(c *config.Config) {
		// A short transaction life keeps the tables small while fuzzing.
		c.Router.Timers = config.Timers{T1: config.D(20 * time.Millisecond), T2: config.D(40 * time.Millisecond), Failover: config.D(100 * time.Millisecond)}
	})
	r := startRouter(f, cfg, keys, prometheus.NewRegistry())
	tok, err := keys.Encode(flow.Flow{Node: testNode, Serial: 1})
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzEnv{r: r, token: tok, sink: sink}
}

func (e *fuzzEnv) sinkAddr() netip.AddrPort { return e.sink.LocalAddr().(*net.UDPAddr).AddrPort() }

// fuzzSeeds are the golden inputs (placeholders filled) and the RFC 4475 messages.
func fuzzSeeds(f *testing.F, token string, uport int) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.in.sip"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden inputs: %v", err)
	}
	var seeds [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "\r\n", "\n")
		s = strings.ReplaceAll(s, "UPBRANCH", branchPrefix+token+".abc")
		s = strings.ReplaceAll(s, "CLBRANCH", branchPrefix+token+".def")
		s = strings.ReplaceAll(s, "TOKEN", token)
		s = strings.ReplaceAll(s, "UPORT", strconv.Itoa(uport))
		seeds = append(seeds, crlf(s))
	}
	for _, tc := range sipcorpus.Valid {
		seeds = append(seeds, []byte(tc.Text))
	}
	for _, msg := range sipcorpus.Invalid {
		seeds = append(seeds, []byte(msg))
	}
	return append(seeds, []byte("\r\n\r\n"), []byte(""), []byte("SIP/2.0 200 OK\r\n\r\n"))
}

// FuzzFromClient feeds arbitrary client messages to the router's client handling.
func FuzzFromClient(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range fuzzSeeds(f, e.token, int(e.sinkAddr().Port())) {
		f.Add(s)
	}
	hdr := clientMsg(e.token, nil).Header
	f.Fuzz(func(t *testing.T, data []byte) {
		// The router keeps parsed messages (retransmission, failover): give it its own copy,
		// as a NATS message owns its payload.
		e.r.fromClient(&nats.Msg{Subject: testSubj.In(e.token), Header: hdr, Data: bytes.Clone(data)})
	})
}

// FuzzFromUpstream feeds arbitrary packets to the router's upstream handling.
func FuzzFromUpstream(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range fuzzSeeds(f, e.token, int(e.sinkAddr().Port())) {
		f.Add(s, false)
	}
	local := e.r.LocalAddr("udp")
	f.Fuzz(func(t *testing.T, data []byte, stream bool) {
		p := siptransport.Packet{Data: bytes.Clone(data), Transport: "udp", Source: e.sinkAddr(), Local: local}
		if stream {
			p.Transport = "tcp" // as if on a connection: answers go nowhere (no such connection)
		}
		e.r.fromUpstream(p)
	})
}
