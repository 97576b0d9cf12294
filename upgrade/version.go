package upgrade

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// VersionPolicy is a ready Precheck (design step 1) for version policy. By
// default it refuses a downgrade and an upgrade that skips a major version
// (7.x → 9.x); its fields allow them. Going to an equal version (7.4 and
// 7.4.0 are equal) is always allowed.
//
// Versions are read leniently, so that semantic versions ("1.2.3",
// "v1.2.3", "1.2.3-rc.1"), short ones ("7.4") and Debian package versions
// ("7.0.15-1~deb12u10", "2:1.0-3") all work:
//
//   - surrounding space and a leading "v" are dropped; a leading "N:" is a
//     Debian epoch, compared first (absent = 0);
//   - the core is the leading run of dot-separated decimal numbers, which
//     must be there; numbers compare numerically, a missing one counts as 0;
//     the major version is the first;
//   - the rest (the suffix) decides only between equal cores: a suffix that
//     starts with "~", or with "-" and a letter ("-rc.1", "~rc1"), is a
//     pre-release and comes before the plain version; any other suffix
//     ("-1~deb12u10", "+build.5", "-2") comes after it; two suffixes of the
//     same kind compare as dpkg compares versions (runs of digits
//     numerically, letters before other characters, "~" before everything,
//     even the end).
//
// The major-skip rule applies both ways: 9.0 → 7.4 skips major 8 and needs
// AllowMajorSkip as well as AllowDowngrade. It does not apply across a
// change of Debian epoch, which renumbers versions. Errors name both versions; an
// unparsable version is an error naming which one (current or target).
// VersionPolicy has no state and is safe for concurrent use.
type VersionPolicy struct {
	// AllowDowngrade permits a target version older than the current one.
	AllowDowngrade bool
	// AllowMajorSkip permits moving more than one major version at once.
	AllowMajorSkip bool
}

// Check refuses the move from version from to version to when the policy
// forbids it; see VersionPolicy. It returns the context's error if ctx has
// ended.
func (p VersionPolicy) Check(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("version policy %q → %q: %w", from, to, err)
	}
	f, err := parseVersionLenient(from)
	if err != nil {
		return fmt.Errorf("version policy: current version %q (upgrading to %q): %w", from, to, err)
	}
	t, err := parseVersionLenient(to)
	if err != nil {
		return fmt.Errorf("version policy: target version %q (upgrading from %q): %w", to, from, err)
	}
	cmp := compareParsedVersions(t, f)
	if cmp < 0 && !p.AllowDowngrade {
		return fmt.Errorf("version policy: downgrade from %q to %q refused (AllowDowngrade is off)", from, to)
	}
	if cmp == 0 || p.AllowMajorSkip || f.epoch != t.epoch {
		return nil
	}
	lo, hi := f.major, t.major
	if lo > hi {
		lo, hi = hi, lo
	}
	if hi-lo > 1 {
		skipped := fmt.Sprintf("major version %d", lo+1)
		if hi-lo > 2 {
			skipped = fmt.Sprintf("major versions %d to %d", lo+1, hi-1)
		}
		return fmt.Errorf("version policy: moving from %q to %q skips %s (AllowMajorSkip is off)", from, to, skipped)
	}
	return nil
}

// parsedVersion is a version read by parseVersionLenient.
type parsedVersion struct {
	epoch string   // decimal digits without leading zeros ("" = 0)
	core  []string // decimal components without leading zeros ("" = 0)
	major uint64   // core[0] as a number
	// suffix is what follows the core; pre marks a pre-release suffix.
	suffix string
	pre    bool
}

func parseVersionLenient(s string) (parsedVersion, error) {
	var v parsedVersion
	rest := strings.TrimSpace(s)
	if rest == "" {
		return v, fmt.Errorf("empty version")
	}
	if i := strings.IndexByte(rest, ':'); i > 0 && verAllDigits(rest[:i]) {
		v.epoch = strings.TrimLeft(rest[:i], "0")
		rest = rest[i+1:]
	}
	if len(rest) > 1 && (rest[0] == 'v' || rest[0] == 'V') && verIsDigit(rest[1]) {
		rest = rest[1:]
	}
	for {
		n := 0
		for n < len(rest) && verIsDigit(rest[n]) {
			n++
		}
		if n == 0 {
			if len(v.core) == 0 {
				return v, fmt.Errorf("not a version: want leading numbers such as 7.4 or 7.0.15-1 (a leading v and a Debian epoch N: are allowed)")
			}
			break
		}
		v.core = append(v.core, strings.TrimLeft(rest[:n], "0"))
		rest = rest[n:]
		if len(rest) < 2 || rest[0] != '.' || !verIsDigit(rest[1]) {
			break
		}
		rest = rest[1:]
	}
	major := v.core[0]
	if major == "" {
		major = "0"
	}
	m, err := strconv.ParseUint(major, 10, 64)
	if err != nil {
		return v, fmt.Errorf("major version %s is too large", major)
	}
	v.major = m
	v.suffix = rest
	v.pre = strings.HasPrefix(rest, "~") || (len(rest) > 1 && rest[0] == '-' && verIsLetter(rest[1]))
	return v, nil
}

// compareParsedVersions returns -1, 0 or +1 as a is older than, equal to or
// newer than b.
func compareParsedVersions(a, b parsedVersion) int {
	if c := verCompareDecimal(a.epoch, b.epoch); c != 0 {
		return c
	}
	for i := 0; i < max(len(a.core), len(b.core)); i++ {
		var x, y string
		if i < len(a.core) {
			x = a.core[i]
		}
		if i < len(b.core) {
			y = b.core[i]
		}
		if c := verCompareDecimal(x, y); c != 0 {
			return c
		}
	}
	rank := func(v parsedVersion) int {
		switch {
		case v.suffix == "":
			return 0
		case v.pre:
			return -1
		}
		return 1
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return verSign(ra - rb)
	}
	return verSign(dpkgCompare(a.suffix, b.suffix))
}

// verCompareDecimal compares decimal digit strings without leading zeros.
func verCompareDecimal(a, b string) int {
	if len(a) != len(b) {
		return verSign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

// dpkgCompare compares version fragments the way dpkg's verrevcmp does:
// alternating non-digit and digit runs; non-digits compare by dpkgOrder,
// digit runs numerically.
func dpkgCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !verIsDigit(a[i])) || (j < len(b) && !verIsDigit(b[j])) {
			ac, bc := dpkgOrder(a, i), dpkgOrder(b, j)
			if ac != bc {
				return ac - bc
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && verIsDigit(a[i]) && j < len(b) && verIsDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && verIsDigit(a[i]) {
			return 1
		}
		if j < len(b) && verIsDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return first
		}
	}
	return 0
}

// dpkgOrder is the weight of s[i] in dpkg's ordering: "~" lowest, then the
// end of the string and digits, then letters, then everything else.
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case c == '~':
		return -1
	case verIsDigit(c):
		return 0
	case verIsLetter(c):
		return int(c)
	}
	return int(c) + 256
}

func verIsDigit(c byte) bool  { return c >= '0' && c <= '9' }
func verIsLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func verAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !verIsDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func verSign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
