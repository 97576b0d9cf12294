// Command benchtable reads `go test -bench` output on stdin and prints
// Markdown tables: the engine's Step, Plan and idle Step by group size,
// then every other benchmark. With -count > 1 each value is the median of
// the runs, or with -stat=min the smallest (the better estimate on a
// machine other work keeps busy). A header names the machine (CPU, cores,
// Go version, load).
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./upgrade ./verify | go run ./internal/benchtable -stat=min
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// result is one benchmark's metrics over its runs: unit -> values.
type result struct {
	pkg    string
	name   string // without the -GOMAXPROCS suffix
	values map[string][]float64
}

// useMin selects the smallest value of the runs rather than the median.
var useMin bool

func (r *result) median(unit string) (float64, bool) {
	v := slices.Clone(r.values[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if useMin {
		if strings.HasSuffix(unit, "/s") { // throughput: more is better
			return v[len(v)-1], true
		}
		return v[0], true
	}
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

type input struct {
	cpu     string
	results []*result
}

func parse(r io.Reader) (*input, error) {
	in := &input{}
	byName := map[string]*result{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		case strings.HasPrefix(line, "cpu: "):
			in.cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			continue
		case !strings.HasPrefix(line, "Benchmark"):
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a log line that starts with Benchmark
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		key := pkg + " " + name
		res := byName[key]
		if res == nil {
			res = &result{pkg: pkg, name: name, values: map[string][]float64{}}
			byName[key] = res
			in.results = append(in.results, res)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.values[f[i+1]] = append(res.values[f[i+1]], v)
		}
	}
	return in, sc.Err()
}

// duration renders nanoseconds with a unit: 812 ns, 41.3 µs, 2.07 ms.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func byteSize(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func count(n float64) string {
	if n == float64(int64(n)) {
		return strconv.FormatInt(int64(n), 10)
	}
	if n < 0.01 {
		return fmt.Sprintf("%.4f", n)
	}
	return fmt.Sprintf("%.3g", n)
}

func cell(r *result, unit string, format func(float64) string) string {
	if v, ok := r.median(unit); ok {
		return format(v)
	}
	return "–"
}

func runs(r *result) int { return len(r.values["ns/op"]) }

// engine prints the Step / Plan / idle Step table: one row per size.
func engine(w io.Writer, rs []*result) []*result {
	kinds := []struct{ bench, label string }{
		{"BenchmarkStep/", "Step, mid-upgrade"},
		{"BenchmarkPlan/", "Plan, mid-upgrade"},
		{"BenchmarkStepIdle/", "Step, idle (Completed)"},
	}
	var rest []*result
	var rows []string
	used := map[*result]bool{}
	for _, k := range kinds {
		for _, r := range rs {
			if !strings.HasPrefix(r.name, k.bench) {
				continue
			}
			used[r] = true
			size := strings.TrimPrefix(strings.TrimPrefix(r.name, k.bench), "pods=")
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", k.label, size,
				cell(r, "ns/op", duration), cell(r, "cpu-ns/op", duration), cell(r, "ns/pod", func(v float64) string { return fmt.Sprintf("%.0f ns", v) }),
				cell(r, "allocs/op", count), cell(r, "allocs/pod", count), cell(r, "B/op", byteSize)))
		}
	}
	for _, r := range rs {
		if !used[r] {
			rest = append(rest, r)
		}
	}
	if len(rows) == 0 {
		return rest
	}
	fmt.Fprintln(w, "| benchmark | pods | time/op | CPU/op | time/pod | allocs/op | allocs/pod | bytes/op |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
	return rest
}

// others prints every other benchmark.
func others(w io.Writer, rs []*result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintln(w, "| package | benchmark | time/op | throughput | allocs/op | bytes/op |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, r := range rs {
		pkg := strings.TrimPrefix(r.pkg, "github.com/rollgate/rollgate/")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", pkg, strings.TrimPrefix(r.name, "Benchmark"),
			cell(r, "ns/op", duration), cell(r, "MB/s", func(v float64) string { return fmt.Sprintf("%.1f MB/s", v) }),
			cell(r, "allocs/op", count), cell(r, "B/op", byteSize))
	}
	fmt.Fprintln(w)
}

func machine(cpu string) string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				if m := strings.TrimSpace(v); m != "" && !strings.Contains(cpu, m) {
					cpu = strings.TrimSpace(cpu + " (" + m + ")")
				}
				break
			}
		}
	}
	if cpu == "" {
		cpu = "unknown CPU"
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = fmt.Sprintf(", load average %s %s %s", f[0], f[1], f[2])
		}
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}

func main() {
	stat := flag.String("stat", "median", "value shown when a benchmark ran several times: median or min")
	flag.Parse()
	switch *stat {
	case "median":
	case "min":
		useMin = true
	default:
		fmt.Fprintf(os.Stderr, "benchtable: -stat %q: want median or min\n", *stat)
		os.Exit(2)
	}
	in, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(in.results) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	n := runs(in.results[0])
	fmt.Fprintf(w, "Machine: %s. ", machine(in.cpu))
	if n > 1 {
		what := "Medians"
		if useMin {
			what = "Best"
		}
		fmt.Fprintf(w, "%s of %d runs.", what, n)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	others(w, engine(w, in.results))
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}
