//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cluster is a control plane of separate processes on loopback, every one logging to a file
// in dir. Everything is torn down by stop (registered with t.Cleanup by startCluster).
type cluster struct {
	t          *testing.T
	binDir     string // etcd, kube-apiserver, kube-controller-manager, kube-scheduler
	kwokDir    string // kwok and stages/
	dir        string // certificates, kubeconfig, etcd data, logs
	apiURL     string
	kubeconfig string

	mu    sync.Mutex
	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	// stopped: ended on purpose by stopProc, not a crash.
	stopped atomic.Bool
}

// startCluster starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// and waits until the API server is ready.
func startCluster(ctx context.Context, t *testing.T, binDir, kwokDir string) *cluster {
	t.Helper()
	c := &cluster{t: t, binDir: binDir, kwokDir: kwokDir, dir: t.TempDir()}
	t.Cleanup(c.stop)
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Fatalf("%s missing in %s: run make e2e (it builds the control plane with hack/k8s/build-bins.sh)", b, binDir)
		}
	}
	if _, err := os.Stat(filepath.Join(kwokDir, "kwok")); err != nil {
		t.Fatalf("kwok missing in %s: run hack/e2e/tools.sh kwok (make kwok)", kwokDir)
	}
	c.writeCerts()

	etcdClient, etcdPeer := freePort(t), freePort(t)
	c.start(ctx, "etcd", filepath.Join(binDir, "etcd"),
		"--name=e2e",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:"+etcdClient,
		"--advertise-client-urls=http://127.0.0.1:"+etcdClient,
		"--listen-peer-urls=http://127.0.0.1:"+etcdPeer,
		"--initial-advertise-peer-urls=http://127.0.0.1:"+etcdPeer,
		"--initial-cluster=e2e=http://127.0.0.1:"+etcdPeer,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=1073741824",
	)

	apiPort := freePort(t)
	c.apiURL = "https://127.0.0.1:" + apiPort
	c.start(ctx, "kube-apiserver", filepath.Join(binDir, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:"+etcdClient,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The "kubernetes" Service endpoints cannot point at loopback; nothing here uses them.
		"--endpoint-reconciler-type=none",
		"--secure-port="+apiPort,
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"),
		"--tls-cert-file="+c.path("apiserver.crt"),
		"--tls-private-key-file="+c.path("apiserver.key"),
		"--client-ca-file="+c.path("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.path("sa.pub"),
		"--service-account-signing-key-file="+c.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	c.kubeconfig = c.path("admin.kubeconfig")
	c.writeKubeconfig(c.kubeconfig, "admin")
	c.waitReady(ctx, c.apiURL+"/readyz", 90*time.Second)

	kcmPort, schedPort := freePort(t), freePort(t)
	c.start(ctx, "kube-controller-manager", filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig,
		"--authorization-kubeconfig="+c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+kcmPort,
		"--leader-elect=false",
		"--authentication-skip-lookup=true",
		// What a gateway needs: Deployments -> ReplicaSets -> Pods, owner-reference garbage
		// collection, HPAs, PDB status, default ServiceAccounts, namespace deletion, and node
		// lifecycle, which lifts the not-ready taint new nodes get once kwok reports them Ready.
		"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,"+
			"horizontal-pod-autoscaler-controller,disruption-controller,serviceaccount-controller,"+
			"namespace-controller,endpointslice-controller,root-ca-certificate-publisher-controller,"+
			"service-cidr-controller,node-lifecycle-controller",
		// kwok's heartbeat comes every 20-45 s; on a loaded machine the default 50 s grace
		// would flap the nodes NotReady.
		"--node-monitor-grace-period=3m",
		"--root-ca-file="+c.path("ca.crt"),
		"--service-account-private-key-file="+c.path("sa.key"),
		"--horizontal-pod-autoscaler-sync-period=5s",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		"--concurrent-gc-syncs=20",
	)
	c.start(ctx, "kube-scheduler", filepath.Join(binDir, "kube-scheduler"),
		"--kubeconfig="+c.kubeconfig,
		"--authentication-kubeconfig="+c.kubeconfig,
		"--authorization-kubeconfig="+c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+schedPort,
		"--leader-elect=false",
		"--authentication-skip-lookup=true",
	)
	// kwok plays the kubelet of every node annotated kwok.x-k8s.io/node=fake: nodes Ready with
	// a heartbeat, pods Running and Ready as soon as they are bound, deleted pods removed.
	args := []string{
		"--kubeconfig=" + c.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.2",
		"--node-port=" + freePort(t),
		"--server-address=127.0.0.1:" + freePort(t),
		"--node-lease-duration-seconds=0",
	}
	stages, err := filepath.Glob(filepath.Join(kwokDir, "stages", "*.yaml"))
	if err != nil || len(stages) == 0 {
		t.Fatalf("no kwok stages in %s/stages: rebuild with hack/e2e/tools.sh kwok", kwokDir)
	}
	args = append(args, "--config="+strings.Join(stages, ","))
	c.start(ctx, "kwok", filepath.Join(kwokDir, "kwok"), args...)
	return c
}

func (c *cluster) path(name string) string { return filepath.Join(c.dir, name) }

// start runs a process with its output in dir/<name>.log. A process that exits before stop is
// reported by checkAlive.
func (c *cluster) start(ctx context.Context, name, bin string, args ...string) *proc {
	c.t.Helper()
	return c.startWith(ctx, name, bin, []string{"KUBECONFIG=" + c.kubeconfig}, args...)
}

// startWith is start with extra environment variables.
func (c *cluster) startWith(ctx context.Context, name, bin string, env []string, args ...string) *proc {
	c.t.Helper()
	p := &proc{name: name, log: c.path(name + ".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	c.t.Logf("started %s (pid %d), log %s", name, p.cmd.Process.Pid, p.log)
	return p
}

// checkAlive fails the test when a component exited on its own.
func (c *cluster) checkAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.stopped.Load() {
			continue
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v (log %s):\n%s", p.name, p.err, p.log, tail(p.log, 10))
		default:
		}
	}
	return nil
}

// stopProc sends SIGTERM to one process and waits up to 15 s before SIGKILL.
func stopProc(p *proc) {
	p.stopped.Store(true)
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// stop stops the processes in reverse start order; when the test failed (or
// SIPWS_E2E_KEEP_LOGS is set) the logs are then copied to $SIPWS_E2E_LOGS (default
// bin/e2e-logs)/<time>.
func (c *cluster) stop() {
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		stopProc(procs[i])
	}
	if !c.t.Failed() && os.Getenv("SIPWS_E2E_KEEP_LOGS") == "" {
		return
	}
	dest := os.Getenv("SIPWS_E2E_LOGS")
	if dest == "" {
		dest = filepath.Join("..", "..", "bin", "e2e-logs")
	}
	dest = filepath.Join(dest, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dest, 0o755); err != nil {
		c.t.Logf("saving logs: %v", err)
		return
	}
	logs, _ := filepath.Glob(c.path("*.log"))
	for _, l := range logs {
		if err := copyFile(l, filepath.Join(dest, filepath.Base(l))); err != nil {
			c.t.Logf("saving %s: %v", l, err)
		}
		c.t.Logf("--- last lines of %s:\n%s", filepath.Base(l), tail(l, 15))
	}
	abs, _ := filepath.Abs(dest)
	c.t.Logf("logs saved in %s", abs)
}

// waitReady polls an API server health URL with the admin certificate.
func (c *cluster) waitReady(ctx context.Context, url string, limit time.Duration) {
	c.t.Helper()
	hc := c.httpClient()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		if err := c.checkAlive(); err != nil {
			c.t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting for %s: %v", url, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	c.t.Fatalf("%s not ready after %s: %s", url, limit, last)
}

func (c *cluster) httpClient() *http.Client {
	cert, err := tls.LoadX509KeyPair(c.path("admin.crt"), c.path("admin.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(c.path("ca.crt"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
}

// writeCerts writes a CA, the API server's serving certificate, an admin client certificate
// (group system:masters, used by every component and the test) and the service-account key.
func (c *cluster) writeCerts() {
	c.t.Helper()
	caKey := newKey(c.t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sipws-e2e-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		c.t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	c.writePEM("ca.crt", "CERTIFICATE", caDER)

	issue := func(name string, serial int64, tmpl *x509.Certificate) {
		key := newKey(c.t)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			c.t.Fatal(err)
		}
		c.writePEM(name+".crt", "CERTIFICATE", der)
		kb, _ := x509.MarshalECPrivateKey(key)
		c.writePEM(name+".key", "EC PRIVATE KEY", kb)
	}
	issue("apiserver", 2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	issue("admin", 3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "sipws-e2e-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writePEM("sa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey))
	pub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	c.writePEM("sa.pub", "PUBLIC KEY", pub)
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (c *cluster) writePEM(name, typ string, der []byte) {
	if err := os.WriteFile(c.path(name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// writeKubeconfig writes a kubeconfig for the admin certificate.
func (c *cluster) writeKubeconfig(path, user string) {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, c.apiURL, c.path("ca.crt"), user, c.path(user+".crt"), c.path(user+".key"), user)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
