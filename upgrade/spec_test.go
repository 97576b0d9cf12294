package upgrade_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

func readDesign(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "design", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseSpecDesignBlocks parses every YAML block of the design as it
// stands and checks what each one says.
func TestParseSpecDesignBlocks(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, s upgrade.Spec)
	}{
		{"3.1.yaml", checkFull},
		{"3.1-without-spec.yaml", checkFull},
		{"4.1.yaml", func(t *testing.T, s upgrade.Spec) {
			eqInt(t, "partition", *s.RollingUpdate.Partition, 2)
			eqIntstr(t, "maxSurge", s.RollingUpdate.MaxSurge, intstr.FromInt32(1))
		}},
		{"4.3.yaml", func(t *testing.T, s upgrade.Spec) {
			eqInt(t, "partition", *s.RollingUpdate.Partition, 2)
			eqIntstr(t, "maxUnavailable", s.RollingUpdate.MaxUnavailable, intstr.FromInt32(0))
		}},
		{"5.1.yaml", func(t *testing.T, s upgrade.Spec) {
			c := s.PreUpgradeCheck
			if !c.Enabled || c.Type != verify.TypeHealthCheck || c.Timeout.Duration != 30*time.Second {
				t.Errorf("preUpgradeCheck = %+v", c)
			}
		}},
		{"5.2.yaml", func(t *testing.T, s upgrade.Spec) {
			c := s.PreUpgradeCheck
			if c.Type != verify.TypeCustom || !strings.Contains(c.Command, "redis-cli INFO replication | grep master_link_status") || c.Expected != "up" {
				t.Errorf("preUpgradeCheck = %+v", c)
			}
		}},
		{"6.1.yaml", func(t *testing.T, s upgrade.Spec) {
			c := s.PostUpgradeVerify
			if c.Type != verify.TypeExec || c.Command != "redis-cli ping" || c.Expected != "PONG" || c.Timeout.Duration != 30*time.Second {
				t.Errorf("postUpgradeVerify = %+v", c)
			}
		}},
		{"6.2.yaml", func(t *testing.T, s upgrade.Spec) {
			c := s.PostUpgradeVerify
			if c.Type != verify.TypeMetrics || len(c.Metrics) != 2 || c.Metrics[0].Name != "redis_up" || c.Metrics[0].Expected != "1" || c.Metrics[1].Expected != ">0" || c.Path != "/metrics" {
				t.Errorf("postUpgradeVerify = %+v", c)
			}
		}},
		{"6.3.yaml", func(t *testing.T, s upgrade.Spec) {
			c := s.PostUpgradeVerify
			if c.Type != verify.TypeHTTP || c.Endpoint != "/health" || c.ExpectedStatus != 200 || c.Timeout.Duration != 10*time.Second {
				t.Errorf("postUpgradeVerify = %+v", c)
			}
		}},
		{"7.1.yaml", func(t *testing.T, s upgrade.Spec) {
			r := s.Rollback
			if !r.Enabled || !r.OnFailure || *r.Limit != 3 {
				t.Errorf("rollback = %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := upgrade.ParseSpec(readDesign(t, tt.file))
			if err != nil {
				t.Fatalf("ParseSpec: %v", err)
			}
			tt.check(t, s)
			checkDefaulted(t, s)
		})
	}
}

func checkFull(t *testing.T, s upgrade.Spec) {
	r := s.RollingUpdate
	eqIntstr(t, "maxSurge", r.MaxSurge, intstr.FromInt32(1))
	eqIntstr(t, "maxUnavailable", r.MaxUnavailable, intstr.FromInt32(0))
	eqInt(t, "partition", *r.Partition, 0)
	if r.Timeout.Duration != 300*time.Second {
		t.Errorf("timeout = %v", r.Timeout.Duration)
	}
	if !s.PreUpgradeCheck.Enabled || s.PreUpgradeCheck.Type != verify.TypeHealthCheck {
		t.Errorf("preUpgradeCheck = %+v", s.PreUpgradeCheck)
	}
	if s.PostUpgradeVerify.Command != "redis-cli ping" || s.PostUpgradeVerify.Expected != "PONG" {
		t.Errorf("postUpgradeVerify = %+v", s.PostUpgradeVerify)
	}
	if !s.Rollback.Enabled || !s.Rollback.OnFailure || *s.Rollback.Limit != 3 {
		t.Errorf("rollback = %+v", s.Rollback)
	}
}

// checkDefaulted: every field of table 3.2 has a value after parsing.
func checkDefaulted(t *testing.T, s upgrade.Spec) {
	t.Helper()
	r := s.RollingUpdate
	if r.MaxSurge == nil || r.MaxUnavailable == nil || r.Partition == nil || r.Timeout == nil || s.Rollback.Limit == nil || r.Order == "" {
		t.Errorf("not defaulted: %+v / %+v", r, s.Rollback)
	}
}

func TestParseSpecDefaults(t *testing.T) {
	for _, in := range []string{"", "{}", "rollingUpdate: {}\n"} {
		s, err := upgrade.ParseSpec([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		r := s.RollingUpdate
		eqIntstr(t, "maxSurge", r.MaxSurge, intstr.FromInt32(1))
		eqIntstr(t, "maxUnavailable", r.MaxUnavailable, intstr.FromInt32(0))
		eqInt(t, "partition", *r.Partition, 0)
		if r.Timeout.Duration != 300*time.Second {
			t.Errorf("timeout = %v", r.Timeout.Duration)
		}
		eqInt(t, "rollback.limit", *s.Rollback.Limit, 3)
		if r.Order != upgrade.Ordinal {
			t.Errorf("order = %q", r.Order)
		}
	}
}

func TestParseSpecJSON(t *testing.T) {
	s, err := upgrade.ParseSpec([]byte(`{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"50%","partition":3,"order":"PrimaryLast"}}`))
	if err != nil {
		t.Fatal(err)
	}
	eqIntstr(t, "maxSurge", s.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	if s.RollingUpdate.Order != upgrade.PrimaryLast {
		t.Errorf("order = %q", s.RollingUpdate.Order)
	}
}

// TestParseSpecRejects: each bad spec is refused with the field path named.
func TestParseSpecRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown top-level field", "rollingUpdat: {}\n", "spec.rollingUpdat: Forbidden: unknown field"},
		{"unknown nested field", "rollingUpdate:\n  maxSurg: 1\n", "spec.rollingUpdate.maxSurg: Forbidden: unknown field"},
		{"unknown field under spec", "spec:\n  rollingUpdate:\n    maxSurg: 1\n", "spec.rollingUpdate.maxSurg: Forbidden: unknown field"},
		{"unknown check field", "postUpgradeVerify:\n  enabled: true\n  type: exec\n  command: x\n  expect: PONG\n", "spec.postUpgradeVerify.expect: Forbidden: unknown field"},
		{"unknown metric field", "postUpgradeVerify:\n  enabled: true\n  type: metrics\n  metrics:\n    - name: up\n      value: 1\n", "spec.postUpgradeVerify.metrics[0].value: Forbidden: unknown field"},
		{"negative maxSurge", "rollingUpdate:\n  maxSurge: -1\n", "spec.rollingUpdate.maxSurge"},
		{"malformed maxSurge", "rollingUpdate:\n  maxSurge: lots\n", "spec.rollingUpdate.maxSurge"},
		{"negative percent", "rollingUpdate:\n  maxUnavailable: \"-5%\"\n", "spec.rollingUpdate.maxUnavailable"},
		{"maxUnavailable over 100%", "rollingUpdate:\n  maxUnavailable: \"150%\"\n", "spec.rollingUpdate.maxUnavailable"},
		{"negative maxUnavailable", "rollingUpdate:\n  maxUnavailable: -2\n", "spec.rollingUpdate.maxUnavailable"},
		{"both zero", "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 0\n", "spec.rollingUpdate.maxUnavailable: Invalid value: \"0\": may not be 0 when maxSurge is 0"},
		{"both zero percent", "rollingUpdate:\n  maxSurge: \"0%\"\n  maxUnavailable: 0\n", "may not be 0 when maxSurge is 0"},
		{"negative partition", "rollingUpdate:\n  partition: -1\n", "spec.rollingUpdate.partition"},
		{"malformed partition", "rollingUpdate:\n  partition: two\n", "spec.rollingUpdate.partition: Invalid value: \"two\": must be an integer"},
		{"malformed timeout", "rollingUpdate:\n  timeout: soon\n", "spec.rollingUpdate.timeout"},
		{"negative timeout", "rollingUpdate:\n  timeout: -5s\n", "spec.rollingUpdate.timeout"},
		{"zero timeout", "rollingUpdate:\n  timeout: 0s\n", "spec.rollingUpdate.timeout"},
		{"unknown order", "rollingUpdate:\n  order: Random\n", "spec.rollingUpdate.order"},
		{"negative limit", "rollback:\n  limit: -1\n", "spec.rollback.limit"},
		{"malformed limit", "rollback:\n  limit: many\n", "spec.rollback.limit"},
		{"unknown check type", "postUpgradeVerify:\n  enabled: true\n  type: ping\n", "spec.postUpgradeVerify.type"},
		{"enabled without type", "preUpgradeCheck:\n  enabled: true\n", "spec.preUpgradeCheck.type"},
		{"exec without command", "postUpgradeVerify:\n  enabled: true\n  type: exec\n  expected: PONG\n", "spec.postUpgradeVerify.command"},
		{"custom without command", "preUpgradeCheck:\n  enabled: true\n  type: custom\n", "spec.preUpgradeCheck.command"},
		{"http without endpoint", "postUpgradeVerify:\n  enabled: true\n  type: http\n", "spec.postUpgradeVerify.endpoint"},
		{"http endpoint is a URL", "postUpgradeVerify:\n  enabled: true\n  type: http\n  endpoint: http://10.0.0.1/health\n", "spec.postUpgradeVerify.endpoint"},
		{"http endpoint is a host path", "postUpgradeVerify:\n  enabled: true\n  type: http\n  endpoint: //evil/health\n", "spec.postUpgradeVerify.endpoint"},
		{"metrics without metrics", "postUpgradeVerify:\n  enabled: true\n  type: metrics\n", "spec.postUpgradeVerify.metrics"},
		{"unparsable expectation", "postUpgradeVerify:\n  enabled: true\n  type: metrics\n  metrics:\n    - name: redis_up\n      expected: \"about 1\"\n", "spec.postUpgradeVerify.metrics[0].expected"},
		{"bad metric name", "postUpgradeVerify:\n  enabled: true\n  type: metrics\n  metrics:\n    - name: \"redis up\"\n      expected: 1\n", "spec.postUpgradeVerify.metrics[0].name"},
		{"bad regex", "postUpgradeVerify:\n  enabled: true\n  type: exec\n  command: x\n  match: regex\n  expected: \"(\"\n", "spec.postUpgradeVerify.expected"},
		{"not yaml", "rollingUpdate: [\n", "spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upgrade.ParseSpec([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseSpec(%q) accepted a bad spec", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

// TestBudget resolves percentages as a Deployment does.
func TestBudget(t *testing.T) {
	tests := []struct {
		surge, unav         intstr.IntOrString
		replicas            int32
		wantSurge, wantUnav int32
	}{
		{intstr.FromInt32(1), intstr.FromInt32(0), 5, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2}, // 2.5 up, 2.5 down
		{intstr.FromString("10%"), intstr.FromString("10%"), 5, 1, 0},  // 0.5 up -> 1, down -> 0
		{intstr.FromString("0%"), intstr.FromString("10%"), 5, 0, 1},   // both resolve to 0: unavailable 1
		{intstr.FromInt32(0), intstr.FromString("100%"), 4, 0, 4},
		{intstr.FromInt32(2), intstr.FromInt32(3), 0, 2, 3},
	}
	for _, tt := range tests {
		s := upgrade.Spec{RollingUpdate: upgrade.RollingUpdate{MaxSurge: &tt.surge, MaxUnavailable: &tt.unav}}
		su, un := s.Budget(tt.replicas)
		if su != tt.wantSurge || un != tt.wantUnav {
			t.Errorf("Budget(%s, %s, %d) = %d, %d; want %d, %d", tt.surge.String(), tt.unav.String(), tt.replicas, su, un, tt.wantSurge, tt.wantUnav)
		}
	}
}

func TestNewRejectsInvalidSpec(t *testing.T) {
	zero := intstr.FromInt32(0)
	s := upgrade.Spec{RollingUpdate: upgrade.RollingUpdate{MaxSurge: &zero, MaxUnavailable: &zero}}
	if _, err := upgrade.New(nopDriver{}, s); err == nil || !strings.Contains(err.Error(), "spec.rollingUpdate.maxUnavailable") {
		t.Fatalf("New accepted an invalid spec: %v", err)
	}
}

// FuzzParseSpec: ParseSpec never panics, and whatever it accepts is valid,
// defaulted, and parses again to the same spec.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "design", "*.yaml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"rollingUpdate":{"maxSurge":"25%"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := upgrade.ParseSpec(data)
		if err != nil {
			return
		}
		if errs := s.Validate(); len(errs) > 0 {
			t.Fatalf("ParseSpec accepted an invalid spec: %v", errs)
		}
		checkDefaulted(t, s)
		su, un := s.Budget(7)
		if su < 0 || un < 0 || su+un == 0 {
			t.Fatalf("budget %d/%d", su, un)
		}
	})
}

func eqInt(t *testing.T, name string, got, want int32) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", name, got, want)
	}
}

func eqIntstr(t *testing.T, name string, got *intstr.IntOrString, want intstr.IntOrString) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %v, want %v", name, got, want.String())
	}
}
