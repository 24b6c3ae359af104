package controllers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/controllers/render"
)

// flowsPoller fills status.flows: every interval it reads sipws_edge_flows from the /metrics of
// each ready edge pod and patches the sum when it changed. It runs apart from the reconciler so
// slow or unreachable pods never delay a reconcile, and it writes only status.flows (a merge
// patch of that one field), which the reconciler never writes.
type flowsPoller struct {
	client   client.Client
	reader   client.Reader // pods are read around the cache: caching every pod would cost more
	interval time.Duration
	port     int // the pods' admin port (render.AdminPort; tests point it elsewhere)
	http     *http.Client
	log      *slog.Logger
}

// maxScrapeBytes bounds what is read from one pod's /metrics.
const maxScrapeBytes = 4 << 20

func newFlowsPoller(c client.Client, r client.Reader, interval time.Duration, log *slog.Logger) *flowsPoller {
	return &flowsPoller{
		client: c, reader: r, interval: interval, port: render.AdminPort, log: log,
		http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     2 * time.Minute,
		}},
	}
}

// Start runs until ctx is done; the manager starts it only on the leader.
func (p *flowsPoller) Start(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.pollAll(ctx)
		}
	}
}

// NeedLeaderElection: only the leader writes status.
func (p *flowsPoller) NeedLeaderElection() bool { return true }

func (p *flowsPoller) pollAll(ctx context.Context) {
	var list v1.SipWebSocketGatewayList
	if err := p.client.List(ctx, &list); err != nil {
		p.log.Warn("flows: list gateways", "err", err)
		return
	}
	for i := range list.Items {
		if err := p.poll(ctx, &list.Items[i]); err != nil && ctx.Err() == nil {
			p.log.Warn("flows: update status", "gateway", list.Items[i].Namespace+"/"+list.Items[i].Name, "err", err)
		}
	}
}

// poll scrapes one gateway's ready edge pods and patches status.flows when it changed. When no
// pod answers, the stored value is left alone rather than reported as 0.
func (p *flowsPoller) poll(ctx context.Context, gw *v1.SipWebSocketGateway) error {
	var pods corev1.PodList
	if err := p.reader.List(ctx, &pods, client.InNamespace(gw.Namespace), client.MatchingLabels(render.SelectorLabels(gw.Name, render.Edge))); err != nil {
		return fmt.Errorf("list edge pods: %w", err)
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		total    int64
		answered int
	)
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.PodIP == "" || !podReady(pod) {
			continue
		}
		wg.Add(1)
		go func(ip string) {
			defer wg.Done()
			n, err := p.scrape(ctx, ip)
			if err != nil {
				p.log.Debug("flows: scrape", "pod", pod.Name, "err", err)
				return
			}
			mu.Lock()
			total += n
			answered++
			mu.Unlock()
		}(pod.Status.PodIP)
	}
	wg.Wait()
	if answered == 0 || total == gw.Status.Flows {
		return nil
	}
	patch := client.MergeFrom(gw.DeepCopy())
	gw.Status.Flows = total
	return client.IgnoreNotFound(p.client.Status().Patch(ctx, gw, patch))
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// scrape returns the sum of every sipws_edge_flows sample (one per listener) of one pod.
func (p *flowsPoller) scrape(ctx context.Context, ip string) (int64, error) {
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(p.port)) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return sumGauge(io.LimitReader(resp.Body, maxScrapeBytes), "sipws_edge_flows")
}

// sumGauge sums the samples of metric in the Prometheus text format.
func sumGauge(r io.Reader, metric string) (int64, error) {
	var (
		sum   float64
		found bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric with this prefix
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", metric, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no %s in the metrics", metric)
	}
	return int64(sum), nil
}
