package verify_test

import (
	"context"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/rollgate/rollgate/verify"
)

// fakePods answers as two Redis pods would: redis-0 is up, redis-1 is
// still loading its dataset. Its exporter reports one client on each.
type fakePods struct{}

func (fakePods) Exec(_ context.Context, t verify.Target, command string) (string, error) {
	if t.Name == "redis-0" {
		return "PONG\n", nil
	}
	return "LOADING Redis is loading the dataset in memory\n", nil
}

func (fakePods) Get(_ context.Context, t verify.Target, port int32, path string) (int, []byte, error) {
	if port != 9121 || path != "/metrics" {
		return 404, []byte("not found"), nil
	}
	up := "1"
	if t.Name == "redis-1" {
		up = "0"
	}
	return 200, []byte("redis_up " + up + "\nredis_connected_clients 1\n"), nil
}

// The design's post-upgrade exec check (section 6.1) against two pods.
func ExampleNew() {
	check := verify.Check{Enabled: true, Type: verify.TypeExec, Command: "redis-cli ping", Expected: "PONG"}
	v, err := verify.New(check, fakePods{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"redis-0", "redis-1"} {
		err := v.Verify(context.Background(), verify.Target{Name: name, Ready: true})
		fmt.Printf("%s: %s\n", name, verify.Classify(err))
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// redis-0: Passed
	// redis-1: Failed
	// exec check failed on pod "redis-1": output of "redis-cli ping" does not contain "PONG"; output: "LOADING Redis is loading the dataset in memory"
}

// A check block is read from the design's YAML (section 6.2) with the JSON
// field names; `expected` takes a number or a string.
func ExampleNew_metricsFromYAML() {
	doc := []byte(`
enabled: true
type: metrics
port: 9121
metrics:
  - name: redis_up
    expected: 1
  - name: redis_connected_clients
    expected: ">0"
`)
	var check verify.Check
	if err := yaml.UnmarshalStrict(doc, &check); err != nil {
		fmt.Println(err)
		return
	}
	v, err := verify.New(check, fakePods{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"redis-0", "redis-1"} {
		fmt.Printf("%s: %v\n", name, v.Verify(context.Background(), verify.Target{Name: name}))
	}
	// Output:
	// redis-0: <nil>
	// redis-1: metrics check failed on pod "redis-1": redis_up is 0, want ==1
}

// An invalid check is refused by New with the field that is wrong.
func ExampleNew_invalid() {
	_, err := verify.New(verify.Check{Enabled: true, Type: verify.TypeHTTP, Endpoint: "http://example.com/health"}, fakePods{})
	fmt.Println(err)
	// Output:
	// invalid http check: check.endpoint: Invalid value: "http://example.com/health": must be a path on the pod starting with / (not a URL or host)
}

func ExampleParseExpectation() {
	for _, s := range []string{"1", ">0", ">=0.99", " != 0 "} {
		e, err := verify.ParseExpectation(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q → %s; holds for 0.995: %v\n", s, e, e.Holds(0.995))
	}
	_, err := verify.ParseExpectation("about 1")
	fmt.Println(err)
	// Output:
	// "1" → ==1; holds for 0.995: false
	// ">0" → >0; holds for 0.995: true
	// ">=0.99" → >=0.99; holds for 0.995: true
	// " != 0 " → !=0; holds for 0.995: true
	// expectation "about 1": want a number or a comparison (==, !=, >, >=, <, <=) followed by a number
}

func ExampleParseSelector() {
	sel, err := verify.ParseSelector(`redis_up{role="master"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sel.Name, sel.Labels[0].Name, sel.Labels[0].Value)
	fmt.Println(sel.Matches("redis_up", map[string]string{"role": "master", "addr": "10.0.0.1:6379"}))
	fmt.Println(sel.Matches("redis_up", map[string]string{"role": "replica"}))
	// Output:
	// redis_up role master
	// true
	// false
}

// Classify tells how an attempt counts against a check's thresholds.
func ExampleClassify() {
	failed := &verify.FailedError{Type: verify.TypeHTTP, Pod: "web-0", Reason: "GET /health returned status 503, want 200"}
	fmt.Println(verify.Classify(nil))
	fmt.Println(verify.Classify(fmt.Errorf("slot 0: %w", failed)))
	fmt.Println(verify.Classify(context.DeadlineExceeded))
	// Output:
	// Passed
	// Failed
	// Errored
}

// Local runs commands on this machine, as the examples' local "pods" do.
func ExampleLocal() {
	access := verify.Local{EnvFor: func(t verify.Target) []string { return []string{"POD=" + t.Name} }}
	out, err := access.Exec(context.Background(), verify.Target{Name: "redis-0"}, `echo "PONG from $POD"`)
	fmt.Printf("%q %v\n", out, err)
	_, err = access.Exec(context.Background(), verify.Target{Name: "redis-0"}, "echo no; exit 3")
	fmt.Println(err)
	// Output:
	// "PONG from redis-0\n" <nil>
	// command exited with status 3: "no"
}
