// Command rig-ingress is the test rig's ingress controller: the rig cannot build Traefik or ingress-nginx
// from the Go module proxy (their dependency trees are not all served there), so this small controller
// stands in for the cluster's controller. Test rig only; nothing in the action or the chart depends on it.
//
// It serves the Ingresses of one IngressClass the way the common controllers do:
//   - rules by host (exact, or "*.example.com" one label deep, or no host = every host), paths by
//     pathType Exact and Prefix (element-wise, longest first; ImplementationSpecific is treated as Prefix);
//   - backends by Service name and port (name or number), sent straight to the ready endpoints of the
//     Service's EndpointSlices (round robin), as Traefik and ingress-nginx do, not through the ClusterIP;
//   - a request that cannot reach an endpoint (connection refused or reset before any response) is
//     retried on another endpoint when it is idempotent (GET, HEAD, OPTIONS without a body), so a
//     rolling update does not surface as failed requests while the endpoint list catches up;
//   - TLS on the HTTPS port with the certificate of the Ingress's spec.tls secret for that host, else the
//     default certificate; X-Forwarded-For/-Host/-Proto set;
//   - an Ingress annotated jetscale.dev/strip-prefix: "true" (the chart's routes with stripPrefix) hands its
//     backends the request path without the matched path ("/py" and "/py/x?q=1" → "/x?q=1", "/py" → "/"),
//     and X-Forwarded-Prefix the part removed, as Traefik's stripPrefix middleware does.
//
// State is read from the API server (in-cluster service account) every --sync interval, all at once, and
// replaced atomically. /healthz on --health answers 200 once the first sync succeeded.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	class := flag.String("class", "jetscale-rig", "IngressClass name whose Ingresses this controller serves")
	httpAddr := flag.String("http", ":80", "HTTP listen address")
	httpsAddr := flag.String("https", ":443", "HTTPS listen address")
	healthAddr := flag.String("health", ":10254", "health endpoint listen address")
	certFile := flag.String("default-cert", "/etc/rig-ingress/tls.crt", "default certificate (PEM)")
	keyFile := flag.String("default-key", "/etc/rig-ingress/tls.key", "default certificate key (PEM)")
	syncEvery := flag.Duration("sync", time.Second, "how often to read Ingresses, Services and EndpointSlices")
	flag.Parse()

	def, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("rig-ingress: default certificate: %v", err)
	}
	api, err := newAPI()
	if err != nil {
		log.Fatalf("rig-ingress: %v", err)
	}
	c := &controller{api: api, class: *class, defaultCert: &def}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go c.run(ctx, *syncEvery)

	handler := c.handler()
	servers := []*http.Server{
		{Addr: *httpAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		{Addr: *httpsAddr, Handler: handler, ReadHeaderTimeout: 10 * time.Second,
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.certificate}},
		{Addr: *healthAddr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if c.state.Load() == nil {
				http.Error(w, "not synced yet", http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		})},
	}
	for i, s := range servers {
		go func(i int, s *http.Server) {
			var err error
			if i == 1 {
				err = s.ListenAndServeTLS("", "")
			} else {
				err = s.ListenAndServe()
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("rig-ingress: %s: %v", s.Addr, err)
			}
		}(i, s)
	}
	log.Printf("rig-ingress: class %s, http %s, https %s, health %s", *class, *httpAddr, *httpsAddr, *healthAddr)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
}

// handler proxies each request to an endpoint of the backend its Ingress path names (404 without one).
func (c *controller) handler() http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite:   c.rewrite,
		Transport: &retryTransport{c: c, base: newTransport()},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, errNoEndpoints) {
				status = http.StatusServiceUnavailable
			}
			log.Printf("rig-ingress: %s %s%s: %v", r.Method, r.Host, r.URL.Path, err)
			http.Error(w, err.Error(), status)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.route(r); !ok {
			http.Error(w, "rig-ingress: no Ingress rule for "+r.Host+r.URL.Path, http.StatusNotFound)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

// ---- API access -----------------------------------------------------------------------------------

type apiClient struct {
	base   string
	token  string
	client *http.Client
}

func newAPI() (*apiClient, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("KUBERNETES_SERVICE_HOST/PORT not set: run in a pod")
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("service account ca.crt holds no certificate")
	}
	return &apiClient{
		base: "https://" + net.JoinHostPort(host, port),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

func (a *apiClient) get(ctx context.Context, path string, out any) error {
	token, err := os.ReadFile(saDir + "/token") // re-read: the kubelet rotates it
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// ---- the objects we read (only the fields we use) ----------------------------------------------

type meta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Annotations map[string]string `json:"annotations"`
	Labels      map[string]string `json:"labels"`
}

type ingressList struct {
	Items []struct {
		Metadata meta `json:"metadata"`
		Spec     struct {
			IngressClassName *string `json:"ingressClassName"`
			TLS              []struct {
				Hosts      []string `json:"hosts"`
				SecretName string   `json:"secretName"`
			} `json:"tls"`
			Rules []struct {
				Host string `json:"host"`
				HTTP *struct {
					Paths []struct {
						Path     string `json:"path"`
						PathType string `json:"pathType"`
						Backend  struct {
							Service *struct {
								Name string `json:"name"`
								Port struct {
									Name   string `json:"name"`
									Number int    `json:"number"`
								} `json:"port"`
							} `json:"service"`
						} `json:"backend"`
					} `json:"paths"`
				} `json:"http"`
			} `json:"rules"`
		} `json:"spec"`
	} `json:"items"`
}

type serviceList struct {
	Items []struct {
		Metadata meta `json:"metadata"`
		Spec     struct {
			Ports []struct {
				Name string `json:"name"`
				Port int    `json:"port"`
			} `json:"ports"`
		} `json:"spec"`
	} `json:"items"`
}

type sliceList struct {
	Items []struct {
		Metadata  meta `json:"metadata"`
		Endpoints []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready       *bool `json:"ready"`
				Terminating *bool `json:"terminating"`
			} `json:"conditions"`
		} `json:"endpoints"`
		Ports []struct {
			Name *string `json:"name"`
			Port *int    `json:"port"`
		} `json:"ports"`
	} `json:"items"`
}

type secret struct {
	Data map[string]string `json:"data"`
}

// ---- routing state ------------------------------------------------------------------------------

type path struct {
	exact   bool
	strip   bool   // the Ingress asks for the matched path to be removed (annotation stripPrefixAnnotation)
	prefix  string // "/" or "/api" (no trailing slash except the root)
	key     string // namespace/service:port, the backend's key in state.endpoints
	ingress string // namespace/name, for logs
}

type state struct {
	hosts     map[string][]path // host ("" = any host, "*.x" = wildcard) -> paths, longest first
	endpoints map[string][]string
	certs     map[string]*tls.Certificate // host -> certificate from an Ingress's spec.tls
}

type controller struct {
	api         *apiClient
	class       string
	defaultCert *tls.Certificate
	state       atomic.Pointer[state]
	next        atomic.Uint64
	lastSummary string
}

func (c *controller) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.sync(ctx); err != nil {
			log.Printf("rig-ingress: sync: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *controller) sync(ctx context.Context) error {
	var ings ingressList
	var svcs serviceList
	var slices sliceList
	if err := c.api.get(ctx, "/apis/networking.k8s.io/v1/ingresses", &ings); err != nil {
		return err
	}
	if err := c.api.get(ctx, "/api/v1/services", &svcs); err != nil {
		return err
	}
	if err := c.api.get(ctx, "/apis/discovery.k8s.io/v1/endpointslices", &slices); err != nil {
		return err
	}
	st, served := c.build(ctx, &ings, &svcs, &slices)
	c.state.Store(st)
	summary := summarize(served, st)
	if summary != c.lastSummary {
		log.Printf("rig-ingress: %s", summary)
		c.lastSummary = summary
	}
	return nil
}

// build turns what the API server listed into routing state; served counts the Ingresses of our class.
func (c *controller) build(ctx context.Context, ings *ingressList, svcs *serviceList, slices *sliceList) (*state, int) {
	// service port number -> port name, to find the EndpointSlice port of a backend given by number
	portNames := map[string]string{}
	for _, s := range svcs.Items {
		for _, p := range s.Spec.Ports {
			portNames[fmt.Sprintf("%s/%s:%d", s.Metadata.Namespace, s.Metadata.Name, p.Port)] = p.Name
		}
	}
	// namespace/service:portName -> ready endpoints
	byName := map[string][]string{}
	for _, sl := range slices.Items {
		svc := sl.Metadata.Labels["kubernetes.io/service-name"]
		if svc == "" {
			continue
		}
		for _, p := range sl.Ports {
			if p.Port == nil {
				continue
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			key := sl.Metadata.Namespace + "/" + svc + ":" + name
			for _, e := range sl.Endpoints {
				if (e.Conditions.Ready != nil && !*e.Conditions.Ready) || (e.Conditions.Terminating != nil && *e.Conditions.Terminating) {
					continue
				}
				for _, a := range e.Addresses {
					byName[key] = append(byName[key], net.JoinHostPort(a, strconv.Itoa(*p.Port)))
				}
			}
		}
	}
	st := &state{hosts: map[string][]path{}, endpoints: map[string][]string{}, certs: map[string]*tls.Certificate{}}
	served := 0
	for _, ing := range ings.Items {
		class := ing.Metadata.Annotations["kubernetes.io/ingress.class"]
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		if class != c.class {
			continue
		}
		served++
		ns := ing.Metadata.Namespace
		id := ns + "/" + ing.Metadata.Name
		strip := ing.Metadata.Annotations[stripPrefixAnnotation] == "true"
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				continue
			}
			cert, err := c.loadCert(ctx, ns, t.SecretName)
			if err != nil {
				log.Printf("rig-ingress: %s: tls secret %s: %v (the default certificate is served instead)", id, t.SecretName, err)
				continue
			}
			for _, h := range t.Hosts {
				st.certs[strings.ToLower(h)] = cert
			}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			host := strings.ToLower(rule.Host)
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				svc := p.Backend.Service
				portName := svc.Port.Name
				if portName == "" {
					portName = portNames[fmt.Sprintf("%s/%s:%d", ns, svc.Name, svc.Port.Number)]
				}
				key := ns + "/" + svc.Name + ":" + portName
				st.endpoints[key] = byName[key]
				prefix := p.Path
				if prefix == "" {
					prefix = "/"
				}
				if len(prefix) > 1 {
					prefix = strings.TrimSuffix(prefix, "/")
				}
				st.hosts[host] = append(st.hosts[host], path{exact: p.PathType == "Exact", strip: strip, prefix: prefix, key: key, ingress: id})
			}
		}
	}
	for h := range st.hosts {
		ps := st.hosts[h]
		sort.SliceStable(ps, func(i, j int) bool {
			if len(ps[i].prefix) != len(ps[j].prefix) {
				return len(ps[i].prefix) > len(ps[j].prefix)
			}
			return ps[i].exact && !ps[j].exact
		})
	}
	return st, served
}

func summarize(served int, st *state) string {
	keys := make([]string, 0, len(st.endpoints))
	for k, v := range st.endpoints {
		keys = append(keys, fmt.Sprintf("%s=%d", k, len(v)))
	}
	sort.Strings(keys)
	hosts := make([]string, 0, len(st.hosts))
	for h := range st.hosts {
		if h == "" {
			h = "(any)"
		}
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	return fmt.Sprintf("%d ingress(es); hosts %s; ready endpoints %s", served, strings.Join(hosts, ","), strings.Join(keys, " "))
}

func (c *controller) loadCert(ctx context.Context, ns, name string) (*tls.Certificate, error) {
	var s secret
	if err := c.api.get(ctx, "/api/v1/namespaces/"+ns+"/secrets/"+name, &s); err != nil {
		return nil, err
	}
	crt, err1 := base64.StdEncoding.DecodeString(s.Data["tls.crt"])
	key, err2 := base64.StdEncoding.DecodeString(s.Data["tls.key"])
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

func (c *controller) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if st := c.state.Load(); st != nil {
		name := strings.ToLower(hello.ServerName)
		if cert, ok := st.certs[name]; ok {
			return cert, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if cert, ok := st.certs["*"+name[i:]]; ok {
				return cert, nil
			}
		}
	}
	return c.defaultCert, nil
}

// route finds the Ingress path for a request: exact host, then "*.rest-of-host", then rules without host.
func (c *controller) route(r *http.Request) (path, bool) {
	st := c.state.Load()
	if st == nil {
		return path{}, false
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	candidates := []string{host}
	if i := strings.IndexByte(host, '.'); i > 0 {
		candidates = append(candidates, "*"+host[i:])
	}
	candidates = append(candidates, "")
	for _, h := range candidates {
		for _, p := range st.hosts[h] {
			if matches(p, r.URL.Path) {
				return p, true
			}
		}
	}
	return path{}, false
}

func matches(p path, reqPath string) bool {
	if p.exact {
		return reqPath == p.prefix
	}
	if p.prefix == "/" {
		return true
	}
	return reqPath == p.prefix || strings.HasPrefix(reqPath, p.prefix+"/")
}

// ---- proxying -----------------------------------------------------------------------------------

var errNoEndpoints = errors.New("no ready endpoints")

type backendKey struct{}

func (c *controller) rewrite(pr *httputil.ProxyRequest) {
	p, _ := c.route(pr.In)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "backend.invalid" // replaced by the endpoint in retryTransport
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	if p.strip && p.prefix != "/" {
		stripPrefix(pr.Out.URL, p.prefix)
		pr.Out.Header.Set("X-Forwarded-Prefix", p.prefix)
	}
	pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), backendKey{}, p.key))
}

// stripPrefixAnnotation on an Ingress: its backends get the request path without the matched path.
const stripPrefixAnnotation = "jetscale.dev/strip-prefix"

// stripPrefix removes prefix (an Ingress path that matched u.Path element-wise, no trailing slash) from the front
// of u's path; the query is untouched and what is left always starts with "/". The escaped form loses the same
// leading characters, so an encoded slash (%2F) further on reaches the backend as sent.
func stripPrefix(u *url.URL, prefix string) {
	rest := strings.TrimPrefix(u.Path, prefix)
	if rest == "" {
		rest = "/"
	}
	raw := u.RawPath
	u.Path, u.RawPath = rest, ""
	if raw != "" && strings.HasPrefix(raw, prefix) {
		if r := strings.TrimPrefix(raw, prefix); r != "" {
			u.RawPath = r
		}
	}
}

// pick returns the endpoints of key, rotated for round robin, skipping those already tried.
func (c *controller) pick(key string, tried map[string]bool) (string, error) {
	st := c.state.Load()
	if st == nil {
		return "", errNoEndpoints
	}
	eps := st.endpoints[key]
	if len(eps) == 0 {
		return "", fmt.Errorf("%w for %s", errNoEndpoints, key)
	}
	start := int(c.next.Add(1) % uint64(len(eps)))
	for i := range eps {
		ep := eps[(start+i)%len(eps)]
		if !tried[ep] {
			return ep, nil
		}
	}
	return "", errAllTried
}

var errAllTried = errors.New("every ready endpoint was tried")

type retryTransport struct {
	c    *controller
	base http.RoundTripper
}

func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, _ := req.Context().Value(backendKey{}).(string)
	idempotent := (req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions) &&
		(req.Body == nil || req.Body == http.NoBody)
	tried := map[string]bool{}
	var lastErr error
	// Up to ~3 s: long enough for the next sync to bring a rollout's new endpoint list.
	for attempt := 0; attempt < 12; attempt++ {
		ep, err := t.c.pick(key, tried)
		if errors.Is(err, errAllTried) {
			// every endpoint we know failed: wait for the next sync, then try the list afresh
			time.Sleep(250 * time.Millisecond)
			clear(tried)
			continue
		}
		if err != nil {
			if !idempotent {
				return nil, err
			}
			lastErr = err
			time.Sleep(250 * time.Millisecond) // no endpoint yet (a rollout in progress): wait for the next sync
			continue
		}
		tried[ep] = true
		out := req.Clone(req.Context())
		out.URL.Host = ep
		res, err := t.base.RoundTrip(out)
		if err == nil {
			return res, nil
		}
		lastErr = err
		if !idempotent || req.Context().Err() != nil {
			return nil, err
		}
		log.Printf("rig-ingress: %s %s via %s: %v (retrying)", req.Method, req.URL.Path, ep, err)
	}
	return nil, lastErr
}
