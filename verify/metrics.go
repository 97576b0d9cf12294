package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type metricRule struct {
	sel Selector
	exp Expectation
}

type metricsVerifier struct {
	attempt
	access PodAccess
	port   int32
	path   string
	checks []metricRule
	sel    *selection // what checks select, for the scanner
}

// Verify scrapes the pod and evaluates every rule; all failing rules are
// reported together.
func (v *metricsVerifier) Verify(parent context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(parent, v.timeout)
	defer cancel()
	where := portPath(v.port, v.path)
	code, body, err := v.access.Get(ctx, t, v.port, v.path)
	if err != nil {
		return v.errored(parent, ctx, t, "scrape "+where, err)
	}
	if code < 200 || code > 299 {
		return v.errored(parent, ctx, t, "scrape "+where,
			fmt.Errorf("status %d, want 2xx; body: %q", code, Bound(string(body), MaxBodyInError)))
	}
	// The scanner answers for what expfmt's text parser accepts and gives
	// up on anything else (an invalid exposition, OpenMetrics-only syntax,
	// rare forms): ParseExposition then gives the samples or the error.
	samples, ok := scanExposition(body, v.sel)
	if !ok {
		if samples, err = ParseExposition(body); err != nil {
			return v.errored(parent, ctx, t, "scrape "+where, err)
		}
	}
	var problems []string
	for _, r := range v.checks {
		problems = append(problems, evaluate(r, samples)...)
	}
	if len(problems) > 0 {
		return v.failed(t, "", "%s", strings.Join(problems, "; "))
	}
	return nil
}

// maxSeriesInError bounds how many offending series one rule lists.
const maxSeriesInError = 5

// evaluate returns what is wrong with the samples for rule r, or nothing.
func evaluate(r metricRule, samples []Sample) []string {
	matched := 0
	var bad []string
	for _, s := range samples {
		if !r.sel.Matches(s.Name, s.Labels) {
			continue
		}
		matched++
		if !r.exp.Holds(s.Value) {
			if len(bad) < maxSeriesInError {
				bad = append(bad, fmt.Sprintf("%s is %s", s.String(), formatValue(s.Value)))
			} else if len(bad) == maxSeriesInError {
				bad = append(bad, "…")
			}
		}
	}
	if matched == 0 {
		return []string{fmt.Sprintf("no series matches %s (want %s)", r.sel, r.exp)}
	}
	if len(bad) > 0 {
		return []string{fmt.Sprintf("%s, want %s", strings.Join(bad, ", "), r.exp)}
	}
	return nil
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Sample is one series of a scraped exposition with its value.
type Sample struct {
	// Name is the series name: the family name for counters, gauges and
	// untyped metrics; for summaries and histograms the family name (for
	// quantiles) or it with _sum, _count or _bucket.
	Name string
	// Labels are the series' labels, without the name; quantile and le
	// labels included.
	Labels map[string]string
	// Value is the sample value.
	Value float64
}

// String renders the series as name{label="value",...}, labels sorted.
func (s Sample) String() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + quoteLabel(s.Labels[k])
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// ParseExposition parses a Prometheus text exposition, or an OpenMetrics
// one (recognised by its closing `# EOF` line), into samples. Names may be
// UTF-8. An exposition cut at MaxBodyBytes loses its last, partial line
// rather than failing. Series carry the names of their sample lines (an
// OpenMetrics counter is seen as foo_total), sorted by name and labels.
//
// OpenMetrics is first read with the (fast) text parser, which accepts most
// of it; only when that fails (exemplars, float timestamps...) is it parsed
// with expfmt's OpenMetrics parser, which is exact but costs milliseconds a
// line.
//
// ParseExposition builds every series (tens of milliseconds and tens of MiB
// for a 1 MiB exposition). The metrics Verifier that New builds does not
// call it unless its own scanner, which builds only the series its rules
// select, gives up on the exposition.
func ParseExposition(body []byte) ([]Sample, error) {
	body = cutPartialLine(body)
	samples, err := decodeExposition(body, expfmt.FmtText)
	if err == nil {
		return samples, nil
	}
	if !isOpenMetrics(body) {
		return nil, fmt.Errorf("parse Prometheus text exposition: %w", err)
	}
	samples, err = decodeExposition(body, expfmt.FmtOpenMetrics_1_0_0)
	if err != nil {
		return nil, fmt.Errorf("parse OpenMetrics exposition: %w", err)
	}
	return samples, nil
}

func decodeExposition(body []byte, format expfmt.Format) ([]Sample, error) {
	dec := expfmt.NewDecoder(bytes.NewReader(body), format.WithEscapingScheme(model.NoEscaping))
	var fams []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		fams = append(fams, mf)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, fams...)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	out := make([]Sample, 0, len(vec))
	for _, s := range vec {
		if s == nil {
			continue
		}
		labels := make(map[string]string, len(s.Metric))
		var name string
		for k, val := range s.Metric {
			if k == model.MetricNameLabel {
				name = string(val)
				continue
			}
			labels[string(k)] = string(val)
		}
		out = append(out, Sample{Name: name, Labels: labels, Value: float64(s.Value)})
	}
	// The text decoder hands families out in map order: sort, so that
	// messages list series in a stable order.
	keys := make([]string, len(out))
	for i, s := range out {
		keys[i] = s.String()
	}
	sort.Sort(byKey{out, keys})
	return out, nil
}

type byKey struct {
	s    []Sample
	keys []string
}

func (b byKey) Len() int           { return len(b.s) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.s[i], b.s[j] = b.s[j], b.s[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

// isOpenMetrics reports whether body ends with the `# EOF` line that every
// OpenMetrics exposition ends with and the Prometheus text format does not
// have.
func isOpenMetrics(body []byte) bool {
	t := bytes.TrimRight(body, " \t\r\n")
	i := bytes.LastIndexByte(t, '\n')
	return string(bytes.TrimSpace(t[i+1:])) == "# EOF"
}

// quoteLabel quotes a label value the way the exposition formats and
// ParseSelector do: only backslash, double quote and newline are escaped.
func quoteLabel(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
