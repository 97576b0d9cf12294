package upgrade

// The package's tests check that no Step writes the status entries it
// shares with its caller (see copyStatus).
func init() { debugShared = true }

// SetDebugShared turns that check on or off (benchmarks turn it off: it
// copies every entry).
func SetDebugShared(on bool) { debugShared = on }
