package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rollgate/rollgate/verify"
)

// staticAccess answers every Get with one prebuilt body.
type staticAccess struct{ body []byte }

func (a staticAccess) Exec(context.Context, verify.Target, string) (string, error) { return "", nil }

func (a staticAccess) Get(context.Context, verify.Target, int32, string) (int, []byte, error) {
	return 200, a.body, nil
}

// exposition builds a Prometheus text exposition of about size bytes (and
// under verify.MaxBodyBytes): an exporter's worth of families, each with
// HELP and TYPE, labelled series of gauges and counters, and histograms.
func exposition(size int) []byte {
	var b strings.Builder
	b.WriteString("# HELP redis_up Information about the Redis instance\n# TYPE redis_up gauge\nredis_up 1\n")
	b.WriteString("# HELP redis_connected_slaves Number of connected replicas\n# TYPE redis_connected_slaves gauge\nredis_connected_slaves{role=\"master\"} 2\n")
	for f := 0; b.Len() < size-4096; f++ {
		switch f % 3 {
		case 0:
			fmt.Fprintf(&b, "# HELP app_keys_%d Keys per database\n# TYPE app_keys_%d gauge\n", f, f)
			for s := 0; s < 50; s++ {
				fmt.Fprintf(&b, "app_keys_%d{db=\"db%d\",shard=\"shard-%d\"} %d\n", f, s, s%7, s*1000+f)
			}
		case 1:
			fmt.Fprintf(&b, "# HELP app_commands_total_%d Commands processed\n# TYPE app_commands_total_%d counter\n", f, f)
			for s := 0; s < 50; s++ {
				fmt.Fprintf(&b, "app_commands_total_%d{cmd=\"cmd%d\"} %d\n", f, s, s*123456+f)
			}
		default:
			fmt.Fprintf(&b, "# HELP app_latency_seconds_%d Command latency\n# TYPE app_latency_seconds_%d histogram\n", f, f)
			for s := 0; s < 4; s++ {
				for i, le := range []string{"0.001", "0.01", "0.1", "1", "+Inf"} {
					fmt.Fprintf(&b, "app_latency_seconds_%d_bucket{cmd=\"cmd%d\",le=\"%s\"} %d\n", f, s, le, (i+1)*100)
				}
				fmt.Fprintf(&b, "app_latency_seconds_%d_sum{cmd=\"cmd%d\"} 12.5\napp_latency_seconds_%d_count{cmd=\"cmd%d\"} 500\n", f, s, f, s)
			}
		}
	}
	return []byte(b.String())
}

// BenchmarkMetricsVerify: one attempt of a metrics check (the seed's
// redis_up and connected replicas) against a 1 MiB exposition: scrape
// (free here), parse, evaluate.
func BenchmarkMetricsVerify(b *testing.B) {
	body := exposition(1 << 20)
	if len(body) >= verify.MaxBodyBytes || len(body) < 1<<20-8192 {
		b.Fatalf("exposition is %d bytes", len(body))
	}
	v, err := verify.New(verify.Check{
		Enabled: true, Type: verify.TypeMetrics,
		Metrics: []verify.MetricCheck{
			{Name: "redis_up", Expected: "1"},
			{Name: `redis_connected_slaves{role="master"}`, Expected: ">0"},
			{Name: `app_keys_0{db="db1"}`, Expected: ">=0"},
		},
	}, staticAccess{body: body})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t := verify.Target{Name: "redis-0", Version: "v2", Ready: true}
	if err := v.Verify(ctx, t); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(strings.Count(string(body), "\n")), "lines")
}
