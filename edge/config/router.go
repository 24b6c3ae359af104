package config

import (
	"fmt"
	"net"
	"path"
	"strings"
	"time"
)

// Router configures the SIP side: `sipws router`, and the router inside local mode.
type Router struct {
	// Listen are the addresses upstream servers reach the router on (default UDP and TCP on
	// 0.0.0.0:5070; local mode 127.0.0.1:5070). The UDP socket is also the one requests leave
	// from, so upstream responses come back to it.
	Listen RouterListen `json:"listen,omitempty"`
	// Advertise is host[:port] written into Via, Path and Record-Route: the address upstreams
	// use to reach this router (default: $POD_IP or the UDP listen address).
	Advertise string `json:"advertise,omitempty"`
	// Routes are tried in order; the first that matches a client's request picks its upstream.
	Routes []Route `json:"routes,omitempty"`
	// AnswerOptions answers OPTIONS addressed to the gateway itself with 200 (default true).
	AnswerOptions *bool `json:"answerOptions,omitempty"`
	// Timers are the RFC 3261 §17 timers of transactions over UDP.
	Timers Timers `json:"timers,omitempty"`
	// MaxTransactions bounds the transactions one router keeps, client and upstream side each
	// (default 50000; about 4 KiB each, so both sides full take some 400 MiB). Beyond it a new
	// request is answered 503 with Retry-After instead of being relayed: a dead UDP upstream at
	// a high rate keeps every request for 64×T1, which would otherwise grow without bound.
	MaxTransactions int `json:"maxTransactions,omitempty"`
}

// RouterListen are the router's SIP listening addresses; empty disables a transport.
type RouterListen struct {
	UDP string `json:"udp,omitempty"`
	TCP string `json:"tcp,omitempty"`
	TLS string `json:"tls,omitempty"`
	// CertFile and KeyFile serve the TLS listener.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
}

// Timers of UDP transactions (RFC 3261 §17.1.1.1, §17.1.2.2).
type Timers struct {
	// T1 is the RTT estimate (default 500ms); retransmissions start at T1 and double.
	T1 Duration `json:"t1,omitempty"`
	// T2 caps the non-INVITE retransmission interval (default 4s).
	T2 Duration `json:"t2,omitempty"`
	// Failover is how long a request waits for any response from one target before the next
	// target is tried (default 2s); the transaction itself ends after 64×T1.
	Failover Duration `json:"failover,omitempty"`
}

// Route sends matching client requests to an upstream.
type Route struct {
	// Name identifies the route in metrics and logs.
	Name string `json:"name"`
	// Match selects requests; every field given must match (empty matches everything).
	Match RouteMatch `json:"match,omitempty"`
	// Upstream is where matching requests go.
	Upstream Upstream `json:"upstream"`
	// FlowRouting is how upstream requests find the client again: "path" (default; RFC 3327
	// Path on REGISTER, Record-Route on dialogs) or "contactAlias" (the Contact is rewritten to
	// an address of the router carrying the flow token, for registrars without Path support).
	FlowRouting string `json:"flowRouting,omitempty"`
}

// RouteMatch selects requests by their Request-URI, method and listener.
type RouteMatch struct {
	// Domains match the Request-URI host (exact, or "*.example.com" for subdomains).
	Domains []string `json:"domains,omitempty"`
	// Users are glob patterns (path.Match syntax) on the Request-URI user part.
	Users []string `json:"users,omitempty"`
	// Methods are SIP methods (upper case).
	Methods []string `json:"methods,omitempty"`
	// Listeners are edge listener names the flow came in on.
	Listeners []string `json:"listeners,omitempty"`
}

// Upstream is exactly one of: SIP server targets, a NATS subject, or the built-in registrar.
type Upstream struct {
	// Targets are SIP URIs of servers ("sip:pbx.voice.svc:5060;transport=udp"), with weights.
	Targets []Target `json:"targets,omitempty"`
	// NATSSubject publishes requests to this subject instead (applications speaking SIP over NATS).
	NATSSubject string `json:"natsSubject,omitempty"`
	// Registrar makes the router itself the registrar and proxy of matching requests, with
	// bindings in a NATS JetStream key-value bucket (docs/registrar.md).
	Registrar *Registrar `json:"registrar,omitempty"`
	// Balance is callID (default: a dialog stays on one server, and a CANCEL or ACK handled
	// by another router replica lands on the INVITE's server), roundRobin, weighted, or aor
	// (a user's REGISTER and calls land on one server).
	Balance string `json:"balance,omitempty"`
	// HealthCheck probes targets with OPTIONS.
	HealthCheck HealthCheck `json:"healthCheck,omitempty"`
}

// Registrar is the built-in registrar (RFC 3261 §10) and forking proxy.
type Registrar struct {
	// Bucket is the JetStream key-value bucket of bindings (default "sipws-<gateway>-bindings").
	Bucket string `json:"bucket,omitempty"`
	// Replicas of the bucket in a clustered NATS (default 1).
	Replicas int `json:"replicas,omitempty"`
	// MinExpires: shorter registrations get 423 Interval Too Brief (default 60s).
	MinExpires Duration `json:"minExpires,omitempty"`
	// MaxExpires: longer registrations are shortened (default 1h).
	MaxExpires Duration `json:"maxExpires,omitempty"`
	// DefaultExpires applies when a REGISTER gives none (default 1h, at most maxExpires).
	DefaultExpires Duration `json:"defaultExpires,omitempty"`
	// Auth turns digest authentication on (default off).
	Auth *RegistrarAuth `json:"auth,omitempty"`
}

// RegistrarAuth is digest authentication (RFC 2617, RFC 7616) against a users file.
type RegistrarAuth struct {
	// Realm of the challenges.
	Realm string `json:"realm"`
	// UsersFile is YAML `users: {name: password}` (a mounted Secret works the same way).
	UsersFile string `json:"usersFile"`
	// Algorithms offered, in order: MD5, SHA-256 (default both, MD5 first for JsSIP).
	Algorithms []string `json:"algorithms,omitempty"`
	// Requests also challenges out-of-dialog requests other than REGISTER with 407.
	Requests bool `json:"requests,omitempty"`
}

// Target is one upstream SIP server.
type Target struct {
	URI    string `json:"uri"`
	Weight int    `json:"weight,omitempty"` // default 1
}

// HealthCheck probes each target with OPTIONS; any response counts as alive.
type HealthCheck struct {
	// Interval between probes (default 5s; 0 with Disabled turns probes off).
	Interval Duration `json:"interval,omitempty"`
	// Timeout of one probe (default 2s).
	Timeout Duration `json:"timeout,omitempty"`
	// UpAfter successes in a row mark a down target up (default 2).
	UpAfter int `json:"upAfter,omitempty"`
	// DownAfter failures in a row mark a target down (default 3).
	DownAfter int `json:"downAfter,omitempty"`
	// Disabled turns probing off: every target counts as up unless requests to it fail.
	Disabled bool `json:"disabled,omitempty"`
}

// Balance policies.
const (
	BalanceRoundRobin = "roundRobin"
	BalanceWeighted   = "weighted"
	BalanceCallID     = "callID"
	BalanceAOR        = "aor"
)

// Flow routing modes.
const (
	FlowRoutingPath         = "path"
	FlowRoutingContactAlias = "contactAlias"
)

// Router defaults.
const (
	DefaultRouterUDP       = "0.0.0.0:5070"
	DefaultRouterTCP       = "0.0.0.0:5070"
	DefaultT1              = 500 * time.Millisecond
	DefaultT2              = 4 * time.Second
	DefaultFailover        = 2 * time.Second
	DefaultProbeInterval   = 5 * time.Second
	DefaultProbeTimeout    = 2 * time.Second
	DefaultProbeUpAfter    = 2
	DefaultProbeDownAfter  = 3
	DefaultMaxTransactions = 50000
)

// Default fills the router's zero values.
func (r *Router) Default() {
	if r.Listen == (RouterListen{}) {
		r.Listen.UDP, r.Listen.TCP = DefaultRouterUDP, DefaultRouterTCP
	}
	if r.AnswerOptions == nil {
		t := true
		r.AnswerOptions = &t
	}
	if r.Timers.T1.Duration == 0 {
		r.Timers.T1.Duration = DefaultT1
	}
	if r.Timers.T2.Duration == 0 {
		r.Timers.T2.Duration = DefaultT2
	}
	if r.Timers.Failover.Duration == 0 {
		r.Timers.Failover.Duration = DefaultFailover
	}
	if r.MaxTransactions == 0 {
		r.MaxTransactions = DefaultMaxTransactions
	}
	for i := range r.Routes {
		rt := &r.Routes[i]
		if rt.FlowRouting == "" {
			rt.FlowRouting = FlowRoutingPath
		}
		u := &rt.Upstream
		if g := u.Registrar; g != nil {
			if g.MinExpires.Duration == 0 {
				g.MinExpires.Duration = time.Minute
			}
			if g.MaxExpires.Duration == 0 {
				g.MaxExpires.Duration = time.Hour
			}
			if g.DefaultExpires.Duration == 0 {
				g.DefaultExpires.Duration = min(time.Hour, g.MaxExpires.Duration)
			}
			if g.Replicas == 0 {
				g.Replicas = 1
			}
			// Nothing to probe or balance.
			u.HealthCheck.Disabled = true
		}
		if u.Balance == "" {
			u.Balance = BalanceCallID
		}
		for j := range u.Targets {
			if u.Targets[j].Weight == 0 {
				u.Targets[j].Weight = 1
			}
		}
		h := &u.HealthCheck
		if h.Interval.Duration == 0 {
			h.Interval.Duration = DefaultProbeInterval
		}
		if h.Timeout.Duration == 0 {
			h.Timeout.Duration = DefaultProbeTimeout
		}
		if h.UpAfter == 0 {
			h.UpAfter = DefaultProbeUpAfter
		}
		if h.DownAfter == 0 {
			h.DownAfter = DefaultProbeDownAfter
		}
	}
}

// validate checks the router section; problems are added to p.
func (r *Router) validate(p *problems) {
	for name, a := range map[string]string{"udp": r.Listen.UDP, "tcp": r.Listen.TCP, "tls": r.Listen.TLS} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.add("router.listen."+name, "%q is not host:port: %v", a, err)
		}
	}
	if r.Listen.TLS != "" && (r.Listen.CertFile == "" || r.Listen.KeyFile == "") {
		p.add("router.listen.tls", "certFile and keyFile are required with a TLS listener")
	}
	if r.MaxTransactions < 0 {
		p.add("router.maxTransactions", "%d must not be negative", r.MaxTransactions)
	}
	if r.Timers.T1.Duration <= 0 || r.Timers.T2.Duration < r.Timers.T1.Duration {
		p.add("router.timers", "t1 must be positive and t2 at least t1")
	}
	names := map[string]bool{}
	for i := range r.Routes {
		rt := &r.Routes[i]
		f := fmt.Sprintf("router.routes[%d]", i)
		if rt.Name == "" {
			p.add(f+".name", "required")
		} else if names[rt.Name] {
			p.add(f+".name", "%q is not unique", rt.Name)
		}
		names[rt.Name] = true
		switch rt.FlowRouting {
		case FlowRoutingPath, FlowRoutingContactAlias:
		default:
			p.add(f+".flowRouting", "%q must be %s or %s", rt.FlowRouting, FlowRoutingPath, FlowRoutingContactAlias)
		}
		for j, u := range rt.Match.Users {
			if _, err := path.Match(u, ""); err != nil {
				p.add(fmt.Sprintf("%s.match.users[%d]", f, j), "%q is not a valid pattern: %v", u, err)
			}
		}
		for j, m := range rt.Match.Methods {
			if m == "" || strings.ToUpper(m) != m {
				p.add(fmt.Sprintf("%s.match.methods[%d]", f, j), "%q must be an upper-case SIP method", m)
			}
		}
		u := &rt.Upstream
		kinds := 0
		for _, set := range []bool{len(u.Targets) > 0, u.NATSSubject != "", u.Registrar != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			p.add(f+".upstream", "exactly one of targets, natsSubject or registrar is required")
		}
		if g := u.Registrar; g != nil {
			g.validate(p, f+".upstream.registrar")
		}
		for j, t := range u.Targets {
			tf := fmt.Sprintf("%s.upstream.targets[%d]", f, j)
			if !strings.HasPrefix(t.URI, "sip:") && !strings.HasPrefix(t.URI, "sips:") {
				p.add(tf+".uri", "%q must be a sip: or sips: URI", t.URI)
			}
			if t.Weight < 0 {
				p.add(tf+".weight", "must not be negative")
			}
		}
		switch u.Balance {
		case BalanceRoundRobin, BalanceWeighted, BalanceCallID, BalanceAOR:
		default:
			p.add(f+".upstream.balance", "%q must be one of roundRobin, weighted, callID, aor", u.Balance)
		}
		h := u.HealthCheck
		if !h.Disabled && (h.Interval.Duration <= 0 || h.Timeout.Duration <= 0 || h.UpAfter < 1 || h.DownAfter < 1) {
			p.add(f+".upstream.healthCheck", "interval and timeout must be positive, upAfter and downAfter at least 1")
		}
	}
}

func (g *Registrar) validate(p *problems, f string) {
	if g.Bucket != "" && !validBucket(g.Bucket) {
		p.add(f+".bucket", "%q may only hold letters, digits, '-' and '_'", g.Bucket)
	}
	if g.Replicas < 1 || g.Replicas > 5 {
		p.add(f+".replicas", "must be 1..5")
	}
	if g.MinExpires.Duration < time.Second || g.MaxExpires.Duration < g.MinExpires.Duration {
		p.add(f, "minExpires must be at least 1s and maxExpires at least minExpires")
	}
	if g.DefaultExpires.Duration < g.MinExpires.Duration || g.DefaultExpires.Duration > g.MaxExpires.Duration {
		p.add(f+".defaultExpires", "must lie between minExpires and maxExpires")
	}
	if a := g.Auth; a != nil {
		if a.Realm == "" {
			p.add(f+".auth.realm", "required")
		}
		if a.UsersFile == "" {
			p.add(f+".auth.usersFile", "required")
		}
		for i, alg := range a.Algorithms {
			if alg != "MD5" && alg != "SHA-256" {
				p.add(fmt.Sprintf("%s.auth.algorithms[%d]", f, i), "%q must be MD5 or SHA-256", alg)
			}
		}
	}
}

// validBucket: JetStream bucket names are [A-Za-z0-9_-]+.
func validBucket(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// RegistrarBucket is the bucket name of the gateway's bindings.
func (g *Registrar) RegistrarBucket(gateway string) string {
	if g.Bucket != "" {
		return g.Bucket
	}
	return "sipws-" + gateway + "-bindings"
}
