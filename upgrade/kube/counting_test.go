package kube

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		method, path, watch string
		verb, res           string
	}{
		{"GET", "/api/v1/namespaces/db/pods", "", "list", "pods"},
		{"GET", "/api/v1/namespaces/db/pods", "true", "watch", "pods"},
		{"GET", "/api/v1/namespaces/db/pods/redis-0", "", "get", "pods"},
		{"POST", "/api/v1/namespaces/db/pods", "", "create", "pods"},
		{"DELETE", "/api/v1/namespaces/db/pods/redis-0", "", "delete", "pods"},
		{"DELETE", "/api/v1/namespaces/db/pods", "", "deletecollection", "pods"},
		{"PUT", "/apis/apps/v1/namespaces/db/statefulsets/redis", "", "update", "statefulsets"},
		{"PUT", "/apis/apps/v1/namespaces/db/statefulsets/redis/status", "", "update", "statefulsets/status"},
		{"PATCH", "/api/v1/namespaces/db/configmaps/redis", "", "patch", "configmaps"},
		{"GET", "/api/v1/pods", "", "list", "pods"},
		{"GET", "/api/v1/namespaces", "", "list", "namespaces"},
		{"GET", "/api/v1/namespaces/db", "", "get", "namespaces"},
		{"GET", "/api/v1/watch/namespaces/db/pods", "", "watch", "pods"},
		{"POST", "/api/v1/namespaces/db/events", "", "create", "events"},
		{"GET", "/version", "", "get", "/version"},
	} {
		v, r := classify(tc.method, tc.path, tc.watch)
		if v != tc.verb || r != tc.res {
			t.Errorf("%s %s watch=%s: %s %s, want %s %s", tc.method, tc.path, tc.watch, v, r, tc.verb, tc.res)
		}
	}
}

func TestRequestCounterWrapsConfig(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodDelete:
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`)
		default:
			fmt.Fprint(w, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"}}`)
		}
	})}}
	srv.Start()
	defer srv.Close()
	var rc RequestCounter
	client, err := kubernetes.NewForConfig(rc.WrapConfig(&rest.Config{Host: srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, _ = client.CoreV1().Pods("db").Get(ctx, "p", metav1.GetOptions{})
	_ = client.CoreV1().Pods("db").Delete(ctx, "p", metav1.DeleteOptions{})
	_, _ = client.CoreV1().Events("db").Create(ctx, nil, metav1.CreateOptions{})
	before := rc.Counts()
	if before.Reads != 1 || before.Writes != 1 || before.Events != 1 || before.ByVerb["get pods"] != 1 || before.ByVerb["delete pods"] != 1 {
		t.Fatalf("counts = %v", before)
	}
	_ = client.CoreV1().Pods("db").Delete(ctx, "q", metav1.DeleteOptions{})
	if d := rc.Counts().Sub(before); d.Writes != 1 || d.Reads != 0 || d.ByVerb["delete pods"] != 1 || len(d.ByVerb) != 1 {
		t.Fatalf("delta = %v", d)
	}
	rc.Reset()
	if c := rc.Counts(); c.Writes != 0 || len(c.ByVerb) != 0 {
		t.Fatalf("after reset: %v", c)
	}
}
