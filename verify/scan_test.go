package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The scanner (scanExposition) must agree with expfmt (ParseExposition):
// whenever it accepts an exposition, ParseExposition accepts it too and
// yields the same samples; when it gives up, the verifier uses
// ParseExposition, so only acceptance needs proving. These tests also
// check that ordinary expositions are accepted, so that the fast path is
// the one taken.

// sampleStrings renders samples as name{labels} value, sorted; series with
// equal names and labels sort by value (ParseExposition leaves their order
// unspecified).
func sampleStrings(samples []Sample) []string {
	out := make([]string, len(samples))
	for i, s := range samples {
		out[i] = s.String() + " " + formatValue(s.Value)
	}
	sort.Strings(out)
	return out
}

// sortedByKey reports whether samples are in the order ParseExposition
// promises: by name and labels.
func sortedByKey(samples []Sample) bool {
	return slices.IsSortedFunc(samples, func(a, b Sample) int { return strings.Compare(a.String(), b.String()) })
}

// fatalHelper is what testing.T and rapid.T share that the checks use.
type fatalHelper interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkAgainstExpfmt compares the scanner with ParseExposition on body,
// for every series and for the series rules select. It returns whether the
// scanner accepted body.
func checkAgainstExpfmt(t fatalHelper, body []byte, rules []metricRule) bool {
	t.Helper()
	all, accepted := scanExposition(body, &selection{all: true})
	want, err := ParseExposition(body)
	if accepted {
		if err != nil {
			t.Fatalf("the scanner accepts %q, expfmt does not: %v", body, err)
		}
		if g, w := sampleStrings(all), sampleStrings(want); !slices.Equal(g, w) {
			t.Fatalf("exposition %q:\nscanner: %q\nexpfmt:  %q", body, g, w)
		}
		if !sortedByKey(all) {
			t.Fatalf("exposition %q: the scanner's samples are not sorted: %q", body, sampleStrings(all))
		}
	}
	if rules == nil {
		return accepted
	}
	// With rules, the scanner may take what it gives up on for every
	// series (a series it cannot reproduce but the rules do not select).
	sel := newSelection(rules)
	some, ok := scanExposition(body, sel)
	if !ok {
		if accepted {
			t.Fatalf("the scanner accepts %q for every series but not for rules %v", body, rules)
		}
		return false
	}
	if err != nil {
		t.Fatalf("the scanner accepts %q for rules %v, expfmt does not: %v", body, rules, err)
	}
	var filtered []Sample
	for _, s := range want {
		if sel.matches(s.Name, s.Labels) {
			filtered = append(filtered, s)
		}
	}
	if g, w := sampleStrings(some), sampleStrings(filtered); !slices.Equal(g, w) {
		t.Fatalf("exposition %q, rules %v:\nscanner: %q\nexpfmt:  %q", body, rules, g, w)
	}
	// What the verifier reports: the same problems, once series of equal
	// names and labels are put in one order.
	canon := func(s []Sample) []Sample {
		s = slices.Clone(s)
		sort.SliceStable(s, func(i, j int) bool {
			a, b := s[i].String(), s[j].String()
			return a < b || (a == b && formatValue(s[i].Value) < formatValue(s[j].Value))
		})
		return s
	}
	for _, r := range rules {
		if g, w := evaluate(r, canon(some)), evaluate(r, canon(want)); !slices.Equal(g, w) {
			t.Fatalf("exposition %q, rule %v %v: scanner %q, expfmt %q", body, r.sel, r.exp, g, w)
		}
	}
	return accepted
}

func mustRules(t fatalHelper, specs ...string) []metricRule {
	t.Helper()
	var rules []metricRule
	for i := 0; i+1 < len(specs); i += 2 {
		sel, err := ParseSelector(specs[i])
		if err != nil {
			t.Fatal(err)
		}
		exp, err := ParseExpectation(specs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, metricRule{sel: sel, exp: exp})
	}
	return rules
}

// scanCases are hand-picked expositions, each with whether the scanner
// takes it (accepted) or leaves it to ParseExposition.
var scanCases = []struct {
	name     string
	body     string
	accepted bool
}{
	{"empty", "", true},
	{"blanks only", " \t\n\n  ", true},
	{"the exporter of the tests", redisExporterBody, true},
	{"plain", "a 1\nb{l=\"y\"} 2\n", true},
	{"blanks everywhere", " \t a \t { l = \"x\" , m=\"y\" , } \t 1 \t 17\n", true},
	{"no blank before the value", "a{l=\"x\"}1\na+1\na-2\n", true},
	{"empty label set", "a{} 1\n", true},
	{"values", "a{l=\"1\"} NaN\na{l=\"2\"} +Inf\na{l=\"3\"} -Inf\na{l=\"4\"} 1e3\na{l=\"5\"} -0\na{l=\"6\"} .5\na{l=\"7\"} inf\na{l=\"8\"} 12345678901234567890\n", true},
	{"hexadecimal float", "a 0x1p3\n", false},
	{"underscore in value", "a 1_000\n", false},
	{"value out of range", "a 1e400\n", false},
	{"timestamps", "a 1 -5\nb 2 +7\nc 3 9223372036854775807\n", true},
	{"timestamp out of range", "a 1 9223372036854775808\n", false},
	{"float timestamp", "a 1 1.5\n", false},
	{"blank after the value", "a 1 \n", false},
	{"blank after the timestamp", "a 1 2 \n", false},
	{"no final newline", "a 1", false},
	{"blanks after the final newline", "a 1\n \t", true},
	{"CRLF", "a 1\r\n", false},
	{"escaped label values", "a{l=\"\\\"\\\\\\n\"} 1\nb{l=\"\\\"\\\\\\n\"} 2\nb{l=\"x\"} 3\n", true},
	{"invalid escape", "a{l=\"\\t\"} 1\n", false},
	{"UTF-8 label value", "a{l=\"é\"} 1\n", true},
	{"invalid UTF-8 label value", "a{l=\"\xff\"} 1\n", false},
	{"duplicate label", "a{l=\"x\",l=\"y\"} 1\n", false},
	{"reserved label", "a{__name__=\"x\"} 1\n", false},
	{"quoted metric name", "{\"a.b\"} 1\n", false},
	{"quote within a name", "a\"b\" 1\n", false},
	{"invalid metric name", "1a 1\n", false},
	{"HELP and TYPE", "# HELP a some \\\\ help \\n \\\" text\n# TYPE a gauge\na 1\n", true},
	{"indented comments", "  # HELP a x\n\t# TYPE a gauge\n#\tHELP\tb\ty\na 1\n", true},
	{"comments", "#\n# \n# just a comment\n#HELP\n# HELP\n# HELP a\n# TYPE a\n# EOF\na 1\n", true},
	{"keyword without blank", "#TYPE a counter\na 1\n", true},
	{"second HELP", "# HELP a x\n# HELP a y\na 1\n", false},
	{"second TYPE", "# TYPE a gauge\n# TYPE a counter\na 1\n", false},
	{"TYPE after samples", "a 1\n# TYPE a gauge\n", false},
	{"unknown type", "# TYPE a gauges\na 1\n", false},
	{"type in capitals", "# TYPE a GAUGE\n# TYPE b Counter\na 1\nb 1\n", true},
	{"type with a blank after it", "# TYPE a gauge \na 1\n", false},
	{"type with a backslash", "# TYPE a gau\\ge\na 1\n", false},
	{"invalid HELP escape", "# HELP a x\\t\na 1\n", false},
	{"summary", "# TYPE s summary\ns{l=\"x\",quantile=\"0.50\"} 1\ns{quantile=\"1e-1\",l=\"x\"} 2\ns_sum{l=\"x\"} 3\ns_count{l=\"x\"} 4\ns_count{l=\"y\"} 5.7\n", true},
	{"quantile and le in exponent form", "# TYPE s summary\ns{quantile=\"1e-7\"} 1\n# TYPE h histogram\nh_bucket{le=\"1e+06\"} 1\nh_bucket{le=\"2.5e-05\"} 1\n", true},
	{"summary without quantile", "# TYPE s summary\ns{l=\"x\"} 1\ns{quantile=\"NaN\"} 2\n", true},
	{"summary bad quantile", "# TYPE s summary\ns{quantile=\"x\"} 1\n", false},
	{"summary negative count", "# TYPE s summary\ns_count -1\n", false},
	{"histogram", "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 2.5\nh{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n", true},
	{"histogram without +Inf", "# TYPE h histogram\nh_bucket{le=\"1\",l=\"x\"} 1\nh_count{l=\"x\"} 1.5\nh_count{l=\"x\"} 2\nh_bucket{l=\"y\"} 1\n", true},
	{"gauge histogram", "# TYPE h gaugehistogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", true},
	{"histogram negative bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n", false},
	{"histogram negative bucket, NaN le", "# TYPE h histogram\nh_bucket{le=\"NaN\"} -1\n", true},
	{"histogram negative zeros", "# TYPE h histogram\nh_bucket{le=\"1\"} -0\nh_count -0\nh_sum -0\n", true},
	{"summary negative zeros", "# TYPE s summary\ns{quantile=\"-0\"} -0\ns_count -0\ns_sum -0\n", true},
	{"histogram negative count", "# TYPE h histogram\nh_count -1\n", false},
	{"duplicate le is no duplicate label", "# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n", true},
	{"a family named like a summary's sum", "a_sum 1\n# TYPE a summary\na_sum 2\na_count 3\n", true},
	{"HELP of a summary's sum", "# TYPE s summary\n# HELP s x\n# HELP s_sum y\ns_sum 1\n", false},
	{"_bucket of a summary is its own family", "# TYPE s summary\ns_bucket 1\ns_sum 2\n", true},
	{"OpenMetrics", "# TYPE a counter\na_total 1 # {t=\"1\"} 1\n# EOF\n", false},
}

// TestScanExposition: the scanner agrees with expfmt on scanCases, and
// takes those it should.
func TestScanExposition(t *testing.T) {
	rules := mustRules(t, "a", ">0", `a{l="x"}`, "1", "s", ">0", "s_sum", ">0", "s_count", ">0",
		"h_bucket", ">0", `h_bucket{le="+Inf"}`, "1", "h_count", ">0", "h_sum", "<1", `b{l!="\"\\\n"}`, "1")
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkAgainstExpfmt(t, []byte(tc.body), rules); got != tc.accepted {
				t.Errorf("accepted %v, want %v", got, tc.accepted)
			}
		})
	}
}

// TestScanExpositionCutBody: a body cut at MaxBodyBytes loses its partial
// last line, as with ParseExposition.
func TestScanExpositionCutBody(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < MaxBodyBytes+100; i++ {
		fmt.Fprintf(&b, "series_%d{pod=\"redis-0\"} %d\n", i, i)
	}
	body := []byte(b.String())[:MaxBodyBytes]
	if !checkAgainstExpfmt(t, body, mustRules(t, "series_1", "1")) {
		t.Fatal("the scanner gives up on a cut body")
	}
}

// Pieces of generated expositions: names that collide as families and
// their _sum, _count and _bucket; valid and invalid labels, values,
// timestamps, types and help texts.
var (
	genNames       = []string{"a", "b", "a_sum", "a_count", "a_bucket", "h", "h_bucket", "h_sum", "h_count", "s", "s_sum", "s_count", "s_bucket", "x:y", "_z", "_count", "_sum"}
	genLabelNames  = []string{"l", "m", "le", "quantile", "L_1"}
	genBadLabels   = []string{"__name__", "1x", "x:y", `"q"`, "a.b", ""}
	genLabelValues = []string{"", "x", "0.5", "0.50", "1", "+Inf", "Inf", "-Inf", "NaN", "1e3", "1e-7", "1e+06", "-0", "-1", `\"`, `\\`, `\n`, "é", "a b", "}", ",", "{", "#", "="}
	genBadValues   = []string{"\xff", `a\tb`, `\`, "\n"}
	genValues      = []string{"0", "1", "-1", "1.5", "-0", "0.0", "NaN", "nan", "+Inf", "-Inf", "Inf", "inf", "infinity", "+infinity", "1e3", "1E-3", ".5", "5.", "+3", "007", "2.7", "4.5", "9007199254740993", "12345678901234567890", "1.5e19", "9.3e18", "1e-320"}
	genBadNumbers  = []string{"0x1p3", "0x10", "1_0", "1e400", "-1e400", "abc", "", "1e", "--1", "0x1.8p1", "1,5", "1\r"}
	genTimestamps  = []string{"123", "-5", "+7", "0", "9223372036854775807", "-9223372036854775808", "0123"}
	genBadStamps   = []string{"9223372036854775808", "1.5", "0x1", "1e3", "abc", "1_0"}
	genTypes       = []string{"counter", "gauge", "summary", "histogram", "untyped", "gauge_histogram", "gaugehistogram", "GAUGE", "Counter", "HiStOgRaM"}
	genBadTypes    = []string{"bogus", "gauge ", "ga\\uge", "ſummary", "", "info", "stateset"}
	genHelps       = []string{"text", `with \\ backslash`, `with \n newline`, `with \" quote`, "é", "\xff", "  spaced  ", "#"}
	genBadHelps    = []string{`bad \t escape`, `trailing \`}
	genBlanks      = []string{"", " ", "\t", "  \t"}
	genComments    = []string{"#", "# EOF", "# some comment", "#HELP", "# HELP", "# TYPE x", "# HELP a", "#  \t", "# UNIT a seconds"}
)

// pick draws from good mostly and from bad sometimes.
func pick(t *rapid.T, label string, good, bad []string) string {
	if len(bad) > 0 && rapid.IntRange(0, 19).Draw(t, label+"Bad") == 0 {
		return rapid.SampledFrom(bad).Draw(t, label)
	}
	return rapid.SampledFrom(good).Draw(t, label)
}

func blank(t *rapid.T, label string, nonEmpty bool) string {
	if nonEmpty {
		return rapid.SampledFrom(genBlanks[1:]).Draw(t, label)
	}
	return rapid.SampledFrom(genBlanks).Draw(t, label)
}

func genSampleLine(t *rapid.T) string {
	var b strings.Builder
	b.WriteString(blank(t, "lead", false))
	b.WriteString(pick(t, "name", genNames, []string{`"a.b"`, `{"a"`, "1a", `a"b"`, ""}))
	if rapid.Bool().Draw(t, "hasLabels") {
		b.WriteString(blank(t, "beforeLabels", false))
		b.WriteString("{")
		n := rapid.IntRange(0, 3).Draw(t, "labels")
		for i := range n {
			if i > 0 {
				b.WriteString(blank(t, "beforeComma", false) + ",")
			}
			b.WriteString(blank(t, "beforeLabel", false))
			b.WriteString(pick(t, "label", genLabelNames, genBadLabels))
			b.WriteString(blank(t, "beforeEq", false) + "=" + blank(t, "afterEq", false))
			b.WriteString(`"` + pick(t, "value", genLabelValues, genBadValues) + `"`)
		}
		if n > 0 && rapid.IntRange(0, 4).Draw(t, "trailingComma") == 0 {
			b.WriteString(",")
		}
		b.WriteString(blank(t, "beforeBrace", false) + "}")
		b.WriteString(blank(t, "afterBrace", false))
	} else {
		b.WriteString(blank(t, "sep", rapid.IntRange(0, 9).Draw(t, "glued") != 0))
	}
	b.WriteString(pick(t, "number", genValues, genBadNumbers))
	if rapid.IntRange(0, 3).Draw(t, "hasStamp") == 0 {
		b.WriteString(blank(t, "beforeStamp", true))
		b.WriteString(pick(t, "stamp", genTimestamps, genBadStamps))
	}
	if rapid.IntRange(0, 19).Draw(t, "trailing") == 0 {
		b.WriteString(blank(t, "trailingBlank", true))
	}
	return b.String()
}

func genLine(t *rapid.T) string {
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return "#" + blank(t, "h1", false) + "HELP" + blank(t, "h2", true) + pick(t, "helpName", genNames, nil) +
			blank(t, "h3", true) + pick(t, "help", genHelps, genBadHelps)
	case 1, 2:
		return "#" + blank(t, "t1", false) + "TYPE" + blank(t, "t2", true) + pick(t, "typeName", genNames, nil) +
			" " + pick(t, "type", genTypes, genBadTypes)
	case 3:
		return rapid.SampledFrom(genComments).Draw(t, "comment")
	case 4:
		return blank(t, "blankLine", false)
	}
	return genSampleLine(t)
}

// genExposition draws an exposition of generated lines, sometimes with a
// byte changed, and rules for it.
func genExposition(t *rapid.T) ([]byte, []metricRule) {
	lines := rapid.SliceOfN(rapid.Custom(genLine), 0, 25).Draw(t, "lines")
	body := strings.Join(lines, "\n")
	if len(lines) > 0 && rapid.IntRange(0, 9).Draw(t, "noFinalNewline") != 0 {
		body += "\n"
	}
	if len(body) > 0 && rapid.IntRange(0, 4).Draw(t, "mutate") == 0 {
		i := rapid.IntRange(0, len(body)-1).Draw(t, "at")
		c := rapid.SampledFrom([]byte(" \t\n{}\",=#\\a1_:.+-")).Draw(t, "byte")
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0:
			body = body[:i] + string(c) + body[i+1:]
		case 1:
			body = body[:i] + string(c) + body[i:]
		default:
			body = body[:i] + body[i+1:]
		}
	}
	return []byte(body), genRules(t)
}

func genRules(t *rapid.T) []metricRule {
	var rules []metricRule
	for i := range rapid.IntRange(1, 4).Draw(t, "rules") {
		sel := Selector{Name: rapid.SampledFrom(genNames[:len(genNames)-2]).Draw(t, fmt.Sprint("rule", i))}
		for j := range rapid.IntRange(0, 2).Draw(t, fmt.Sprint("matchers", i)) {
			sel.Labels = append(sel.Labels, LabelMatcher{
				Name:  rapid.SampledFrom(genLabelNames).Draw(t, fmt.Sprint("matcherName", i, j)),
				Value: unescapeLabel([]byte(rapid.SampledFrom(genLabelValues).Draw(t, fmt.Sprint("matcherValue", i, j))), true),
				Not:   rapid.Bool().Draw(t, fmt.Sprint("not", i, j)),
			})
		}
		exp := rapid.SampledFrom([]Expectation{{OpGt, 0}, {OpEq, 1}, {OpNe, 0}, {OpLe, 2}}).Draw(t, fmt.Sprint("exp", i))
		rules = append(rules, metricRule{sel: sel, exp: exp})
	}
	return rules
}

// TestScanAgreesWithExpfmt: generated expositions, valid or not.
func TestScanAgreesWithExpfmt(t *testing.T) {
	accepted, total := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		body, rules := genExposition(t)
		total++
		if checkAgainstExpfmt(t, body, rules) {
			accepted++
		}
	})
	// Most generated lines are valid, so a good share of the expositions
	// are: the comparison must not be vacuous.
	if accepted < total/10 {
		t.Errorf("the scanner accepted %d of %d generated expositions", accepted, total)
	}
	t.Logf("the scanner accepted %d of %d generated expositions", accepted, total)
}

// genWellFormed draws an exposition an exporter could write: families of
// distinct names, HELP and TYPE first, series of their type.
func genWellFormed(t *rapid.T) []byte {
	var b strings.Builder
	labels := func(i int, extra string) string {
		var parts []string
		for j := range rapid.IntRange(0, 2).Draw(t, fmt.Sprint("nlabels", i)) {
			parts = append(parts, fmt.Sprintf("%s=%q", genLabelNames[j*4%5], rapid.SampledFrom([]string{"", "x", "y", "é", "a\"b", "a\\b", "a\nb"}).Draw(t, fmt.Sprint("lv", i, j))))
		}
		if extra != "" {
			parts = append(parts, extra)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	value := func(label string) string {
		return rapid.SampledFrom([]string{"0", "1", "42", "1.5", "1e3", "NaN", "+Inf", "-2"}).Draw(t, label)
	}
	count := func(label string) string {
		return rapid.SampledFrom([]string{"0", "1", "42", "1e3", "2.5"}).Draw(t, label)
	}
	for f := range rapid.IntRange(0, 8).Draw(t, "families") {
		name := fmt.Sprintf("fam_%d", f)
		typ := rapid.SampledFrom([]string{"counter", "gauge", "untyped", "summary", "histogram", "", "gaugehistogram"}).Draw(t, fmt.Sprint("type", f))
		if rapid.Bool().Draw(t, fmt.Sprint("help", f)) {
			fmt.Fprintf(&b, "# HELP %s Some \\\\ help \\n text\n", name)
		}
		if typ != "" {
			fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
		}
		for i := range rapid.IntRange(1, 6).Draw(t, fmt.Sprint("series", f)) {
			stamp := ""
			if rapid.IntRange(0, 3).Draw(t, fmt.Sprint("stamp", f, i)) == 0 {
				stamp = " 1700000000000"
			}
			switch typ {
			case "summary":
				ls := labels(i, "")
				for _, q := range []string{"0.5", "0.9", "0.99", "1e-7"} {
					fmt.Fprintf(&b, "%s%s %s%s\n", name, labels(i, fmt.Sprintf("quantile=%q", q)), value("q"), stamp)
				}
				fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %s\n", name, ls, value("sum"), name, ls, count("count"))
			case "histogram", "gaugehistogram":
				ls := labels(i, "")
				for _, le := range []string{"1e-05", "0.1", "1", "1e+06", "+Inf"}[:rapid.IntRange(1, 5).Draw(t, "buckets")] {
					fmt.Fprintf(&b, "%s_bucket%s %s\n", name, labels(i, fmt.Sprintf("le=%q", le)), count("bucket"))
				}
				fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %s\n", name, ls, value("sum"), name, ls, count("count"))
			default:
				fmt.Fprintf(&b, "%s%s %s%s\n", name, labels(i, ""), value("v"), stamp)
			}
		}
	}
	return []byte(b.String())
}

// TestScanWellFormed: the scanner takes every exposition an exporter
// would write, and agrees with expfmt on it.
func TestScanWellFormed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genWellFormed(t)
		var rules []metricRule
		for i := range rapid.IntRange(1, 3).Draw(t, "rules") {
			name := fmt.Sprintf("fam_%d", rapid.IntRange(0, 8).Draw(t, fmt.Sprint("ruleFam", i)))
			name += rapid.SampledFrom([]string{"", "_sum", "_count", "_bucket"}).Draw(t, fmt.Sprint("ruleSuffix", i))
			rules = append(rules, metricRule{sel: Selector{Name: name}, exp: Expectation{OpGe, 0}})
		}
		if !checkAgainstExpfmt(t, body, rules) {
			t.Fatalf("the scanner gives up on a well-formed exposition:\n%s", body)
		}
	})
}

// FuzzScanExposition: on any input, the scanner either gives up or agrees
// with expfmt, for every series and for the series that rules pick.
func FuzzScanExposition(f *testing.F) {
	for _, s := range []string{
		redisExporterBody,
		"a 1\nb{x=\"y\"} 2\n",
		"# TYPE s summary\ns{l=\"x\",quantile=\"0.5\"} 1\ns_sum{l=\"x\"} 3\ns_count{l=\"x\"} 4\n",
		"# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n",
		"# HELP a x \\\\ \\n\n# TYPE a gauge\na{l=\"\\\"\"} NaN 17\n",
		"a_sum 1\n# TYPE a summary\na_sum 2\na_count 3\n",
		"# TYPE a counter\na_total 1 # {t=\"1\"} 1\n# EOF\n",
		"{\"a.b\"} 1\n",
		"a 1",
	} {
		f.Add([]byte(s), uint8(0xff))
	}
	for i, tc := range scanCases {
		f.Add([]byte(tc.body), uint8(i))
	}
	candidates := []string{
		"a", `a{l="x"}`, `a{l!="x"}`, "a_sum", "a_count", "s", `s{quantile="0.5"}`, "s_sum", "s_count",
		"h_bucket", `h_bucket{le="+Inf"}`, "h_count", "h_sum", "b",
	}
	f.Fuzz(func(t *testing.T, body []byte, pick uint8) {
		rng := rand.New(rand.NewPCG(uint64(pick), 1))
		var specs []string
		for i := range 1 + pick%4 {
			specs = append(specs, candidates[rng.IntN(len(candidates))], fmt.Sprint(">", i))
		}
		checkAgainstExpfmt(t, body, mustRules(t, specs...))
	})
}

// TestMetricsVerifierScansCheaply: an attempt on a large, ordinary
// exposition takes the scanner's path: a handful of allocations, not one
// per line.
func TestMetricsVerifierScansCheaply(t *testing.T) {
	body := benchExposition(512 << 10)
	v, err := New(metrics("redis_up", "1", `app_keys_0{db="db1"}`, ">=0", "app_latency_seconds_2_count", "500"), &fakeAccess{get: answer(200, string(body))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Verify(ctx, pod); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		if err := v.Verify(ctx, pod); err != nil {
			t.Fatal(err)
		}
	})
	// A few dozen allocations an attempt (more under -race, whose
	// sync.Pool drops scanners at random); ParseExposition makes 30 a line.
	if lines := strings.Count(string(body), "\n"); allocs > float64(lines)/20 {
		t.Errorf("an attempt on %d lines allocates %v times", lines, allocs)
	}
}

// TestMetricsVerifierMalformedLine: one bad line in a large exposition
// makes the attempt error, naming the line, as ParseExposition does.
func TestMetricsVerifierMalformedLine(t *testing.T) {
	body := string(benchExposition(256 << 10))
	lines := strings.SplitAfter(body, "\n")
	at := len(lines) / 2
	lines[at] = "app_keys_x{db=\"db1\" 3\n"
	f := &fakeAccess{get: answer(200, strings.Join(lines, ""))}
	v, err := New(metrics("redis_up", "1"), f)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Verify(context.Background(), pod)
	if Classify(err) != Errored {
		t.Fatalf("got %v (%s), want Errored", err, Classify(err))
	}
	for _, s := range []string{"parse Prometheus text exposition", fmt.Sprintf("line %d:", at+1)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not contain %q", err, s)
		}
	}
}

// benchExposition builds an exporter's worth of families, about size
// bytes: gauges, counters and histograms with HELP and TYPE.
func benchExposition(size int) []byte {
	var b strings.Builder
	b.WriteString("# HELP redis_up Information about the Redis instance\n# TYPE redis_up gauge\nredis_up 1\n")
	for f := 0; b.Len() < size; f++ {
		switch f % 3 {
		case 0:
			fmt.Fprintf(&b, "# HELP app_keys_%d Keys per database\n# TYPE app_keys_%d gauge\n", f, f)
			for s := range 50 {
				fmt.Fprintf(&b, "app_keys_%d{db=\"db%d\",shard=\"shard-%d\"} %d\n", f, s, s%7, s*1000+f)
			}
		case 1:
			fmt.Fprintf(&b, "# TYPE app_commands_total_%d counter\n", f)
			for s := range 50 {
				fmt.Fprintf(&b, "app_commands_total_%d{cmd=\"cmd%d\"} %d 1700000000000\n", f, s, s*123456+f)
			}
		default:
			fmt.Fprintf(&b, "# TYPE app_latency_seconds_%d histogram\n", f)
			for s := range 4 {
				for i, le := range []string{"0.001", "0.01", "0.1", "1", "+Inf"} {
					fmt.Fprintf(&b, "app_latency_seconds_%d_bucket{cmd=\"cmd%d\",le=\"%s\"} %d\n", f, s, le, (i+1)*100)
				}
				fmt.Fprintf(&b, "app_latency_seconds_%d_sum{cmd=\"cmd%d\"} 12.5\napp_latency_seconds_%d_count{cmd=\"cmd%d\"} 500\n", f, s, f, s)
			}
		}
	}
	return []byte(b.String())
}
