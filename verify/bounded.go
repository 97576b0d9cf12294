package verify

import (
	"fmt"
	"io"
	"sync"
)

// MaxBodyBytes is the most a PodAccess should read of an HTTP body or a
// command's output, so that a pod cannot exhaust the controller's memory.
// Longer answers are cut, not refused.
const MaxBodyBytes = 1 << 20

// ReadBounded reads r until EOF or until n bytes were read, whichever comes
// first, and returns what it read. An answer longer than n is cut at n bytes
// without an error; n <= 0 reads nothing. The error is a read error other
// than EOF, with what was read before it.
func ReadBounded(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return b, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

// boundedBuffer is an io.Writer, safe for concurrent use, that keeps the
// first limit bytes written and drops the rest. Writes never fail, so a
// command writing more than the limit is not disturbed.
type boundedBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
