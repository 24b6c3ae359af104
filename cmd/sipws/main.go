// Command sipws is the one binary of sipws: `sipws controller|edge|router|local|version`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipws/sipws/edge/certgen"
	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/gctune"
	"github.com/sipws/sipws/edge/natsembed"
	"github.com/sipws/sipws/edge/router"
	"github.com/sipws/sipws/edge/server"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sipws: SIP over WebSocket ingress relaying SIP over NATS.

Usage:
  sipws edge   --config FILE    run the WebSocket edge (connects to the NATS in the config)
  sipws router --config FILE    run the SIP router (NATS <-> upstream SIP servers)
  sipws local  [--config FILE] [--upstream URI]
                                edge + router + embedded NATS in one process
                                (default config/local/sipws.yaml; --upstream routes every
                                request to one SIP server, e.g. sip:127.0.0.1:5060)
  sipws controller [flags]      run the Kubernetes controller (SipWebSocketGateway ->
                                Deployments, Services, HPAs, PDBs, ConfigMap, Secrets;
                                docs/controller.md; --help lists the flags)
  sipws version                 print the version

Common flags: --log-level debug|info|warn|error, --log-format text|json
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "edge":
		err = runEdge(args, false)
	case "local":
		err = runEdge(args, true)
	case "router":
		err = runRouter(args)
	case "controller":
		err = runController(args)
	case "version", "--version", "-v":
		fmt.Println("sipws", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sipws: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipws:", err)
		os.Exit(1)
	}
}

func runEdge(args []string, local bool) error {
	name := "edge"
	defConfig := ""
	if local {
		name, defConfig = "local", "config/local/sipws.yaml"
	}
	fs, common := newFlags(name, defConfig)
	natsAddr := fs.String("nats-listen", "127.0.0.1:0", "local mode: address of the embedded NATS server")
	natsInProcess := fs.Bool("nats-in-process", true, "local mode: edge and router reach the embedded NATS server in memory, not over loopback TCP (other clients still use --nats-listen)")
	upstreamURI := fs.String("upstream", "", "local mode: send every client request to this SIP URI (e.g. sip:127.0.0.1:5060) instead of the config's routes (the built-in registrar)")
	natsStore := fs.String("nats-store", "", "local mode: JetStream storage directory of the embedded NATS (registrar bindings; default: a temporary directory removed on exit)")
	log, cfg, err := common.parse(fs, args)
	if err != nil {
		return err
	}
	cfgPath := &common.config
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var natsOpts []nats.Option
	if local {
		if err := ensureLocalCerts(cfg); err != nil {
			return err
		}
		jsDir := *natsStore
		if jsDir == "" {
			if jsDir, err = os.MkdirTemp("", "sipws-nats-"); err != nil {
				return fmt.Errorf("JetStream directory: %w", err)
			}
			defer os.RemoveAll(jsDir)
		}
		ns, err := natsembed.Start(natsembed.Options{Address: *natsAddr, Name: "sipws-local", JetStreamDir: jsDir})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		cfg.NATS.URL = ns.ClientURL()
		if *natsInProcess {
			natsOpts = append(natsOpts, nats.InProcessServer(ns))
		}
		log.Info("embedded NATS started", "url", cfg.NATS.URL)
		if *upstreamURI != "" {
			cfg.Router.Routes = []config.Route{{Name: "upstream", Upstream: config.Upstream{Targets: []config.Target{{URI: *upstreamURI}}}}}
			cfg.Router.Default()
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("--upstream: %w", err)
			}
		}
	}
	keys, err := loadKeys(cfg, local)
	if err != nil {
		return err
	}

	srv, err := server.New(cfg, server.Options{Logger: log, Keys: keys, NATSOptions: natsOpts})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	var rt *router.Router
	if local {
		rt, err = router.New(cfg, router.Options{Logger: log, Keys: keys, Registry: srv.Registry(), NATSOptions: natsOpts})
		if err != nil {
			return err
		}
		if err := rt.Start(ctx); err != nil {
			return err
		}
		defer rt.Close()
	}
	log.Info("sipws ready", "version", version, "mode", name, "node", srv.Node())
	go config.Watch(ctx, *cfgPath, 0, func(next *config.Config) error {
		if local {
			next.NATS.URL = cfg.NATS.URL
		}
		if local && *upstreamURI != "" {
			next.Router.Routes = cfg.Router.Routes
		}
		if err := srv.Reload(next); errors.Is(err, server.ErrRestartRequired) {
			// In force but for start-up fields: say so, and do not try the file again.
			log.Warn("configuration reloaded", "err", err)
		} else if err != nil {
			return fmt.Errorf("edge reload: %w", err)
		}
		if rt != nil {
			if err := rt.Reload(next); err != nil {
				return fmt.Errorf("router reload: %w", err)
			}
		}
		log.Info("configuration reloaded")
		return nil
	}, func(err error) {
		log.Error("configuration rejected; keeping the running one", "err", err)
	})

	<-ctx.Done()
	stop() // a second signal kills the process the default way
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout.Duration+10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// loadKeys reads the flow-token key ring; local mode without a file gets a random key shared
// by its edge and router.
func loadKeys(cfg *config.Config, local bool) (*flow.Keyring, error) {
	if cfg.FlowToken.KeysFile != "" {
		k, err := flow.LoadKeyring(cfg.FlowToken.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("flow token keys: %w", err)
		}
		return k, nil
	}
	if !local {
		slog.Warn("flowToken.keysFile is not set: using a random key; tokens will not verify on other pods")
	}
	return flow.RandomKeyring(), nil
}

// runRouter runs `sipws router`: the SIP side, with its own admin endpoint.
func runRouter(args []string) error {
	fs, common := newFlags("router", "")
	log, cfg, err := common.parse(fs, args)
	if err != nil {
		return err
	}
	cfgPath := &common.config
	if cfg.FlowToken.KeysFile == "" {
		return errors.New("flowToken.keysFile is required: the router must verify the edges' flow tokens")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rt, err := router.New(cfg, router.Options{Logger: log, Registry: reg})
	if err != nil {
		return err
	}
	if err := rt.Start(ctx); err != nil {
		return err
	}
	if cfg.Admin.Enabled() {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !rt.Ready() {
				http.Error(w, "NATS not connected", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		hs := &http.Server{Addr: cfg.Admin.Address, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin endpoint", "err", err)
			}
		}()
		defer hs.Close()
	}
	log.Info("sipws router ready", "version", version, "advertise", rt.Advertise())
	go config.Watch(ctx, *cfgPath, 0, func(next *config.Config) error {
		if err := rt.Reload(next); err != nil {
			return fmt.Errorf("router reload: %w", err)
		}
		log.Info("configuration reloaded")
		return nil
	}, func(err error) {
		log.Error("configuration rejected; keeping the running one", "err", err)
	})
	<-ctx.Done()
	log.Info("shutting down")
	return rt.Close()
}

// ensureLocalCerts creates the self-signed certificate local mode's WSS listener points at,
// when it is missing.
func ensureLocalCerts(cfg *config.Config) error {
	for _, l := range cfg.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, c := range l.TLS.Certificates {
			if _, err := os.Stat(c.CertFile); err == nil {
				continue
			}
			dir := filepath.Dir(c.CertFile)
			cert, key, err := certgen.EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1", "::1"})
			if err != nil {
				return fmt.Errorf("self-signed certificate: %w", err)
			}
			if cert != c.CertFile || key != c.KeyFile {
				return fmt.Errorf("local certificate is written to %s and %s; point listener %s at them", cert, key, l.Name)
			}
			slog.Info("generated a self-signed certificate", "cert", cert)
		}
	}
	return nil
}

// commonFlags are the flags every command that runs something takes.
type commonFlags struct {
	config, logLevel, logFormat string
	gcMinHeapMiB                uint64
	memoryLimitRatio            float64
}

func newFlags(name, defConfig string) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &commonFlags{}
	fs.StringVar(&c.config, "config", defConfig, "configuration file (YAML)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	// The edge keeps Go's default GC: its memory is its flows, and a heap floor would hold up
	// to the floor in garbage, which is KiBs per flow at tens of thousands of flows. The
	// router (and local mode) holds transactions, not flows, and trades the floor for fewer
	// collections on the relay path.
	gcFloor := uint64(32)
	if name == "edge" {
		gcFloor = 0
	}
	fs.Uint64Var(&c.gcMinHeapMiB, "gc-min-heap-mib", gcFloor, "raise GOGC while the live heap is under half this many MiB, so a small heap is not collected many times a second (default 32 for router and local, 0 (off) for edge; GOGC in the environment wins)")
	fs.Float64Var(&c.memoryLimitRatio, "memory-limit-ratio", 0.9, memoryLimitRatioUsage)
	return fs, c
}

const memoryLimitRatioUsage = "set Go's soft memory limit to this share of the container's (cgroup's) memory limit, so the GC works harder near it instead of the process being killed; 0 turns it off; GOMEMLIMIT in the environment wins"

// limitMemory applies --memory-limit-ratio; only a bad ratio is an error, a machine without
// readable cgroup files runs without a soft limit.
func limitMemory(log *slog.Logger, ratio float64) error {
	switch ml, err := gctune.LimitMemory(ratio); {
	case errors.Is(err, gctune.ErrRatio):
		return fmt.Errorf("--memory-limit-ratio: %w", err)
	case err != nil:
		log.Warn("no soft memory limit: the container's memory limit could not be read", "err", err)
	case ml.Cgroup > 0:
		log.Info("soft memory limit from the container's", "limit_mib", ml.Soft>>20, "container_mib", ml.Cgroup>>20, "from", ml.Source)
	}
	return nil
}

// parse parses args, installs the logger and loads the configuration.
func (c *commonFlags) parse(fs *flag.FlagSet, args []string) (*slog.Logger, *config.Config, error) {
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return nil, nil, err
	}
	slog.SetDefault(log)
	if t := gctune.Start(c.gcMinHeapMiB << 20); t != nil {
		log.Debug("GC heap floor", "mib", c.gcMinHeapMiB, "gogc", t.Percent())
	}
	if err := limitMemory(log, c.memoryLimitRatio); err != nil {
		return nil, nil, err
	}
	if c.config == "" {
		return nil, nil, errors.New("--config is required")
	}
	cfg, err := config.Load(c.config)
	if err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}
