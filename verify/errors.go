package verify

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Outcome is what came of one attempt of a check, in the manner of Argo
// Rollouts' measurement phases: the check passed, it ran and did not pass,
// or it could not run at all.
type Outcome string

// Outcomes of an attempt; see Classify.
const (
	// Passed: the Verifier returned nil.
	Passed Outcome = "Passed"
	// Failed: the check ran and the pod did not meet it (an error wrapping
	// *FailedError).
	Failed Outcome = "Failed"
	// Errored: the check could not run (pod unreachable, transport error,
	// the attempt timed out, the context ended, the answer could not be
	// parsed).
	Errored Outcome = "Errored"
)

// Classify tells the outcome of the error a Verifier returned: nil is
// Passed, an error wrapping *FailedError is Failed, anything else is
// Errored. Callers count Failed against a check's FailureThreshold and
// Errored against its ErrorThreshold.
func Classify(err error) Outcome {
	if err == nil {
		return Passed
	}
	var f *FailedError
	if errors.As(err, &f) {
		return Failed
	}
	return Errored
}

// Bounds of what a FailedError shows of the pod's answer.
const (
	// MaxOutputInError is how much of a command's output (trimmed) a
	// FailedError of an exec or custom check keeps.
	MaxOutputInError = 512
	// MaxBodyInError is how much of an HTTP body a FailedError of an http
	// check keeps.
	MaxBodyInError = 256
)

// FailedError is the error of a check that ran and did not pass. Verifiers
// made by New return it (possibly wrapped) for every such case, and only for
// those; see Classify.
type FailedError struct {
	// Type is the kind of check.
	Type CheckType
	// Pod names the target the check ran against.
	Pod string
	// Reason says what was expected and what was seen, as a phrase
	// (`output does not contain "PONG"`).
	Reason string
	// Output is the relevant part of the pod's answer (command output or
	// response body), trimmed and bounded (MaxOutputInError,
	// MaxBodyInError); it may be empty.
	Output string
}

// Error returns a sentence naming the check, the pod, the reason and, when
// there is one, the output (quoted, on one line).
func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s check failed", checkName(e.Type))
	if e.Pod != "" {
		fmt.Fprintf(&b, " on pod %q", e.Pod)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Output != "" {
		fmt.Fprintf(&b, "; output: %q", e.Output)
	}
	return b.String()
}

func checkName(t CheckType) string {
	if t == "" {
		return "verify"
	}
	return string(t)
}

// ExitError is what a PodAccess's Exec returns when the command ran and
// exited with a non-zero status (or was killed by a signal of its own, code
// -1). A check treats it as "ran and failed"; any other Exec error means the
// command could not run. Implementations must not return it when the
// context ended: that is an error wrapping the context's error.
type ExitError struct {
	// Code is the exit status, -1 when a signal ended the command.
	Code int
	// Output is what the command wrote (standard output and error as the
	// access could collect them), bounded by the access.
	Output string
}

// Error gives the exit status and the output, trimmed and bounded to
// MaxOutputInError bytes.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("command exited with status %d", e.Code)
	if e.Code < 0 {
		msg = "command was killed by a signal"
	}
	if out := Bound(e.Output, MaxOutputInError); out != "" {
		msg += fmt.Sprintf(": %q", out)
	}
	return msg
}

// Bound trims surrounding white space from s and cuts it to at most n bytes
// (on a UTF-8 boundary), noting how much was cut. n <= 0 means no limit.
func Bound(s string, n int) string {
	s = strings.TrimSpace(s)
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:cut], len(s)-cut)
}
