// Command wait holds a pod until something it depends on is ready, by polling the Kubernetes API with the pod's
// ServiceAccount token (charts/app mounts it into this container only):
//
//	wait job NAME          until the Job is Complete; exit 1 with its failure reason when it Failed
//	wait statefulset NAME  until every replica of the StatefulSet is ready
//
// A service's pods run `wait job <its migration>` as an init container, so a new version starts only after its
// migration succeeded; the migration's pod runs `wait statefulset <postgres>`. Standard library only.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Where Kubernetes (and charts/app's projected volume) puts the pod's API credentials.
const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// client reads one namespace's objects from the API server.
type client struct {
	base      string // https://host:port
	namespace string
	tokenFile string // read on every request: the kubelet rotates a bound token
	http      *http.Client
}

// inCluster builds the client from the pod's environment and the mounted ServiceAccount files.
func inCluster() (*client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("KUBERNETES_SERVICE_HOST/PORT are not set: not running in a pod")
	}
	ns, err := os.ReadFile(saDir + "/namespace")
	if err != nil {
		return nil, fmt.Errorf("reading the namespace: %w (is the API access volume mounted at %s?)", err, saDir)
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s/ca.crt holds no PEM certificate", saDir)
	}
	return &client{
		base:      "https://" + net.JoinHostPort(host, port),
		namespace: strings.TrimSpace(string(ns)),
		tokenFile: saDir + "/token",
		http: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// errNotFound: the object does not exist (yet); Helm may create it after this pod.
var errNotFound = errors.New("not found")

// get decodes the object at the API path into out.
func (c *client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.tokenFile != "" {
		token, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("reading the token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case res.StatusCode == http.StatusNotFound:
		return errNotFound
	case res.StatusCode != http.StatusOK:
		var status struct{ Message string }
		_ = json.Unmarshal(body, &status)
		return fmt.Errorf("GET %s: HTTP %d: %s", path, res.StatusCode, status.Message)
	}
	return json.Unmarshal(body, out)
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type job struct {
	Status struct {
		Active     int         `json:"active"`
		Failed     int         `json:"failed"`
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

type statefulSet struct {
	Metadata struct {
		Generation int64 `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int32 `json:"replicas"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration"`
		ReadyReplicas      int32 `json:"readyReplicas"`
	} `json:"status"`
}

// errFailed ends the wait for good: what was waited on failed.
type errFailed struct{ msg string }

func (e errFailed) Error() string { return e.msg }

// check looks once: done, a line saying what it waits for, or errFailed.
type check func(ctx context.Context) (done bool, state string, err error)

func jobCheck(c *client, name string) check {
	path := fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs/%s", c.namespace, name)
	return func(ctx context.Context) (bool, string, error) {
		var j job
		if err := c.get(ctx, path, &j); err != nil {
			return false, "", err
		}
		for _, cond := range j.Status.Conditions {
			if cond.Status != "True" {
				continue
			}
			switch cond.Type {
			case "Complete":
				return true, fmt.Sprintf("job %s is Complete", name), nil
			case "Failed":
				return false, "", errFailed{fmt.Sprintf("job %s failed: %s: %s (its pods' logs: kubectl logs job/%s)",
					name, cond.Reason, cond.Message, name)}
			}
		}
		return false, fmt.Sprintf("job %s is running (%d active, %d failed pods)", name, j.Status.Active, j.Status.Failed), nil
	}
}

func statefulSetCheck(c *client, name string) check {
	path := fmt.Sprintf("/apis/apps/v1/namespaces/%s/statefulsets/%s", c.namespace, name)
	return func(ctx context.Context) (bool, string, error) {
		var s statefulSet
		if err := c.get(ctx, path, &s); err != nil {
			return false, "", err
		}
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		state := fmt.Sprintf("statefulset %s has %d/%d ready replicas", name, s.Status.ReadyReplicas, want)
		return s.Status.ObservedGeneration >= s.Metadata.Generation && s.Status.ReadyReplicas >= want, state, nil
	}
}

// poll runs the check every interval until it is done or failed, logging each new state once; errors of the API
// (unreachable, forbidden, not yet created) are logged and retried: the pod's deadline bounds the wait.
func poll(ctx context.Context, what string, chk check, interval time.Duration, logf func(string, ...any)) error {
	last := ""
	for {
		done, state, err := chk(ctx)
		var failed errFailed
		switch {
		case errors.As(err, &failed):
			return err
		case errors.Is(err, errNotFound):
			state = what + " does not exist yet"
		case err != nil:
			state = fmt.Sprintf("cannot read %s (retrying): %v", what, err)
		}
		if state != last {
			logf("%s", state)
			last = state
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func usage(args []string) error {
	if len(args) != 2 || (args[0] != "job" && args[0] != "statefulset") || args[1] == "" {
		return fmt.Errorf("usage: wait job NAME | wait statefulset NAME (got %q)", strings.Join(args, " "))
	}
	return nil
}

func run(ctx context.Context, args []string, c *client, interval time.Duration, logf func(string, ...any)) error {
	if err := usage(args); err != nil {
		return err
	}
	what := args[0] + " " + args[1]
	chk := jobCheck(c, args[1])
	if args[0] == "statefulset" {
		chk = statefulSetCheck(c, args[1])
	}
	logf("waiting for %s in namespace %s", what, c.namespace)
	return poll(ctx, what, chk, interval, logf)
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("wait: ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := usage(os.Args[1:])
	var c *client
	if err == nil {
		c, err = inCluster()
	}
	if err == nil {
		err = run(ctx, os.Args[1:], c, 2*time.Second, log.Printf)
	}
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}
