// Package resp is a minimal client for the Redis serialization protocol
// (RESP2): it writes commands as arrays of bulk strings and reads simple
// strings, errors, integers, bulk strings and arrays. It is what the Redis
// example and its tests need to talk to real servers precisely (every error
// reply and every broken connection is visible to the caller), and nothing
// more.
package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxBulk bounds a bulk string or array the client accepts (a defence
// against a corrupt stream, not a limit of the protocol).
const maxBulk = 512 << 20

// Error is an error reply of the server, such as
// "READONLY You can't write against a read only replica.".
type Error string

// Error returns the server's message.
func (e Error) Error() string { return "redis: " + string(e) }

// Prefix returns the error's first word (READONLY, LOADING, ERR...).
func (e Error) Prefix() string {
	s := string(e)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// IsError reports whether err is (or wraps) an error reply of the server.
func IsError(err error) bool {
	var e Error
	return errors.As(err, &e)
}

// Conn is one connection to a server. It is not safe for concurrent use.
// After any error other than an error reply (Error) the connection is in an
// unknown state and must be closed.
type Conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// Dial connects to addr (host:port) within ctx.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resp: dial %s: %w", addr, err)
	}
	return &Conn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// RemoteAddr returns the server's address.
func (c *Conn) RemoteAddr() string { return c.c.RemoteAddr().String() }

// Do sends one command and reads its reply. The reply is a string (simple
// or bulk string), an int64, nil (null bulk or null array) or a []any of
// those. An error reply is returned as an Error, with a nil reply.
func (c *Conn) Do(ctx context.Context, args ...string) (any, error) {
	replies, err := c.Pipeline(ctx, [][]string{args})
	if err != nil {
		return nil, err
	}
	if e, ok := replies[0].(Error); ok {
		return nil, e
	}
	return replies[0], nil
}

// Pipeline sends several commands in one write and reads their replies, in
// order. Error replies are returned in place as Error values; the returned
// error is only for failures of the connection (it is then unusable). The
// context's deadline, if any, bounds the whole exchange.
func (c *Conn) Pipeline(ctx context.Context, cmds [][]string) ([]any, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := c.c.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("resp: %w", err)
		}
	} else if err := c.c.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("resp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for _, args := range cmds {
		if len(args) == 0 {
			return nil, errors.New("resp: empty command")
		}
		writeCommand(c.w, args)
	}
	if err := c.w.Flush(); err != nil {
		return nil, c.ioError(ctx, "write", cmds, err)
	}
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := readReply(c.r)
		if err != nil {
			return nil, c.ioError(ctx, "read reply to", cmds[i:i+1], err)
		}
		out[i] = v
	}
	return out, nil
}

func (c *Conn) ioError(ctx context.Context, op string, cmds [][]string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return fmt.Errorf("resp: %s %s on %s: %w", op, strings.ToUpper(cmds[0][0]), c.c.RemoteAddr(), err)
}

func writeCommand(w *bufio.Writer, args []string) {
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(a)))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("protocol error: line %q does not end in CRLF", line)
	}
	return line[:len(line)-2], nil
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("protocol error: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("protocol error: integer %q", body)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("protocol error: bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, errors.New("protocol error: bulk string does not end in CRLF")
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("protocol error: array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("protocol error: unknown reply type %q", line[0])
}

// Command dials addr, runs one command and closes the connection; timeout
// bounds the whole exchange.
func Command(ctx context.Context, addr string, timeout time.Duration, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(ctx, args...)
}

// String returns a reply as a string: a simple or bulk string as it is, an
// integer in decimal. Anything else is an error that names the reply.
func String(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", fmt.Errorf("resp: reply %v (%T) is not a string", v, v)
}

// Info parses the text of an INFO reply into its fields (section headers
// and blank lines are skipped).
func Info(text string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}
