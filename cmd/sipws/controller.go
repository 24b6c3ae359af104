package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sipws/sipws/controllers"
)

// defaultImage is the image of this very build; the chart passes its own.
func defaultImage() string {
	v := version
	if v == "dev" || v == "" {
		v = "latest"
	}
	return "ghcr.io/sipws/sipws:" + v
}

// runController runs `sipws controller`: reconciles SipWebSocketGateways into Deployments,
// Services, HPAs, PDBs, a ConfigMap and Secrets.
func runController(args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of /metrics (\"0\" disables)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so only one replica reconciles")
	leaderID := fs.String("leader-election-id", "sipws-controller.sipws.io", "name of the leader election Lease")
	leaderNS := fs.String("leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace)")
	namespace := fs.String("namespace", "", "only watch gateways (and their Secrets) in this namespace; empty: all namespaces")
	edgeImage := fs.String("edge-image", defaultImage(), "image of the edge pods")
	routerImage := fs.String("router-image", defaultImage(), "image of the router pods")
	edgeRes := fs.String("edge-resources", "requests.cpu=100m,requests.memory=128Mi", "default edge resources when a gateway sets none: comma-separated requests.cpu=, requests.memory=, limits.cpu=, limits.memory=")
	routerRes := fs.String("router-resources", "requests.cpu=100m,requests.memory=128Mi", "default router resources when a gateway sets none (same form as --edge-resources)")
	clusterDomain := fs.String("cluster-domain", "cluster.local", "DNS domain of the cluster, for Service upstreams")
	flowsInterval := fs.Duration("flows-interval", 30*time.Second, "how often status.flows is read from the edge pods' /metrics (port 9090); 0 or negative: never")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	memRatio := fs.Float64("memory-limit-ratio", 0.9, memoryLimitRatioUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	lg, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	slog.SetDefault(lg)
	log.SetLogger(logr.FromSlogHandler(lg.Handler()))
	if err := limitMemory(lg, *memRatio); err != nil {
		return err
	}

	opts := controllers.Options{
		EdgeImage:     *edgeImage,
		RouterImage:   *routerImage,
		ClusterDomain: *clusterDomain,
		FlowsInterval: *flowsInterval,
	}
	if opts.FlowsInterval == 0 {
		opts.FlowsInterval = -1 // Options reads 0 as the default
	}
	if opts.EdgeResources, err = parseResources(*edgeRes); err != nil {
		return fmt.Errorf("--edge-resources: %w", err)
	}
	if opts.RouterResources, err = parseResources(*routerRes); err != nil {
		return fmt.Errorf("--router-resources: %w", err)
	}
	if opts.EdgeImage == "" || opts.RouterImage == "" {
		return errors.New("--edge-image and --router-image must not be empty")
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	mopts := ctrl.Options{
		Scheme:                  controllers.NewScheme(),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        *leaderID,
		LeaderElectionNamespace: *leaderNS,
		// Stop reconciling at once when leadership is lost; the new leader re-applies everything.
		LeaderElectionReleaseOnCancel: true,
	}
	if *namespace != "" {
		mopts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	if err := controllers.Setup(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	lg.Info("sipws controller starting", "version", version, "namespace", *namespace, "leaderElection", *leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// parseResources reads "requests.cpu=100m,limits.memory=512Mi".
func parseResources(s string) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return r, fmt.Errorf("%q is not key=value", kv)
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil {
			return r, fmt.Errorf("%s: %w", k, err)
		}
		kind, name, _ := strings.Cut(strings.TrimSpace(k), ".")
		if name != "cpu" && name != "memory" {
			return r, fmt.Errorf("%q: resource must be cpu or memory", k)
		}
		switch kind {
		case "requests":
			if r.Requests == nil {
				r.Requests = corev1.ResourceList{}
			}
			r.Requests[corev1.ResourceName(name)] = q
		case "limits":
			if r.Limits == nil {
				r.Limits = corev1.ResourceList{}
			}
			r.Limits[corev1.ResourceName(name)] = q
		default:
			return r, fmt.Errorf("%q must start with requests. or limits.", k)
		}
	}
	return r, nil
}
