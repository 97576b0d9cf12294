package resp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer answers each command it reads with the next canned reply and
// records the raw commands.
func fakeServer(t *testing.T, replies ...string) (addr string, got <-chan []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ch := make(chan []string, len(replies)+1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for _, reply := range replies {
			v, err := readReply(r)
			if err != nil {
				return
			}
			var args []string
			for _, a := range v.([]any) {
				args = append(args, a.(string))
			}
			ch <- args
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
		// Then hang up.
	}()
	return l.Addr().String(), ch
}

func TestReplies(t *testing.T) {
	addr, got := fakeServer(t,
		"+OK\r\n",
		"-READONLY You can't write against a read only replica.\r\n",
		":42\r\n",
		"$6\r\nhe\r\nlo\r\n",
		"$-1\r\n",
		"*3\r\n:1\r\n$1\r\nx\r\n*-1\r\n",
	)
	ctx := context.Background()
	c, err := Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()

	v, err := c.Do(ctx, "SET", "k", "a b\r\nc")
	require.NoError(t, err)
	assert.Equal(t, "OK", v)
	assert.Equal(t, []string{"SET", "k", "a b\r\nc"}, <-got, "arguments are sent as bulk strings, binary-safe")

	_, err = c.Do(ctx, "SET", "k", "v")
	require.Error(t, err)
	var e Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, "READONLY", e.Prefix())
	assert.True(t, IsError(err))

	v, err = c.Do(ctx, "INCR", "n")
	require.NoError(t, err)
	assert.Equal(t, int64(42), v)
	s, err := String(v)
	require.NoError(t, err)
	assert.Equal(t, "42", s)

	v, err = c.Do(ctx, "GET", "k")
	require.NoError(t, err)
	assert.Equal(t, "he\r\nlo", v)

	v, err = c.Do(ctx, "GET", "missing")
	require.NoError(t, err)
	assert.Nil(t, v)

	v, err = c.Do(ctx, "EXEC")
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), "x", nil}, v)

	// The server hangs up: a connection error, not an error reply.
	_, err = c.Do(ctx, "PING")
	require.Error(t, err)
	assert.False(t, IsError(err))
	assert.Contains(t, err.Error(), "PING")
}

func TestPipelineKeepsErrorRepliesInPlace(t *testing.T) {
	addr, _ := fakeServer(t, "+OK\r\n", "+QUEUED\r\n", "-ERR boom\r\n")
	ctx := context.Background()
	c, err := Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()
	out, err := c.Pipeline(ctx, [][]string{{"MULTI"}, {"SET", "a", "1"}, {"EXEC"}})
	require.NoError(t, err)
	assert.Equal(t, []any{"OK", "QUEUED", Error("ERR boom")}, out)
}

func TestContextBoundsTheExchange(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			_, _ = bufio.NewReader(c).ReadString('\n')
			<-done // never answers
		}
	}()
	start := time.Now()
	_, err = Command(context.Background(), l.Addr().String(), 200*time.Millisecond, "PING")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 4*time.Second)
}

func TestInfo(t *testing.T) {
	m := Info("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\nslave_repl_offset:123\r\n")
	assert.Equal(t, "slave", m["role"])
	assert.Equal(t, "up", m["master_link_status"])
	assert.Equal(t, "123", m["slave_repl_offset"])
	_, ok := m["# Replication"]
	assert.False(t, ok)
	assert.False(t, strings.Contains(strings.Join(mapKeys(m), ","), "#"))
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
