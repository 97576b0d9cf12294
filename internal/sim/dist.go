package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// DistKind names a family of duration distributions.
type DistKind int

// Distribution families.
const (
	// KindFixed: always A.
	KindFixed DistKind = iota
	// KindUniform: uniform in [A, B].
	KindUniform
	// KindLongTail: log-normal with median A and shape Sigma, capped at
	// B (0: uncapped). Sigma 1 puts the 99th percentile at about ten
	// times the median: most pods start quickly, a few take minutes.
	KindLongTail
)

// Dist is a seeded distribution of durations.
type Dist struct {
	Kind  DistKind
	A, B  time.Duration
	Sigma float64
}

// Fixed is the distribution that always gives d.
func Fixed(d time.Duration) Dist { return Dist{Kind: KindFixed, A: d} }

// Uniform is the uniform distribution on [lo, hi].
func Uniform(lo, hi time.Duration) Dist { return Dist{Kind: KindUniform, A: lo, B: hi} }

// LongTail is the log-normal distribution with the given median and shape
// sigma, capped at max (0: uncapped).
func LongTail(median time.Duration, sigma float64, max time.Duration) Dist {
	return Dist{Kind: KindLongTail, A: median, B: max, Sigma: sigma}
}

// Draw returns one duration, rounded to the millisecond.
func (d Dist) Draw(r *rand.Rand) time.Duration {
	var v time.Duration
	switch d.Kind {
	case KindFixed:
		v = d.A
	case KindUniform:
		v = d.A + time.Duration(r.Float64()*float64(d.B-d.A))
	case KindLongTail:
		v = time.Duration(float64(d.A) * math.Exp(d.Sigma*r.NormFloat64()))
		if d.B > 0 && v > d.B {
			v = d.B
		}
	}
	v = v.Round(time.Millisecond)
	if v < 0 {
		v = 0
	}
	return v
}

// Mean returns the distribution's mean (ignoring the cap of a long tail).
func (d Dist) Mean() time.Duration {
	switch d.Kind {
	case KindUniform:
		return (d.A + d.B) / 2
	case KindLongTail:
		return time.Duration(float64(d.A) * math.Exp(d.Sigma*d.Sigma/2))
	}
	return d.A
}

// String renders the distribution compactly: "20s", "U[10s,30s]",
// "LN(15s,σ1)".
func (d Dist) String() string {
	switch d.Kind {
	case KindUniform:
		return fmt.Sprintf("U[%s,%s]", d.A, d.B)
	case KindLongTail:
		return fmt.Sprintf("LN(%s,σ%g)", d.A, d.Sigma)
	}
	return d.A.String()
}

// Family names a scenario's set of distributions: fixed, uniform or
// long-tailed.
type Family struct {
	Name                     string
	Start, Terminate, Verify Dist
}

// The three duration families of the standard suite. Their means are
// close (about a minute per pod) so that the rows compare.
var (
	FixedDurations = Family{
		Name:      "fixed",
		Start:     Fixed(20 * time.Second),
		Terminate: Fixed(10 * time.Second),
		Verify:    Fixed(30 * time.Second),
	}
	UniformDurations = Family{
		Name:      "uniform",
		Start:     Uniform(10*time.Second, 30*time.Second),
		Terminate: Uniform(5*time.Second, 15*time.Second),
		Verify:    Uniform(15*time.Second, 45*time.Second),
	}
	LongTailDurations = Family{
		Name:      "long-tail",
		Start:     LongTail(15*time.Second, 1, 30*time.Minute),
		Terminate: LongTail(8*time.Second, 0.5, 30*time.Minute),
		Verify:    LongTail(20*time.Second, 1, 30*time.Minute),
	}
)
