package verify

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

// This file is the metrics verifier's fast path: a scanner of the
// Prometheus text exposition that accepts only what expfmt's text parser
// (the first parser ParseExposition tries) accepts, yields the same
// samples, but only builds those the verifier's rules can select. Every
// line is still checked the way expfmt checks it — names, label syntax and
// escapes, duplicate label names, UTF-8 of label values, values,
// timestamps, HELP and TYPE once per family and TYPE before samples,
// summary and histogram specifics — without allocating per line.
//
// The scanner does not report errors itself. On anything it is not sure to
// reproduce exactly — every malformed exposition, but also forms that are
// valid yet unusual, such as quoted UTF-8 names or a summary's count that
// is not a number of observations — it gives up, and the caller runs
// ParseExposition, which yields the samples or the error (naming the line,
// and after trying the OpenMetrics parser) that the verifier always gave.

// famType is the type of a metric family, as the text parser sees it.
type famType uint8

const (
	typeUnset famType = iota // no TYPE line and no sample yet
	typeCounter
	typeGauge
	typeUntyped
	typeSummary
	typeHistogram // histogram and gauge histogram, which parse alike
)

// lineKind tells what a sample line is to a summary or histogram family:
// its _sum, its _count, or anything else (a quantile, a bucket).
type lineKind uint8

const (
	linePlain lineKind = iota
	lineSum
	lineCount
)

// selection is what a metrics verifier's rules can select: the series of
// which families the scanner must build.
type selection struct {
	all      bool             // build every sample (tests)
	rules    []metricRule     // the verifier's rules
	byName   map[string][]int // selector name → indexes in rules
	sumCount map[string]bool  // family names whose _sum or _count is selected
	bucket   map[string]bool  // family names whose _bucket is selected
}

func newSelection(rules []metricRule) *selection {
	s := &selection{rules: rules, byName: map[string][]int{}, sumCount: map[string]bool{}, bucket: map[string]bool{}}
	for i, r := range rules {
		n := r.sel.Name
		s.byName[n] = append(s.byName[n], i)
		for _, suffix := range []string{"_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && base != "" {
				s.sumCount[base] = true
			}
		}
		if base, ok := strings.CutSuffix(n, "_bucket"); ok && base != "" {
			s.bucket[base] = true
		}
	}
	return s
}

// matches reports whether a rule selects the series.
func (s *selection) matches(name string, labels map[string]string) bool {
	if s.all {
		return true
	}
	for _, r := range s.rules {
		if r.sel.Matches(name, labels) {
			return true
		}
	}
	return false
}

// family is the text parser's view of one metric family.
type family struct {
	name     []byte // within the body being scanned
	hash     uint64
	typ      famType
	help     bool // a HELP line was seen
	decided  bool // selected is known: set at the first sample, when the type is final
	selected bool
	nameStr  string        // name, when selected
	rules    []int         // rules selecting this (counter, gauge, untyped) family by name
	groups   *seriesGroups // series of a selected summary or histogram
}

// famTable maps names to families: an open-addressing hash table over
// names within the body, so that scanning allocates nothing per family.
type famTable struct {
	seed  maphash.Seed
	slots []int32 // 1 + index in fams; 0 is an empty slot. len is a power of two
	fams  []family
}

func (t *famTable) find(name []byte) int {
	if len(t.slots) == 0 {
		return -1
	}
	h := maphash.Bytes(t.seed, name)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		x := t.slots[i]
		if x == 0 {
			return -1
		}
		if f := &t.fams[x-1]; f.hash == h && bytes.Equal(f.name, name) {
			return int(x - 1)
		}
	}
}

func (t *famTable) add(name []byte) int {
	if 2*(len(t.fams)+1) > len(t.slots) {
		t.slots = make([]int32, max(2*len(t.slots), 256))
		for i := range t.fams {
			t.place(t.fams[i].hash, i)
		}
	}
	h := maphash.Bytes(t.seed, name)
	t.fams = append(t.fams, family{name: name, hash: h})
	t.place(h, len(t.fams)-1)
	return len(t.fams) - 1
}

func (t *famTable) place(h uint64, idx int) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i] == 0 {
			t.slots[i] = int32(idx + 1)
			return
		}
	}
}

// labelPair is one label of the line being scanned, as offsets in the
// line (no pointers: appending one costs no write barrier).
type labelPair struct {
	nameStart, nameEnd   int32
	valueStart, valueEnd int32 // the value as written between the quotes
	escaped              bool  // the value holds escape sequences
}

func (p labelPair) name(l []byte) []byte  { return l[p.nameStart:p.nameEnd] }
func (p labelPair) value(l []byte) []byte { return l[p.valueStart:p.valueEnd] }

// maxScannedLabels bounds the labels of a line the scanner checks for
// duplicates (pairwise); a line with more goes to ParseExposition.
const maxScannedLabels = 64

// scanner holds the state of one scan; scanners are pooled.
type scanner struct {
	sel   *selection
	fams  famTable
	cur   []byte      // the line being scanned
	pairs []labelPair // its labels
	key   []byte
	order []int
	out   []Sample

	// The family the last sample line's name resolved to: consecutive lines
	// of one family skip the lookup. A name's resolution never changes once
	// made (see resolve).
	lastName []byte
	lastFam  int
	lastKind lineKind
}

var scannerPool = sync.Pool{New: func() any { return &scanner{fams: famTable{seed: maphash.MakeSeed()}} }}

// A scanner that grew larger than this is not kept for the next scan.
const (
	maxPooledFamilies = 1 << 14
	maxPooledKey      = 1 << 16
)

func (s *scanner) reset() {
	clear(s.fams.fams) // drop the references to the body
	s.fams.fams = s.fams.fams[:0]
	clear(s.fams.slots)
	s.pairs = s.pairs[:0]
	s.sel, s.out, s.lastName, s.cur = nil, nil, nil, nil
}

// scanExposition returns the samples of body that sel can select, as
// ParseExposition would return them (sorted alike; series with equal
// names and labels keep the order of their lines). ok is false when the
// scanner cannot vouch for the answer: the caller must then use
// ParseExposition.
func scanExposition(body []byte, sel *selection) (samples []Sample, ok bool) {
	body = cutPartialLine(body)
	s := scannerPool.Get().(*scanner)
	defer func() {
		big := len(s.fams.fams) > maxPooledFamilies || cap(s.key) > maxPooledKey
		s.reset()
		if !big {
			scannerPool.Put(s)
		}
	}()
	s.sel = sel
	for i := 0; i < len(body); {
		n := bytes.IndexByte(body[i:], '\n')
		if n < 0 {
			// Only blanks may follow the last newline: anything else is
			// an unexpected end of input to the text parser.
			if !allBlank(body[i:]) {
				return nil, false
			}
			break
		}
		if !s.line(body[i : i+n]) {
			return nil, false
		}
		i += n + 1
	}
	return s.finish(), true
}

// cutPartialLine drops the partial last line of a body cut at MaxBodyBytes.
func cutPartialLine(body []byte) []byte {
	if len(body) >= MaxBodyBytes {
		if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
			body = body[:i+1]
		}
	}
	return body
}

// line scans one line, without its newline. It returns false where the
// scan must give up.
func (s *scanner) line(l []byte) bool {
	j := skipBlanks(l, 0)
	switch {
	case j == len(l):
		return true
	case l[j] == '#':
		return s.comment(l, j+1)
	}
	return s.sample(l, j)
}

// comment scans a comment line from just after its '#'.
func (s *scanner) comment(l []byte, j int) bool {
	j = skipBlanks(l, j)
	k := tokenEnd(l, j)
	if k == len(l) {
		return true // a lone word is a comment, even HELP or TYPE
	}
	help := string(l[j:k]) == "HELP"
	if !help && string(l[j:k]) != "TYPE" {
		return true
	}
	j = skipBlanks(l, k)
	if j == len(l) {
		return true
	}
	k, ok := metricNameEnd(l, j)
	if !ok {
		return false
	}
	if k == len(l) {
		return true // HELP or TYPE with a name and nothing else: ignored
	}
	if !isBlank(l[k]) {
		return false // invalid metric name in comment
	}
	fi, _ := s.resolve(l[j:k])
	f := &s.fams.fams[fi]
	j = skipBlanks(l, k)
	if j == len(l) {
		return true
	}
	rest := l[j:]
	if help {
		if f.help {
			return false // second HELP line
		}
		for i := 0; i < len(rest); i++ {
			if rest[i] == '\\' {
				if i++; i == len(rest) || (rest[i] != '\\' && rest[i] != 'n' && rest[i] != '"') {
					return false // invalid escape sequence
				}
			}
		}
		f.help = true
		return true
	}
	if f.typ != typeUnset {
		return false // second TYPE line, or TYPE after samples
	}
	// The text parser drops the backslashes of a type ("gau\ge" is a
	// gauge): a type with one is unknown here and left to it.
	typ, ok := parseType(rest)
	if !ok {
		return false // unknown metric type
	}
	f.typ = typ
	return true
}

// parseType reads the type of a TYPE line as the text parser does:
// strings.ToUpper and the protobuf enum names, or GAUGEHISTOGRAM.
func parseType(b []byte) (famType, bool) {
	var buf [len("GAUGE_HISTOGRAM")]byte
	var up []byte
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	switch {
	case ascii && len(b) > len(buf):
		return 0, false
	case ascii:
		for i, c := range b {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[i] = c
		}
		up = buf[:len(b)]
	default:
		up = []byte(strings.ToUpper(string(b)))
	}
	if string(up) == "GAUGEHISTOGRAM" {
		return typeHistogram, true
	}
	v, ok := dto.MetricType_value[string(up)]
	if !ok {
		return 0, false
	}
	switch dto.MetricType(v) {
	case dto.MetricType_COUNTER:
		return typeCounter, true
	case dto.MetricType_GAUGE:
		return typeGauge, true
	case dto.MetricType_UNTYPED:
		return typeUntyped, true
	case dto.MetricType_SUMMARY:
		return typeSummary, true
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return typeHistogram, true
	}
	return 0, false
}

// resolve finds the family a name belongs to, creating it if needed, the
// way the text parser does: the family of that name if there is one, else
// the summary or histogram it is the _sum, _count (or _bucket) of, else a
// new family. Once made, the resolution of a name never changes: a family
// of that name would only be created by resolving it again, and a type is
// never changed once set.
func (s *scanner) resolve(name []byte) (int, lineKind) {
	t := &s.fams
	if i := t.find(name); i >= 0 {
		return i, linePlain
	}
	kind, base := linePlain, name
	switch n := len(name); {
	case n > 6 && string(name[n-6:]) == "_count":
		kind, base = lineCount, name[:n-6]
	case n > 4 && string(name[n-4:]) == "_sum":
		kind, base = lineSum, name[:n-4]
	case n > 7 && string(name[n-7:]) == "_bucket":
		base = name[:n-7]
	}
	if len(base) < len(name) {
		if i := t.find(base); i >= 0 {
			switch typ := t.fams[i].typ; {
			case typ == typeSummary && kind != linePlain, typ == typeHistogram:
				return i, kind
			}
		}
	}
	return t.add(name), linePlain
}

// sample scans a sample line from its first non-blank byte.
func (s *scanner) sample(l []byte, j int) bool {
	k, ok := metricNameEnd(l, j)
	if !ok || k == j || len(l) > math.MaxInt32 {
		return false // invalid, or quoted, or inside braces; or too long for labelPair
	}
	name := l[j:k]
	var fi int
	var kind lineKind
	if s.lastName != nil && bytes.Equal(name, s.lastName) {
		fi, kind = s.lastFam, s.lastKind
	} else {
		fi, kind = s.resolve(name)
		s.lastName, s.lastFam, s.lastKind = name, fi, kind
	}
	f := &s.fams.fams[fi]
	if f.typ == typeUnset {
		f.typ = typeUntyped
	}
	if !f.decided {
		s.decide(f)
	}
	j = skipBlanks(l, k)
	s.cur, s.pairs = l, s.pairs[:0]
	bound := math.NaN() // the quantile of a summary line, the le of a histogram's
	if j < len(l) && l[j] == '{' {
		if j, ok = s.labels(l, j+1, f.typ, &bound); !ok {
			return false
		}
		j = skipBlanks(l, j)
	}
	k = tokenEnd(l, j)
	v, ok := parseValue(l[j:k])
	if !ok {
		return false
	}
	if k < len(l) {
		j = skipBlanks(l, k)
		k = tokenEnd(l, j)
		if _, err := strconv.ParseInt(string(l[j:k]), 10, 64); err != nil || k != len(l) {
			return false // not a timestamp, or something after it
		}
	}
	if f.typ == typeHistogram {
		switch {
		case kind == lineCount && v < 0:
			return false // negative count
		case kind == linePlain && !math.IsNaN(bound) && v < 0:
			return false // negative bucket population
		}
	}
	if !f.selected {
		return true
	}
	if f.typ == typeSummary || f.typ == typeHistogram {
		return s.group(f, kind, v, bound)
	}
	if s.sel.all || s.matchesAny(f.rules) {
		s.out = append(s.out, Sample{Name: f.nameStr, Labels: s.labelMap(), Value: v})
	}
	return true
}

// decide tells, at a family's first sample, whether the rules can select
// any of its series.
func (s *scanner) decide(f *family) {
	f.decided = true
	sel := s.sel
	switch f.typ {
	case typeSummary:
		f.selected = sel.all || sel.byName[string(f.name)] != nil || sel.sumCount[string(f.name)]
	case typeHistogram:
		f.selected = sel.all || sel.sumCount[string(f.name)] || sel.bucket[string(f.name)]
	default:
		f.rules = sel.byName[string(f.name)]
		f.selected = sel.all || f.rules != nil
	}
	if f.selected {
		f.nameStr = string(f.name)
	}
}

// labels scans a label set from just after its '{' into s.pairs, leaving
// out (into *bound) the quantile label of a summary and the le label of a
// histogram. It returns the index after the closing '}'.
func (s *scanner) labels(l []byte, j int, typ famType, bound *float64) (int, bool) {
	for {
		j = skipBlanks(l, j)
		if j == len(l) {
			return 0, false
		}
		if l[j] == '}' {
			return j + 1, true
		}
		if !isLabelNameStart(l[j]) {
			return 0, false // invalid, or quoted
		}
		k := j + 1
		for k < len(l) && isLabelNameContinuation(l[k]) {
			k++
		}
		if k < len(l) && l[k] == '"' {
			return 0, false // a quote within a name starts a quoted part
		}
		name, nameStart := l[j:k], j
		if j = skipBlanks(l, k); j == len(l) || l[j] != '=' {
			return 0, false
		}
		if string(name) == "__name__" {
			return 0, false // reserved
		}
		special := (typ == typeSummary && string(name) == "quantile") || (typ == typeHistogram && string(name) == "le")
		if !special {
			if len(s.pairs) == maxScannedLabels {
				return 0, false
			}
			for _, p := range s.pairs {
				if bytes.Equal(p.name(l), name) {
					return 0, false // duplicate label names
				}
			}
		}
		if j = skipBlanks(l, j+1); j == len(l) || l[j] != '"' {
			return 0, false
		}
		j++
		start, escaped, high := j, false, false
		for ; ; j++ {
			if j == len(l) {
				return 0, false // unescaped new-line
			}
			c := l[j]
			if c == '"' {
				break
			}
			if c == '\\' {
				if j++; j == len(l) || (l[j] != '"' && l[j] != '\\' && l[j] != 'n') {
					return 0, false // invalid escape sequence
				}
				escaped = true
			} else if c >= utf8.RuneSelf {
				high = true
			}
		}
		value := l[start:j]
		j++
		// Escapes are ASCII: the value is valid UTF-8 unescaped iff it
		// is as written.
		if high && !utf8.Valid(value) {
			return 0, false
		}
		if special {
			// An escaped value holds a quote, a backslash or a newline:
			// no float, as written or unescaped.
			b, ok := parseValue(value)
			if !ok {
				return 0, false
			}
			*bound = b
		} else {
			s.pairs = append(s.pairs, labelPair{
				nameStart: int32(nameStart), nameEnd: int32(nameStart + len(name)),
				valueStart: int32(start), valueEnd: int32(start + len(value)),
				escaped: escaped,
			})
		}
		if j = skipBlanks(l, j); j == len(l) {
			return 0, false
		}
		switch l[j] {
		case ',':
			j++
		case '}':
			return j + 1, true
		default:
			return 0, false
		}
	}
}

// matchesAny reports whether one of the rules selects the line's series,
// comparing its labels where they are written.
func (s *scanner) matchesAny(rules []int) bool {
	for _, ri := range rules {
		if s.matches(s.sel.rules[ri].sel.Labels) {
			return true
		}
	}
	return false
}

func (s *scanner) matches(ms []LabelMatcher) bool {
	for _, m := range ms {
		eq := m.Value == "" // an absent label is empty
		for _, p := range s.pairs {
			if string(p.name(s.cur)) == m.Name {
				eq = equalUnescaped(p.value(s.cur), p.escaped, m.Value)
				break
			}
		}
		if eq == m.Not {
			return false
		}
	}
	return true
}

// equalUnescaped reports whether the label value written as raw is want.
func equalUnescaped(raw []byte, escaped bool, want string) bool {
	if !escaped {
		return string(raw) == want
	}
	w := 0
	for i := 0; i < len(raw); i++ {
		var c byte
		c, i = unescapedAt(raw, i)
		if w == len(want) || want[w] != c {
			return false
		}
		w++
	}
	return w == len(want)
}

func unescapeLabel(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		var c byte
		c, i = unescapedAt(raw, i)
		b = append(b, c)
	}
	return string(b)
}

// unescapedAt returns the byte a label value written as raw holds at i
// (a backslash escape read as one byte: backslash-n is a newline,
// backslash-x is x) and the position of its last raw byte.
func unescapedAt(raw []byte, i int) (byte, int) {
	c := raw[i]
	if c != '\\' {
		return c, i
	}
	i++
	if c = raw[i]; c == 'n' {
		c = '\n'
	}
	return c, i
}

// labelMap builds the labels of the line's series.
func (s *scanner) labelMap() map[string]string {
	m := make(map[string]string, len(s.pairs))
	for _, p := range s.pairs {
		m[string(p.name(s.cur))] = unescapeLabel(p.value(s.cur), p.escaped)
	}
	return m
}

// seriesGroups are the series of one selected summary or histogram, which
// the text parser merges by label set across lines.
type seriesGroups struct {
	byKey map[string]*seriesGroup
	list  []*seriesGroup
}

type seriesGroup struct {
	labels     map[string]string
	points     []boundValue // quantiles or buckets, in line order
	sum        float64
	count      uint64
	countFloat float64 // a histogram's non-integer count
	infSeen    bool    // a histogram has its +Inf bucket
}

type boundValue struct{ bound, value float64 }

// group records a line of a selected summary or histogram as the text
// parser does.
func (s *scanner) group(f *family, kind lineKind, v, bound float64) bool {
	g := s.seriesGroup(f)
	switch kind {
	case lineSum:
		g.sum = v
		return true
	case lineCount:
		if !(v >= 0 && v < 1<<63) {
			return false // converting it to uint64 is implementation-specific
		}
		if f.typ == typeSummary || v == math.Trunc(v) {
			g.count = uint64(v) // a summary's count is truncated
		} else {
			g.countFloat = v
		}
		return true
	}
	if math.IsNaN(bound) {
		return true // no quantile or le (or NaN): the series exists, no point
	}
	if f.typ == typeHistogram {
		if !(v < 1<<63) {
			return false // NaN, +Inf or huge: implementation-specific
		}
		if v == math.Trunc(v) {
			v = float64(uint64(v)) // stored as an integer count (-0 is 0)
		}
		if math.IsInf(bound, 1) {
			g.infSeen = true
		}
	}
	g.points = append(g.points, boundValue{bound, v})
	return true
}

// seriesGroup finds or creates the group of the line's label set.
func (s *scanner) seriesGroup(f *family) *seriesGroup {
	// The key: the labels sorted by name, name and value as written (the
	// writing of a value is unique), each followed by 0xff, which no name
	// nor valid UTF-8 holds.
	s.order = s.order[:0]
	for i := range s.pairs {
		s.order = append(s.order, i)
		for k := len(s.order) - 1; k > 0 && bytes.Compare(s.pairs[s.order[k]].name(s.cur), s.pairs[s.order[k-1]].name(s.cur)) < 0; k-- {
			s.order[k], s.order[k-1] = s.order[k-1], s.order[k]
		}
	}
	s.key = s.key[:0]
	for _, i := range s.order {
		s.key = append(append(s.key, s.pairs[i].name(s.cur)...), 0xff)
		s.key = append(append(s.key, s.pairs[i].value(s.cur)...), 0xff)
	}
	gs := f.groups
	if gs == nil {
		gs = &seriesGroups{byKey: map[string]*seriesGroup{}}
		f.groups = gs
	}
	if g := gs.byKey[string(s.key)]; g != nil {
		return g
	}
	g := &seriesGroup{labels: s.labelMap()}
	gs.byKey[string(s.key)] = g
	gs.list = append(gs.list, g)
	return g
}

// finish adds the series of the selected summaries and histograms, as
// expfmt.ExtractSamples makes them, to the samples and sorts them.
func (s *scanner) finish() []Sample {
	out := s.out
	add := func(name string, labels map[string]string, v float64) {
		if s.sel.matches(name, labels) {
			out = append(out, Sample{Name: name, Labels: labels, Value: v})
		}
	}
	with := func(labels map[string]string, k, v string) map[string]string {
		m := make(map[string]string, len(labels)+1)
		for n, x := range labels {
			m[n] = x
		}
		m[k] = v
		return m
	}
	for i := range s.fams.fams {
		f := &s.fams.fams[i]
		if f.groups == nil {
			continue
		}
		for _, g := range f.groups.list {
			if f.typ == typeSummary {
				for _, q := range g.points {
					add(f.nameStr, with(g.labels, "quantile", fmt.Sprint(q.bound)), q.value)
				}
				add(f.nameStr+"_sum", g.labels, g.sum)
				add(f.nameStr+"_count", g.labels, float64(g.count))
				continue
			}
			for _, b := range g.points {
				add(f.nameStr+"_bucket", with(g.labels, "le", fmt.Sprint(b.bound)), b.value)
			}
			count := g.countFloat
			if count <= 0 {
				count = float64(g.count)
			}
			add(f.nameStr+"_sum", g.labels, g.sum)
			add(f.nameStr+"_count", g.labels, count)
			if !g.infSeen {
				add(f.nameStr+"_bucket", with(g.labels, "le", "+Inf"), count)
			}
		}
	}
	keys := make([]string, len(out))
	for i, x := range out {
		keys[i] = x.String()
	}
	sort.Stable(byKey{out, keys})
	return out
}

// parseValue parses a sample value (or a quantile or le) as the text
// parser does: strconv.ParseFloat, without hexadecimal floats or
// underscores.
func parseValue(b []byte) (float64, bool) {
	if v, ok := smallInteger(b); ok {
		return v, true
	}
	for _, c := range b {
		if c == 'p' || c == 'P' || c == '_' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	return v, err == nil
}

// smallInteger parses 1 to 15 decimal digits, the common value, exactly
// (they are under 2^53) and without strconv.
func smallInteger(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var x int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int64(c-'0')
	}
	return float64(x), true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func skipBlanks(l []byte, j int) int {
	for j < len(l) && isBlank(l[j]) {
		j++
	}
	return j
}

// tokenEnd returns the index of the first blank at or after j, or len(l).
func tokenEnd(l []byte, j int) int {
	for j < len(l) && !isBlank(l[j]) {
		j++
	}
	return j
}

func allBlank(b []byte) bool { return skipBlanks(b, 0) == len(b) }

// metricNameEnd returns the end of the unquoted metric name at l[j:] (j
// itself when there is none). ok is false for a name the scanner leaves to
// the text parser: one with a quoted part.
func metricNameEnd(l []byte, j int) (int, bool) {
	if j < len(l) && l[j] == '"' {
		return 0, false
	}
	if j == len(l) || !isMetricNameStart(l[j]) {
		return j, j == len(l)
	}
	k := j + 1
	for k < len(l) && (isLabelNameContinuation(l[k]) || l[k] == ':') {
		k++
	}
	if k < len(l) && l[k] == '"' {
		return 0, false
	}
	return k, true
}

func isLabelNameStart(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
}

func isLabelNameContinuation(c byte) bool { return isLabelNameStart(c) || (c >= '0' && c <= '9') }

func isMetricNameStart(c byte) bool { return isLabelNameStart(c) || c == ':' }
