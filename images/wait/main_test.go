package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiDouble answers GETs of one path with the next scripted reply (the last one repeats) and records the token.
type apiDouble struct {
	mu      sync.Mutex
	path    string
	replies []reply
	calls   int
	tokens  []string
}

type reply struct {
	status int
	body   any
}

func (a *apiDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens = append(a.tokens, r.Header.Get("Authorization"))
	if r.Method != http.MethodGet || r.URL.Path != a.path {
		http.Error(w, `{"message":"unexpected `+r.Method+" "+r.URL.Path+`"}`, http.StatusTeapot)
		return
	}
	rep := a.replies[min(a.calls, len(a.replies)-1)]
	a.calls++
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

func start(t *testing.T, path string, replies ...reply) (*client, *apiDouble) {
	t.Helper()
	api := &apiDouble{path: path, replies: replies}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &client{base: srv.URL, namespace: "ns1", tokenFile: token, http: srv.Client()}, api
}

func jobWith(conds ...condition) reply {
	var j job
	j.Status.Conditions = conds
	j.Status.Active = 1
	return reply{http.StatusOK, j}
}

func collect() (*[]string, func(string, ...any)) {
	var lines []string
	return &lines, func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
}

const jobPath = "/apis/batch/v1/namespaces/ns1/jobs/app-go-api-migrate-0123abcd"

func TestJobCompleteAfterNotFoundAndRunning(t *testing.T) {
	t.Parallel()
	c, api := start(t, jobPath,
		reply{http.StatusNotFound, map[string]string{"message": "not found"}},
		jobWith(),
		jobWith(condition{Type: "Complete", Status: "True"}),
	)
	lines, logf := collect()
	err := run(context.Background(), []string{"job", "app-go-api-migrate-0123abcd"}, c, time.Millisecond, logf)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := []string{
		"waiting for job app-go-api-migrate-0123abcd in namespace ns1",
		"job app-go-api-migrate-0123abcd does not exist yet",
		"job app-go-api-migrate-0123abcd is running (1 active, 0 failed pods)",
		"job app-go-api-migrate-0123abcd is Complete",
	}
	if strings.Join(*lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(*lines, "\n"), strings.Join(want, "\n"))
	}
	if api.calls != 3 || api.tokens[0] != "Bearer tok-1" {
		t.Errorf("calls %d, tokens %v", api.calls, api.tokens)
	}
}

func TestJobFailedEndsWithItsReason(t *testing.T) {
	t.Parallel()
	c, api := start(t, jobPath,
		jobWith(condition{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}),
	)
	_, logf := collect()
	err := run(context.Background(), []string{"job", "app-go-api-migrate-0123abcd"}, c, time.Millisecond, logf)
	if err == nil || !strings.Contains(err.Error(), "failed: BackoffLimitExceeded: Job has reached the specified backoff limit") {
		t.Fatalf("err = %v", err)
	}
	if api.calls != 1 {
		t.Errorf("a failed Job is final: %d calls", api.calls)
	}
}

func TestApiErrorsAreRetriedAndLoggedOnce(t *testing.T) {
	t.Parallel()
	c, _ := start(t, jobPath,
		reply{http.StatusForbidden, map[string]string{"message": "jobs.batch is forbidden"}},
		reply{http.StatusForbidden, map[string]string{"message": "jobs.batch is forbidden"}},
		jobWith(condition{Type: "Failed", Status: "False"}, condition{Type: "Complete", Status: "True"}),
	)
	lines, logf := collect()
	if err := run(context.Background(), []string{"job", "app-go-api-migrate-0123abcd"}, c, time.Millisecond, logf); err != nil {
		t.Fatal(err)
	}
	if len(*lines) != 3 || !strings.Contains((*lines)[1], "HTTP 403: jobs.batch is forbidden") {
		t.Errorf("log: %q", *lines)
	}
}

func TestStatefulSetReadyWhenEveryReplicaIsOfTheCurrentGeneration(t *testing.T) {
	t.Parallel()
	sts := func(gen, observed int64, ready int32) reply {
		var s statefulSet
		s.Metadata.Generation = gen
		two := int32(2)
		s.Spec.Replicas = &two
		s.Status.ObservedGeneration = observed
		s.Status.ReadyReplicas = ready
		return reply{http.StatusOK, s}
	}
	c, api := start(t, "/apis/apps/v1/namespaces/ns1/statefulsets/app-postgres",
		sts(2, 2, 1), sts(2, 1, 2), sts(2, 2, 2))
	lines, logf := collect()
	if err := run(context.Background(), []string{"statefulset", "app-postgres"}, c, time.Millisecond, logf); err != nil {
		t.Fatal(err)
	}
	if api.calls != 3 || (*lines)[len(*lines)-1] != "statefulset app-postgres has 2/2 ready replicas" {
		t.Errorf("calls %d, log %q", api.calls, *lines)
	}
}

func TestStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	c, _ := start(t, jobPath, jobWith())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, logf := collect()
	err := run(ctx, []string{"job", "app-go-api-migrate-0123abcd"}, c, 5*time.Millisecond, logf)
	if err == nil || !strings.Contains(err.Error(), "stopped while waiting for job app-go-api-migrate-0123abcd") {
		t.Fatalf("err = %v", err)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"job"}, {"pod", "x"}, {"job", ""}, {"job", "a", "b"}} {
		if err := usage(args); err == nil || !strings.HasPrefix(err.Error(), "usage: wait job NAME") {
			t.Errorf("%q: %v", args, err)
		}
	}
}
