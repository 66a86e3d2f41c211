// Command proxy is the smallest load balancer sockbus needs: every HTTP
// request and every WebSocket upgrade goes to the next ready backend in
// turn. Nothing is sticky (no cookie, no client-IP hash): any sockbus node
// serves any request of any session. A backend is ready while its /readyz
// answers 200 (checked every second); when none is, all are tried.
//
//	go run ./examples/cluster/proxy --listen 127.0.0.1:3000 \
//	  --backends http://127.0.0.1:3001,http://127.0.0.1:3002,http://127.0.0.1:3003
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type backend struct {
	url   *url.URL
	ready atomic.Bool
}

type balancer struct {
	backends []*backend
	next     atomic.Uint64
}

// pick returns the next ready backend in turn, or the next one at all when
// none is ready (a check may lag a node that just came up).
func (lb *balancer) pick() *backend {
	n := uint64(len(lb.backends))
	start := lb.next.Add(1)
	for i := range n {
		if b := lb.backends[(start+i)%n]; b.ready.Load() {
			return b
		}
	}
	return lb.backends[start%n]
}

// check polls every backend's /readyz until ctx ends.
func (lb *balancer) check(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: every}
	for {
		for _, b := range lb.backends {
			resp, err := client.Get(b.url.JoinPath("/readyz").String())
			ok := err == nil && resp.StatusCode == http.StatusOK
			if resp != nil {
				resp.Body.Close()
			}
			if b.ready.Swap(ok) != ok {
				log.Printf("proxy: %s ready=%v", b.url, ok)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func parseBackends(list string) ([]*backend, error) {
	var out []*backend
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("bad backend %q: want http://host:port", s)
		}
		out = append(out, &backend{url: u})
	}
	return out, nil
}

// newProxy sends each request to the next backend lb picks, WebSocket
// upgrades included (ReverseProxy relays a 101 response and then both
// directions).
func newProxy(lb *balancer) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(lb.pick().url)
			// SetURL sends the backend's host; keep the client's instead:
			// sockbus compares a browser's Origin with Host, and a rewritten
			// Host makes every browser WebSocket look cross-origin (403).
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		FlushInterval: -1, // long-polling responses go out as they are written
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Printf("proxy: %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "address clients connect to")
	list := flag.String("backends", "http://127.0.0.1:3001,http://127.0.0.1:3002,http://127.0.0.1:3003", "comma-separated sockbus nodes")
	flag.Parse()
	backends, err := parseBackends(*list)
	if err != nil {
		log.Fatalf("proxy: %v", err)
	}
	lb := &balancer{backends: backends}
	rp := newProxy(lb)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go lb.check(ctx, time.Second)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("proxy: listening on http://%s, round-robin over %s", ln.Addr(), *list)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("proxy: %v", err)
	}
}
