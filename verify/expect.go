package verify

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Op is a comparison of a metric expectation.
type Op string

// Comparisons.
const (
	OpEq Op = "=="
	OpNe Op = "!="
	OpGt Op = ">"
	OpGe Op = ">="
	OpLt Op = "<"
	OpLe Op = "<="
)

// Expectation is a parsed metric expectation such as ">=0.99".
type Expectation struct {
	Op    Op
	Value float64
}

// ParseExpectation parses `1`, `"==1"`, `">0"`, `">=0.99"`, `"<5"`, `"<=5"`,
// `"!=0"`. A bare number means ==. Surrounding spaces are allowed; NaN is
// refused.
func ParseExpectation(s string) (Expectation, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Expectation{}, fmt.Errorf("empty expectation: want a number or a comparison such as \">0\"")
	}
	op := OpEq
	for _, o := range []Op{OpGe, OpLe, OpEq, OpNe, OpGt, OpLt} {
		if strings.HasPrefix(t, string(o)) {
			op = o
			t = strings.TrimSpace(t[len(o):])
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) {
		return Expectation{}, fmt.Errorf("expectation %q: want a number or a comparison (==, !=, >, >=, <, <=) followed by a number", s)
	}
	return Expectation{Op: op, Value: v}, nil
}

// Holds reports whether v satisfies the expectation.
func (e Expectation) Holds(v float64) bool {
	switch e.Op {
	case OpEq:
		return v == e.Value
	case OpNe:
		return v != e.Value
	case OpGt:
		return v > e.Value
	case OpGe:
		return v >= e.Value
	case OpLt:
		return v < e.Value
	case OpLe:
		return v <= e.Value
	}
	return false
}

// String renders the expectation as it would be written.
func (e Expectation) String() string {
	return string(e.Op) + strconv.FormatFloat(e.Value, 'g', -1, 64)
}

// Selector is a metric name with optional label matchers:
// `redis_up{role="master"}`. Only equality matchers (=) and inequality (!=)
// are supported.
type Selector struct {
	Name   string
	Labels []LabelMatcher
}

// LabelMatcher is one label=value or label!=value matcher.
type LabelMatcher struct {
	Name  string
	Value string
	Not   bool
}

// ParseSelector parses a metric name with optional label matchers.
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	name, rest, hasLabels := strings.Cut(s, "{")
	name = strings.TrimSpace(name)
	if !validMetricName(name) {
		return Selector{}, fmt.Errorf("metric name %q: want [a-zA-Z_:][a-zA-Z0-9_:]*", name)
	}
	sel := Selector{Name: name}
	if !hasLabels {
		return sel, nil
	}
	if !strings.HasSuffix(rest, "}") {
		return Selector{}, fmt.Errorf("metric %q: label matchers must end with }", s)
	}
	rest = strings.TrimSpace(rest[:len(rest)-1])
	for rest != "" {
		i := strings.IndexAny(rest, "=!")
		if i <= 0 {
			return Selector{}, fmt.Errorf("metric %q: want label=\"value\" matchers", s)
		}
		m := LabelMatcher{Name: strings.TrimSpace(rest[:i])}
		if !validLabelName(m.Name) {
			return Selector{}, fmt.Errorf("metric %q: bad label name %q", s, m.Name)
		}
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "!="):
			m.Not = true
			rest = rest[2:]
		case strings.HasPrefix(rest, "=~"), strings.HasPrefix(rest, "!~"):
			return Selector{}, fmt.Errorf("metric %q: regular-expression label matchers are not supported", s)
		case strings.HasPrefix(rest, "="):
			rest = rest[1:]
		default:
			return Selector{}, fmt.Errorf("metric %q: want = or != after label %q", s, m.Name)
		}
		rest = strings.TrimSpace(rest)
		v, tail, err := quoted(rest)
		if err != nil {
			return Selector{}, fmt.Errorf("metric %q: label %q: %v", s, m.Name, err)
		}
		m.Value = v
		sel.Labels = append(sel.Labels, m)
		rest = strings.TrimSpace(tail)
		if strings.HasPrefix(rest, ",") {
			rest = strings.TrimSpace(rest[1:])
		} else if rest != "" {
			return Selector{}, fmt.Errorf("metric %q: want , between label matchers", s)
		}
	}
	return sel, nil
}

func quoted(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", fmt.Errorf("value must be double-quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", "", fmt.Errorf("unterminated escape")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated quoted value")
}

func validMetricName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		if c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

func validLabelName(n string) bool {
	return validMetricName(n) && !strings.Contains(n, ":")
}

// Matches reports whether a series with the given name and labels is
// selected.
func (s Selector) Matches(name string, labels map[string]string) bool {
	if name != s.Name {
		return false
	}
	for _, m := range s.Labels {
		if (labels[m.Name] == m.Value) == m.Not {
			return false
		}
	}
	return true
}

// String renders the selector so that ParseSelector reads it back to an
// equal Selector: label values escape only backslash, double quote and
// newline, as the exposition formats do.
func (s Selector) String() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	parts := make([]string, len(s.Labels))
	for i, m := range s.Labels {
		op := "="
		if m.Not {
			op = "!="
		}
		parts[i] = m.Name + op + quoteLabel(m.Value)
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}
