package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/rollgate/rollgate/verify"
)

// Defaults of Access.
const (
	DefaultAccessTimeout = 10 * time.Second
	DefaultMaxBody       = 1 << 20 // bytes of an HTTP body or of exec output kept
)

// Access is the verify.PodAccess of pods in a Kubernetes namespace.
//
// Exec runs `sh -c command` through the API server's pods/exec subresource
// with client-go's remotecommand: WebSocket first, SPDY when the server
// refuses the WebSocket upgrade. Get reaches the pod through the API
// server's pods/proxy subresource, which works from outside the cluster;
// with Direct it dials the pod IP instead (in-cluster operators, saving the
// API server the traffic). Every call is bounded by Timeout and keeps at
// most MaxBody bytes of output or body; a longer output or body is an error.
//
// Access holds no state besides its configuration and is safe for
// concurrent use. Fields must not change after first use.
type Access struct {
	// Config reaches the API server (exec and proxy). Required unless
	// Direct is set and Exec is never used.
	Config *rest.Config
	// Namespace of the pods. Required.
	Namespace string
	// Container for Exec; "" means the pod's default (the first).
	Container string
	// Port is Get's port when the check names none. Required for Get
	// without a port.
	Port int32
	// Scheme of Get: "http" (default) or "https".
	Scheme string
	// Direct makes Get dial the pod IP; the pod is read from Pods (a
	// lister, no API request) or, without one, with a GET through Client.
	Direct bool
	// Pods resolves pod IPs for Direct (optional).
	Pods corelisters.PodLister
	// Client resolves pod IPs for Direct when Pods is nil (optional).
	Client kubernetes.Interface
	// HTTPClient for Direct (default: a client with no proxy and Timeout).
	HTTPClient *http.Client
	// Timeout bounds each call (default DefaultAccessTimeout); a deadline
	// already on the context applies when it is earlier.
	Timeout time.Duration
	// MaxBody bounds what is kept of a body or an output (default
	// DefaultMaxBody).
	MaxBody int64
	// PodName maps a target to its pod's name (default: t.Name).
	PodName func(t verify.Target) string
}

func (a *Access) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return DefaultAccessTimeout
}

func (a *Access) maxBody() int64 {
	if a.MaxBody > 0 {
		return a.MaxBody
	}
	return DefaultMaxBody
}

func (a *Access) podName(t verify.Target) string {
	if a.PodName != nil {
		return a.PodName(t)
	}
	return t.Name
}

// limitedBuffer keeps at most max bytes and remembers that more came.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int64
	overflow bool
}

// Write keeps what fits and reports the whole of p written.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - int64(b.buf.Len())
	if int64(len(p)) > room {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil // keep draining; the caller reports the overflow
	}
	return b.buf.Write(p)
}

// Exec runs command as `sh -c command` in the target's pod and returns its
// standard output. A non-zero exit is an error that carries the exit code
// and the start of standard error.
func (a *Access) Exec(ctx context.Context, t verify.Target, command string) (string, error) {
	name := a.podName(t)
	if a.Config == nil {
		return "", fmt.Errorf("kube: pod %s: exec: Access has no rest.Config", name)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout())
	defer cancel()
	client, err := rest.RESTClientFor(restConfigFor(a.Config))
	if err != nil {
		return "", fmt.Errorf("kube: pod %s: exec: %w", name, err)
	}
	req := client.Post().Namespace(a.Namespace).Resource("pods").Name(name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: a.Container,
			Command:   []string{"sh", "-c", command},
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(a.Config, "GET", req.URL().String())
	if err != nil {
		return "", fmt.Errorf("kube: pod %s: exec: %w", name, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(a.Config, "POST", req.URL())
	if err != nil {
		return "", fmt.Errorf("kube: pod %s: exec: %w", name, err)
	}
	// client-go's transports report upgrade failures with the types of
	// k8s.io/streaming, not apimachinery's older copy.
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", fmt.Errorf("kube: pod %s: exec: %w", name, err)
	}
	stdout := &limitedBuffer{max: a.maxBody()}
	stderr := &limitedBuffer{max: 4096}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("kube: pod %s: exec %q: %w (timeout %s)", name, command, ctx.Err(), a.timeout())
		}
		var exitErr exec.ExitError
		if errors.As(err, &exitErr) && exitErr.Exited() {
			out := stdout.buf.String()
			if s := stderr.buf.String(); s != "" {
				out += s
			}
			return stdout.buf.String(), &verify.ExitError{Code: exitErr.ExitStatus(), Output: out}
		}
		return "", fmt.Errorf("kube: pod %s: exec %q: %w", name, command, err)
	}
	if stdout.overflow {
		return "", fmt.Errorf("kube: pod %s: exec %q: output longer than %d bytes", name, command, a.maxBody())
	}
	return stdout.buf.String(), nil
}

// restConfigFor returns a copy of c set up for the core v1 API.
func restConfigFor(c *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(c)
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return cfg
}

// Get does an HTTP GET of path on the target's pod, port (0: Access.Port),
// and returns the pod's status code and body. Through the API server's
// proxy, an error of the proxy itself (the pod cannot be reached) is an
// error, not a status code.
func (a *Access) Get(ctx context.Context, t verify.Target, port int32, path string) (int, []byte, error) {
	name := a.podName(t)
	if port == 0 {
		port = a.Port
	}
	if port <= 0 || port > 65535 {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: no port (set Access.Port or the check's port)", name, path)
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout())
	defer cancel()
	if a.Direct {
		return a.getDirect(ctx, name, port, path)
	}
	return a.getProxy(ctx, name, port, path)
}

func (a *Access) scheme() string {
	if a.Scheme == "" {
		return "http"
	}
	return a.Scheme
}

func (a *Access) getProxy(ctx context.Context, name string, port int32, path string) (int, []byte, error) {
	if a.Config == nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: Access has no rest.Config", name, path)
	}
	cfg := restConfigFor(a.Config)
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: %w", name, path, err)
	}
	target := name + ":" + strconv.Itoa(int(port))
	if a.Scheme == "https" {
		target = "https:" + target
	}
	p, q, _ := strings.Cut(path, "?")
	u := client.Get().Namespace(a.Namespace).Resource("pods").Name(target).SubResource("proxy").Suffix(p).URL()
	if q != "" {
		u.RawQuery = q
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: %w", name, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: %w", name, path, err)
	}
	code, body, err := a.do(hc, req)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s via the API server's proxy: %w", name, path, err)
	}
	if code >= 400 {
		// The API server's own refusals (no such pod, pod not running,
		// cannot dial) come as a metav1.Status; the pod's own answers
		// hardly ever do.
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.APIVersion == "v1" && st.Status == metav1.StatusFailure {
			return 0, nil, fmt.Errorf("kube: pod %s: get %s via the API server's proxy: %d %s: %s", name, path, code, st.Reason, st.Message)
		}
	}
	return code, body, nil
}

func (a *Access) getDirect(ctx context.Context, name string, port int32, path string) (int, []byte, error) {
	var pod *corev1.Pod
	var err error
	switch {
	case a.Pods != nil:
		pod, err = a.Pods.Pods(a.Namespace).Get(name)
	case a.Client != nil:
		pod, err = a.Client.CoreV1().Pods(a.Namespace).Get(ctx, name, metav1.GetOptions{})
	default:
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: Direct needs Access.Pods or Access.Client to find the pod IP", name, path)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: finding the pod IP: %w", name, path, err)
	}
	if pod.Status.PodIP == "" {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: the pod has no IP yet", name, path)
	}
	u := a.scheme() + "://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: %w", name, path, err)
	}
	hc := a.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: a.timeout()}
	}
	code, body, err := a.do(hc, req)
	if err != nil {
		return 0, nil, fmt.Errorf("kube: pod %s: get %s: %w", name, u, err)
	}
	return code, body, nil
}

// do sends req and reads at most MaxBody bytes of the answer.
func (a *Access) do(hc *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	max := a.maxBody()
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > max {
		return 0, nil, fmt.Errorf("body longer than %d bytes", max)
	}
	return resp.StatusCode, body, nil
}
