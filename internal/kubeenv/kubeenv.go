// Package kubeenv starts and stops a throwaway Kubernetes control plane for
// end-to-end tests: etcd, kube-apiserver and, optionally,
// kube-controller-manager, all on loopback, from the binaries
// hack/ensure-kube.sh builds from source into .cache/kube/<version>/bin.
// There is no kubelet and no scheduler; Kubelet plays the kubelet's part for
// the pods bound to its node.
//
// One environment takes 2–4 s to start and about 1 s to stop: share one per
// test package (TestMain).
package kubeenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rollgate/rollgate/internal/testenv"
)

// Binaries the environment runs.
func binaries() []string { return []string{"etcd", "kube-apiserver", "kube-controller-manager"} }

// RepoRoot returns the root of the rollgate module, found by walking up
// from the working directory to the go.mod that declares it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/rollgate/rollgate\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubeenv: not inside the rollgate module")
		}
		dir = parent
	}
}

// Version returns the Kubernetes version hack/kube-bins builds.
func Version(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "hack", "kube-bins", "go.mod"))
	if err != nil {
		return "", fmt.Errorf("kubeenv: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "k8s.io/kubernetes" {
			return f[1], nil
		}
	}
	return "", errors.New("kubeenv: hack/kube-bins/go.mod requires no k8s.io/kubernetes")
}

// BinDir returns where the binaries are: $KUBE_BIN_DIR when set, else
// .cache/kube/<version>/bin under the repository root (or under
// $KUBE_CACHE_DIR/<version>/bin). It does not check that they exist.
func BinDir() (string, error) {
	if d := os.Getenv("KUBE_BIN_DIR"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	v, err := Version(root)
	if err != nil {
		return "", err
	}
	cache := os.Getenv("KUBE_CACHE_DIR")
	if cache == "" {
		cache = filepath.Join(root, ".cache", "kube")
	}
	return filepath.Join(cache, v, "bin"), nil
}

// Missing lists the binaries absent from dir.
func Missing(dir string) []string {
	var out []string
	for _, b := range binaries() {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			out = append(out, b)
		}
	}
	return out
}

// Build runs hack/ensure-kube.sh, which builds the missing binaries (about
// 8 minutes cold on 2 cores) and returns their directory.
func Build(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "ensure-kube.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kubeenv: hack/ensure-kube.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Find returns the binaries' directory, building them under CI=true when
// they are missing. Elsewhere a missing binary returns skip, the reason to
// skip the tests that need them (and dir "").
func Find(ctx context.Context) (dir, skip string, err error) {
	dir, err = BinDir()
	if err != nil {
		return "", "", err
	}
	missing := Missing(dir)
	if len(missing) == 0 {
		return dir, "", nil
	}
	if testenv.InCI() {
		dir, err = Build(ctx)
		if err != nil {
			return "", "", err
		}
		if m := Missing(dir); len(m) > 0 {
			return "", "", fmt.Errorf("kubeenv: %s still missing from %s after the build", strings.Join(m, ", "), dir)
		}
		return dir, "", nil
	}
	return "", fmt.Sprintf("control-plane binaries missing from %s: %s (run hack/ensure-kube.sh, ~8 min once, or set CI=true)",
		dir, strings.Join(missing, ", ")), nil
}

// Options configure Start.
type Options struct {
	// ControllerManager starts kube-controller-manager too.
	ControllerManager bool
	// Controllers the controller manager runs (default
	// statefulset-controller).
	Controllers []string
	// Dir holds data, keys and logs (default: a new temporary directory,
	// removed by Stop).
	Dir string
	// ObserveControllerManager, when set, sees every API request of the
	// controller manager: it then reaches the API server through a
	// loopback proxy of the environment (to count its requests).
	ObserveControllerManager func(*http.Request)
}

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file for Config.
	Kubeconfig string
	// Dir holds data, keys and logs.
	Dir string

	ownDir bool
	procs  []*proc
	proxy  *http.Server
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start starts etcd and kube-apiserver (and kube-controller-manager when
// asked) from binDir on free loopback ports and waits until the API server
// is ready. On error everything started is stopped.
func Start(ctx context.Context, binDir string, opts Options) (_ *Env, err error) {
	if m := Missing(binDir); len(m) > 0 {
		return nil, fmt.Errorf("kubeenv: missing from %s: %s", binDir, strings.Join(m, ", "))
	}
	e := &Env{Dir: opts.Dir}
	if e.Dir == "" {
		e.Dir, err = os.MkdirTemp("", "kubeenv-")
		if err != nil {
			return nil, fmt.Errorf("kubeenv: %w", err)
		}
		e.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = e.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	if err := e.start(binDir, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	); err != nil {
		return nil, err
	}

	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(e.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return nil, fmt.Errorf("kubeenv: %w", err)
	}
	saKey := filepath.Join(e.Dir, "sa.key")
	saPub := filepath.Join(e.Dir, "sa.pub")
	if err := writeServiceAccountKeys(saKey, saPub); err != nil {
		return nil, err
	}
	if err := e.start(binDir, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none", // a loopback advertise address is refused otherwise
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(e.Dir, "certs"),
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return nil, err
	}
	host := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	e.Config = &rest.Config{
		Host:            host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             1000,
		Burst:           2000,
	}
	if err := e.waitReady(ctx, host, token); err != nil {
		return nil, err
	}
	e.Client, err = kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, fmt.Errorf("kubeenv: %w", err)
	}
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, []byte(kubeconfig(host, token)), 0o600); err != nil {
		return nil, fmt.Errorf("kubeenv: %w", err)
	}
	if opts.ControllerManager {
		ctrls := opts.Controllers
		if len(ctrls) == 0 {
			ctrls = []string{"statefulset-controller"}
		}
		kcmConfig := e.Kubeconfig
		if opts.ObserveControllerManager != nil {
			proxyURL, err := e.startProxy(host, token, opts.ObserveControllerManager)
			if err != nil {
				return nil, err
			}
			kcmConfig = filepath.Join(e.Dir, "kubeconfig-controller-manager")
			if err := os.WriteFile(kcmConfig, []byte(kubeconfig(proxyURL, token)), 0o600); err != nil {
				return nil, fmt.Errorf("kubeenv: %w", err)
			}
		}
		if err := e.start(binDir, "kube-controller-manager",
			"--kubeconfig="+kcmConfig,
			"--controllers="+strings.Join(ctrls, ","),
			"--leader-elect=false",
			"--secure-port=0",
			"--use-service-account-credentials=false",
			"--concurrent-statefulset-syncs=5",
			"--v=0",
		); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) start(binDir, name string, args ...string) error {
	logPath := filepath.Join(e.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("kubeenv: %w", err)
	}
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("kubeenv: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return nil
}

// startProxy serves a plain-HTTP loopback proxy to the API server that
// passes every request to observe first; it returns its URL.
func (e *Env) startProxy(host, token string, observe func(*http.Request)) (string, error) {
	target, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("kubeenv: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: nil, ForceAttemptHTTP2: false}
	rp.FlushInterval = -1 // watches stream
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("kubeenv: %w", err)
	}
	e.proxy = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		observe(r)
		r.Header.Set("Authorization", "Bearer "+token)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = e.proxy.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// waitReady polls /readyz until it answers 200, a process exits, or 60 s.
func (e *Env) waitReady(ctx context.Context, host, token string) error {
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: nil},
	}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range e.procs {
			select {
			case <-p.done:
				return fmt.Errorf("kubeenv: %s exited (%v) before the API server was ready:\n%s", p.name, p.err, tail(p.log, 30))
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body[:n])
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("kubeenv: the API server was not ready within 60 s (last: %s):\n%s", last, tail(filepath.Join(e.Dir, "kube-apiserver.log"), 30))
}

// Stop stops the processes (SIGTERM, then SIGKILL after 5 s), in reverse
// order of start, and removes the directory Start created.
func (e *Env) Stop() error {
	var errs []error
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	e.procs = nil
	if e.proxy != nil {
		_ = e.proxy.Close()
		e.proxy = nil
	}
	if e.ownDir && e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Logs returns the last lines of a process's log ("kube-apiserver"...).
func (e *Env) Logs(name string, lines int) string {
	return tail(filepath.Join(e.Dir, name+".log"), lines)
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kubeenv: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("kubeenv: %w", err)
	}
	return fmt.Sprintf("%x", b), nil
}

func writeServiceAccountKeys(keyPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("kubeenv: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("kubeenv: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return fmt.Errorf("kubeenv: %w", err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return fmt.Errorf("kubeenv: %w", err)
	}
	return nil
}

func kubeconfig(host, token string) string {
	skip := "    insecure-skip-tls-verify: true\n"
	if strings.HasPrefix(host, "http://") {
		skip = ""
	}
	return `apiVersion: v1
kind: Config
clusters:
- name: kubeenv
  cluster:
    server: ` + host + `
` + skip + `users:
- name: admin
  user:
    token: ` + token + `
contexts:
- name: kubeenv
  context:
    cluster: kubeenv
    user: admin
current-context: kubeenv
`
}
