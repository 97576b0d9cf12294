package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/rollgate/rollgate/upgrade
cpu: Test CPU
BenchmarkStep/pods=10-2         	   79502	     13380 ns/op	         2.100 allocs/pod	      1338 ns/pod	    2920 B/op	      21 allocs/op
BenchmarkStep/pods=10-2         	   79502	     11380 ns/op	         2.100 allocs/pod	      1138 ns/pod	    2920 B/op	      21 allocs/op
BenchmarkStep/pods=10-2         	   79502	     12380 ns/op	         2.100 allocs/pod	      1238 ns/pod	    2920 B/op	      21 allocs/op
BenchmarkStepIdle/pods=10000-2  	    1714	    630114 ns/op	         0.001500 allocs/pod	        63.01 ns/pod	    1048 B/op	      15 allocs/op
some log line
pkg: github.com/rollgate/rollgate/verify
BenchmarkMetricsVerify-2   	      10	 107600804 ns/op	   9.72 MB/s	     22756 lines	33425392 B/op	  708337 allocs/op
PASS
`

func TestParseAndTables(t *testing.T) {
	in, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if in.cpu != "Test CPU" || len(in.results) != 3 {
		t.Fatalf("cpu %q, %d results", in.cpu, len(in.results))
	}
	if v, _ := in.results[0].median("ns/op"); v != 12380 {
		t.Errorf("median ns/op = %v, want 12380", v)
	}
	useMin = true
	if v, _ := in.results[0].median("ns/op"); v != 11380 {
		t.Errorf("min ns/op = %v, want 11380", v)
	}
	useMin = false
	var b bytes.Buffer
	others(&b, engine(&b, in.results))
	out := b.String()
	for _, want := range []string{
		"| Step, mid-upgrade | 10 | 12.4 µs | – | 1238 ns | 21 | 2.1 | 2.9 KiB |",
		"| Step, idle (Completed) | 10000 | 630 µs | – | 63 ns | 15 | 0.0015 | 1.0 KiB |",
		"| verify | MetricsVerify | 108 ms | 9.7 MB/s | 708337 | 31.9 MiB |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
