package redistest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	if r := s.Do(t, "PING"); r != "+PONG" {
		t.Fatalf("PING = %q", r)
	}
	if r := s.Do(t, "SET", "k", "v w"); r != "+OK" {
		t.Fatalf("SET = %q", r)
	}
	if r := s.Do(t, "GET", "k"); r != "v w" {
		t.Fatalf("GET = %q", r)
	}
	if r := s.Do(t, "GET", "missing"); r != "" {
		t.Fatalf("GET missing = %q", r)
	}
	if r := s.Do(t, "INCR", "n"); r != ":1" {
		t.Fatalf("INCR = %q", r)
	}
	if r := s.Do(t, "NOSUCHCOMMAND"); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("unknown command = %q", r)
	}
	if got := s.Info(t, "replication", "role"); got != "master" {
		t.Fatalf("role = %q", got)
	}

	out, err := exec.Command(filepath.Join(CLIShim(t, s.Port), "redis-cli"), "GET", "k").Output()
	if err != nil || strings.TrimSpace(string(out)) != "v w" {
		t.Fatalf("redis-cli through the shim: %q, %v", out, err)
	}

	s.Stop()
	if s.Running() {
		t.Fatal("still running after Stop")
	}
	s.Stop() // idempotent
	if _, err := Command(context.Background(), s.Addr(), "PING"); err == nil {
		t.Fatal("a stopped server answered")
	}
	if _, err := os.Stat(s.Dir); err != nil {
		t.Fatalf("server dir: %v", err)
	}
}

func TestInfoField(t *testing.T) {
	info := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n"
	for field, want := range map[string]string{"role": "slave", "master_link_status": "up", "absent": ""} {
		if got := InfoField(info, field); got != want {
			t.Errorf("InfoField(%q) = %q, want %q", field, got, want)
		}
	}
}
