package kube_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/rollgate/rollgate/upgrade/kube"
	"github.com/rollgate/rollgate/verify"
)

// loopback starts an httptest server on 127.0.0.1, stopped by the test.
func loopback(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestAccessGetThroughProxy(t *testing.T) {
	var mu sync.Mutex
	var lastQuery string
	api := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastQuery = r.URL.RawQuery
		mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/namespaces/db/pods/redis-0:8080/proxy/health":
			fmt.Fprint(w, "ok")
		case "/api/v1/namespaces/db/pods/https:redis-0:8443/proxy/health":
			fmt.Fprint(w, "tls ok")
		case "/api/v1/namespaces/db/pods/redis-0:8080/proxy/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "loading dataset")
		case "/api/v1/namespaces/db/pods/redis-0:8080/proxy/big":
			fmt.Fprint(w, strings.Repeat("x", 1000))
		case "/api/v1/namespaces/db/pods/redis-0:8080/proxy/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Reason: metav1.StatusReasonServiceUnavailable, Message: "no endpoints available for pod"})
		}
	}))
	a := &kube.Access{Config: &rest.Config{Host: api.URL}, Namespace: ns, Port: 8080, MaxBody: 500, Timeout: 100 * time.Millisecond}
	ctx := t.Context()
	tg := verify.Target{Name: "redis-0"}

	code, body, err := a.Get(ctx, tg, 0, "/health")
	if err != nil || code != 200 || string(body) != "ok" {
		t.Fatalf("GET /health = %d %q %v", code, body, err)
	}
	_, _, err = a.Get(ctx, tg, 0, "/health?verbose=1")
	mu.Lock()
	q := lastQuery
	mu.Unlock()
	if err != nil || q != "verbose=1" {
		t.Fatalf("query: %q %v", q, err)
	}
	// The pod's own error status is a status code, not an error.
	code, body, err = a.Get(ctx, tg, 0, "down")
	if err != nil || code != 503 || string(body) != "loading dataset" {
		t.Fatalf("GET down = %d %q %v", code, body, err)
	}
	// The API server's refusal is an error naming the pod.
	_, _, err = a.Get(ctx, verify.Target{Name: "redis-9"}, 0, "/health")
	if err == nil || !strings.Contains(err.Error(), "kube: pod redis-9: get /health via the API server's proxy: 503 ServiceUnavailable: no endpoints") {
		t.Fatalf("refused: %v", err)
	}
	if _, _, err := a.Get(ctx, tg, 0, "/big"); err == nil || !strings.Contains(err.Error(), "body longer than 500 bytes") {
		t.Fatalf("big body: %v", err)
	}
	if _, _, err := a.Get(ctx, tg, 0, "/slow"); err == nil || !errors.Is(err, ctx.Err()) && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("slow: %v", err)
	}
	https := *a
	https.Scheme = "https"
	if code, body, err := https.Get(ctx, tg, 8443, "/health"); err != nil || code != 200 || string(body) != "tls ok" {
		t.Fatalf("https: %d %q %v", code, body, err)
	}
	noPort := *a
	noPort.Port = 0
	if _, _, err := noPort.Get(ctx, tg, 0, "/health"); err == nil || !strings.Contains(err.Error(), "no port") {
		t.Fatalf("no port: %v", err)
	}
}

func TestAccessGetDirect(t *testing.T) {
	var hits atomic.Int32
	pod := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "redis_up 1\n")
			return
		}
		http.NotFound(w, r)
	}))
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(pod.URL, "http://"))
	port, _ := strconv.Atoi(portStr)
	client := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "redis-0", Namespace: ns}, Status: corev1.PodStatus{PodIP: "127.0.0.1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "redis-1", Namespace: ns}},
	)
	a := &kube.Access{Namespace: ns, Direct: true, Client: client, Port: int32(port)}
	code, body, err := a.Get(t.Context(), verify.Target{Name: "redis-0"}, 0, "/metrics")
	if err != nil || code != 200 || string(body) != "redis_up 1\n" {
		t.Fatalf("direct: %d %q %v", code, body, err)
	}
	if code, _, err := a.Get(t.Context(), verify.Target{Name: "redis-0"}, 0, "/nope"); err != nil || code != 404 {
		t.Fatalf("404: %d %v", code, err)
	}
	if _, _, err := a.Get(t.Context(), verify.Target{Name: "redis-1"}, 0, "/metrics"); err == nil || !strings.Contains(err.Error(), "kube: pod redis-1: get /metrics: the pod has no IP yet") {
		t.Fatalf("no IP: %v", err)
	}
	if _, _, err := a.Get(t.Context(), verify.Target{Name: "redis-7"}, 0, "/metrics"); err == nil || !strings.Contains(err.Error(), "finding the pod IP") {
		t.Fatalf("no pod: %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("hits = %d", hits.Load())
	}
}

// execServer answers pods/exec like an API server: over WebSocket
// (v5.channel.k8s.io) unless noWebSocket, else over SPDY (v4).
type execServer struct {
	noWebSocket bool
	run         func(cmd []string) (stdout, stderr string, code int)
	spdyUsed    atomic.Bool
	wsUsed      atomic.Bool
}

func (s *execServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/exec") {
		http.NotFound(w, r)
		return
	}
	cmd := r.URL.Query()["command"]
	stdout, stderr, code := s.run(cmd)
	st := metav1.Status{Status: metav1.StatusSuccess}
	if code != 0 {
		st = metav1.Status{Status: metav1.StatusFailure, Reason: remotecommand.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(code)}}}}
	}
	stBytes, _ := json.Marshal(st)
	if wsstream.IsWebSocketRequest(r) {
		if s.noWebSocket {
			http.Error(w, "websocket not supported", http.StatusBadRequest)
			return
		}
		s.wsUsed.Store(true)
		conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
			remotecommand.StreamProtocolV5Name: {Binary: true, Channels: []wsstream.ChannelType{
				wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}},
		})
		_, chans, err := conn.Open(w, r)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(chans[1], stdout)
		_, _ = io.WriteString(chans[2], stderr)
		_, _ = chans[3].Write(stBytes)
		return
	}
	s.spdyUsed.Store(true)
	if _, err := httpstream.Handshake(r, w, []string{remotecommand.StreamProtocolV4Name}); err != nil {
		return
	}
	streams := make(chan httpstream.Stream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		streams <- st
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	got := map[string]httpstream.Stream{}
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case st := <-streams:
			got[st.Headers().Get(corev1.StreamType)] = st
		case <-timeout:
			return
		}
	}
	_, _ = io.WriteString(got[corev1.StreamTypeStdout], stdout)
	_, _ = io.WriteString(got[corev1.StreamTypeStderr], stderr)
	_, _ = got[corev1.StreamTypeError].Write(stBytes)
	for _, st := range got {
		_ = st.Close()
	}
}

func shellRunner(cmd []string) (string, string, int) {
	if len(cmd) != 3 || cmd[0] != "sh" || cmd[1] != "-c" {
		return "", "bad command " + strings.Join(cmd, " "), 2
	}
	switch cmd[2] {
	case "redis-cli info replication":
		return "role:slave\nmaster_link_status:up\n", "", 0
	case "false":
		return "partial", "boom", 3
	}
	return "", "unknown", 127
}

func TestAccessExecWebSocket(t *testing.T) {
	srv := &execServer{run: shellRunner}
	api := loopback(t, srv)
	a := &kube.Access{Config: &rest.Config{Host: api.URL}, Namespace: ns, Container: "redis"}
	out, err := a.Exec(t.Context(), verify.Target{Name: "redis-1"}, "redis-cli info replication")
	if err != nil || !strings.Contains(out, "master_link_status:up") {
		t.Fatalf("exec = %q, %v", out, err)
	}
	if !srv.wsUsed.Load() || srv.spdyUsed.Load() {
		t.Errorf("websocket used %v, spdy used %v", srv.wsUsed.Load(), srv.spdyUsed.Load())
	}
	out, err = a.Exec(t.Context(), verify.Target{Name: "redis-1"}, "false")
	var exit *verify.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || !strings.Contains(exit.Output, "boom") || out != "partial" {
		t.Fatalf("exit: out %q err %v", out, err)
	}
}

func TestAccessExecFallsBackToSPDY(t *testing.T) {
	srv := &execServer{run: shellRunner, noWebSocket: true}
	api := loopback(t, srv)
	a := &kube.Access{Config: &rest.Config{Host: api.URL}, Namespace: ns}
	out, err := a.Exec(t.Context(), verify.Target{Name: "redis-1"}, "redis-cli info replication")
	if err != nil || !strings.Contains(out, "master_link_status:up") {
		t.Fatalf("exec = %q, %v (spdy used: %v)", out, err, srv.spdyUsed.Load())
	}
	if !srv.spdyUsed.Load() {
		t.Error("SPDY not used")
	}
	_, err = a.Exec(t.Context(), verify.Target{Name: "redis-1"}, "false")
	var exit *verify.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("exit over SPDY: %v", err)
	}
}

func TestAccessExecErrors(t *testing.T) {
	a := &kube.Access{Namespace: ns}
	if _, err := a.Exec(t.Context(), verify.Target{Name: "redis-0"}, "true"); err == nil || !strings.HasPrefix(err.Error(), "kube: pod redis-0: exec") {
		t.Fatalf("no config: %v", err)
	}
	// Nothing listens: an error that is not an exit.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a = &kube.Access{Config: &rest.Config{Host: "http://" + addr}, Namespace: ns, Timeout: 2 * time.Second}
	_, err = a.Exec(t.Context(), verify.Target{Name: "redis-0"}, "true")
	var exit *verify.ExitError
	if err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), "kube: pod redis-0: exec") {
		t.Fatalf("unreachable: %v", err)
	}
}
