package kube

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// RequestCounts are API requests by kind. Writes and reads exclude Events
// (counted apart) and watches (long-running, counted apart).
type RequestCounts struct {
	// Writes: create, update, patch, delete (and deletecollection).
	Writes int
	// Reads: get and list.
	Reads int
	// Lists: the reads that listed a collection.
	Lists int
	// Watches started.
	Watches int
	// Events written (Event objects, any verb but reads).
	Events int
	// ByVerb counts every request as "verb resource[/subresource]",
	// ("create pods", "update statefulsets", "list pods", "watch pods").
	ByVerb map[string]int
}

// Sub returns c minus earlier, field by field.
func (c RequestCounts) Sub(earlier RequestCounts) RequestCounts {
	out := RequestCounts{
		Writes:  c.Writes - earlier.Writes,
		Reads:   c.Reads - earlier.Reads,
		Lists:   c.Lists - earlier.Lists,
		Watches: c.Watches - earlier.Watches,
		Events:  c.Events - earlier.Events,
		ByVerb:  map[string]int{},
	}
	for k, v := range c.ByVerb {
		if d := v - earlier.ByVerb[k]; d != 0 {
			out.ByVerb[k] = d
		}
	}
	return out
}

// String lists the totals and the verbs in a stable order.
func (c RequestCounts) String() string {
	keys := make([]string, 0, len(c.ByVerb))
	for k := range c.ByVerb {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.ByVerb[k]))
	}
	return fmt.Sprintf("writes=%d reads=%d (lists=%d) watches=%d events=%d [%s]",
		c.Writes, c.Reads, c.Lists, c.Watches, c.Events, strings.Join(parts, " "))
}

// RequestCounter counts the API requests made through the transports it
// wraps. It is safe for concurrent use; its zero value is ready.
type RequestCounter struct {
	mu     sync.Mutex
	counts RequestCounts
}

// Counts returns a snapshot of the counts so far.
func (r *RequestCounter) Counts() RequestCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.counts
	out.ByVerb = make(map[string]int, len(r.counts.ByVerb))
	for k, v := range r.counts.ByVerb {
		out.ByVerb[k] = v
	}
	return out
}

// Reset sets every count to zero.
func (r *RequestCounter) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = RequestCounts{}
}

func (r *RequestCounter) add(verb, resource string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts.ByVerb == nil {
		r.counts.ByVerb = map[string]int{}
	}
	r.counts.ByVerb[verb+" "+resource]++
	if resource == "events" || strings.HasPrefix(resource, "events/") {
		if verb != "get" && verb != "list" && verb != "watch" {
			r.counts.Events++
		}
		return
	}
	switch verb {
	case "watch":
		r.counts.Watches++
	case "get":
		r.counts.Reads++
	case "list":
		r.counts.Reads++
		r.counts.Lists++
	default:
		r.counts.Writes++
	}
}

// WrapConfig returns a copy of cfg whose transport counts every request
// into r.
func (r *RequestCounter) WrapConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, r: r} })
	return c
}

// Wrap returns a RoundTripper that counts the requests it passes to rt.
func (r *RequestCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &countingTransport{next: rt, r: r}
}

type countingTransport struct {
	next http.RoundTripper
	r    *RequestCounter
}

// RoundTrip counts req and passes it on.
func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.r.Observe(req)
	return t.next.RoundTrip(req)
}

// Observe counts one API request (for requests that do not pass through a
// wrapped transport, such as those a proxy forwards).
func (r *RequestCounter) Observe(req *http.Request) {
	verb, resource := classify(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	r.add(verb, resource)
}

// classify maps an API request to a Kubernetes verb and resource from its
// method and path (/api/v1/namespaces/ns/pods/name/status,
// /apis/apps/v1/statefulsets...).
func classify(method, path, watchParam string) (verb, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// Strip the group and version prefix.
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(method), path
	}
	watch := watchParam == "true" || watchParam == "1"
	if len(parts) >= 1 && parts[0] == "watch" {
		watch = true
		parts = parts[1:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:] // namespaced resource
	}
	var name string
	switch len(parts) {
	case 0:
		return strings.ToLower(method), path
	case 1:
		resource = parts[0]
	case 2:
		resource, name = parts[0], parts[1]
	default:
		resource, name = parts[0]+"/"+parts[2], parts[1]
	}
	switch method {
	case http.MethodGet:
		switch {
		case watch:
			verb = "watch"
		case name == "":
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		if name == "" {
			verb = "deletecollection"
		} else {
			verb = "delete"
		}
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}

// CountActions counts the actions a fake clientset recorded
// (k8s.io/client-go/kubernetes/fake's Actions()) the way RequestCounter
// counts requests.
func CountActions(actions []k8stesting.Action) RequestCounts {
	var r RequestCounter
	for _, a := range actions {
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		r.add(a.GetVerb(), res)
	}
	return r.Counts()
}
