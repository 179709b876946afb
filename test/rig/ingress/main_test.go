package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// ingressJSON is one Ingress as the API server lists it: paths (path → Service) and its annotations.
func ingressJSON(name string, annotations map[string]string, paths map[string]string) string {
	var ps []string
	for p, svc := range paths {
		ps = append(ps, fmt.Sprintf(`{"path":%q,"pathType":"Prefix","backend":{"service":{"name":%q,"port":{"name":"http"}}}}`, p, svc))
	}
	a, _ := json.Marshal(annotations)
	return fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"ns","annotations":%s},"spec":{"ingressClassName":"jetscale-rig","rules":[{"http":{"paths":[%s]}}]}}`,
		name, a, strings.Join(ps, ","))
}

// The chart's two Ingresses (the second annotated for strip) in front of a loopback backend that answers with
// the request URI and X-Forwarded-Prefix it got.
func TestStripPrefixAnnotation(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.RequestURI()+" "+r.Header.Get("X-Forwarded-Prefix"))
	}))
	defer backend.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))

	var ings ingressList
	var svcs serviceList
	var slices sliceList
	decode := func(text string, out any) {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			t.Fatal(err)
		}
	}
	decode(`{"items":[`+
		ingressJSON("app-web", nil, map[string]string{"/keep": "keep", "/": "root"})+","+
		ingressJSON("app-web-strip", map[string]string{"jetscale.dev/strip-prefix": "true"}, map[string]string{"/py": "py"})+
		`]}`, &ings)
	var sl []string
	for _, svc := range []string{"keep", "root", "py"} {
		sl = append(sl, fmt.Sprintf(`{"metadata":{"namespace":"ns","labels":{"kubernetes.io/service-name":%q}},
			"endpoints":[{"addresses":[%q],"conditions":{"ready":true}}],"ports":[{"name":"http","port":%s}]}`, svc, host, port))
	}
	decode(`{"items":[`+strings.Join(sl, ",")+`]}`, &slices)

	c := &controller{class: "jetscale-rig"}
	st, served := c.build(context.Background(), &ings, &svcs, &slices)
	if served != 2 {
		t.Fatalf("served %d Ingresses, want 2", served)
	}
	c.state.Store(st)
	front := httptest.NewServer(c.handler())
	defer front.Close()

	for _, tc := range []struct{ in, want string }{
		{"/py", "/ /py"},
		{"/py/", "/ /py"},
		{"/py/x?q=1", "/x?q=1 /py"},
		{"/py/x/y?q=1&r=/py", "/x/y?q=1&r=/py /py"},
		{"/py/a%2Fb", "/a%2Fb /py"},
		{"/pyx", "/pyx "},               // not under /py: the root route, unstripped
		{"/keep/y?q=1", "/keep/y?q=1 "}, // an Ingress without the annotation
	} {
		t.Run(tc.in, func(t *testing.T) {
			res, err := http.Get(front.URL + tc.in)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || string(body) != tc.want {
				t.Errorf("GET %s: backend got %q (status %d), want %q", tc.in, body, res.StatusCode, tc.want)
			}
		})
	}
}
