package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/sockbus/sockbus/internal/ratelog"
)

// Forwarder carries the requests of sessions owned by other nodes, so that a
// load balancer may send any request of a session to any node (no sticky
// sessions). A session id starts with its owner's node name and a '~'; a
// node that gets a request for a session it does not hold dials the owner
// and forwards the request (polling GET or POST, or the WebSocket upgrade)
// as HTTP over the returned conn, where the owner serves it as if it came
// directly (Listener).
type Forwarder interface {
	// Node is this node's name: non-empty, URL-safe, without '~'.
	Node() string
	// Dial opens a conn to node's Listener for a request from client (its
	// RemoteAddr), which the owner counts against its connection limits by
	// that address. It returns an error matching ErrUnknownNode when no
	// such node listens, ErrOwnerFull when the owner's limits refuse it.
	Dial(ctx context.Context, node, client string) (net.Conn, error)
	// Listener yields the conns other nodes dial to this one. The server
	// serves it from NewServer and closes it in Close.
	Listener() net.Listener
}

// ErrUnknownNode is what Forwarder.Dial returns for a node nobody runs; the
// request is then answered "Session ID unknown", as for any unknown sid.
var ErrUnknownNode = errors.New("engine: unknown node")

// ErrOwnerFull is what Forwarder.Dial returns when the owner is at its
// connection limits (for the client's address, or in all); the request is
// answered 503, as the owner would answer it directly.
var ErrOwnerFull = errors.New("engine: owner node refused: too many connections")

// Limits is a listener's connection bounds (internal/connlimit.Listener
// implements it). Admit counts a connection from ip against the bounds in
// all and per address, AdmitPerIP against the per-address bound only; each
// returns false when that bound is full, else a release to call once.
type Limits interface {
	Admit(ip string) (release func(), ok bool)
	AdmitPerIP(ip string) (release func(), ok bool)
}

// sidSeparator ends the owner's node name in a session id (not in
// base64url, so never in the random part).
const sidSeparator = '~'

// ownerKey carries a forwarded request's owner and client to the proxy's
// dialer.
type ownerKey struct{}

type forwardTarget struct{ owner, client string }

// forwarding is the server's side of a Forwarder: a reverse proxy for
// sessions owned elsewhere and an HTTP server for the requests forwarded here.
type forwarding struct {
	fw     Forwarder
	node   string
	proxy  *httputil.ReverseProxy
	local  *http.Server
	served chan struct{} // closed when local.Serve returns

	// stop cancels forwarded requests (proxied WebSockets) on Close.
	stopCtx context.Context
	stop    context.CancelFunc

	warn *ratelog.Logger // failed forwards
}

func (srv *Server) startForwarding(fw Forwarder) {
	f := &forwarding{fw: fw, node: fw.Node(), served: make(chan struct{}), warn: ratelog.New(srv.cfg.log, 0)}
	f.stopCtx, f.stop = context.WithCancel(context.Background())
	timeout := srv.cfg.forwardTimeout
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "sockbus-owner" // the dialer ignores it: the owner travels in the context
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				to, _ := ctx.Value(ownerKey{}).(forwardTarget)
				dctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return fw.Dial(dctx, to.owner, to.client)
			},
			DisableKeepAlives:      true, // one conn per forwarded request: the next may be for another owner
			DisableCompression:     true,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 16 << 10,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case errors.Is(err, ErrUnknownNode):
				writeError(w, codeUnknownSID, "", 0)
			case errors.Is(err, ErrOwnerFull):
				writeError(w, codeBadRequest, "Too many connections", http.StatusServiceUnavailable)
			case errors.As(err, new(*http.MaxBytesError)):
				tooLarge(w) // a chunked POST over MaxPayload: 413, as the owner answers it
			case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
				f.warn.Warn("engine: forwarded request timed out", "err", err)
				writeError(w, codeBadRequest, "Owner node timed out", http.StatusGatewayTimeout)
			default:
				f.warn.Warn("engine: failed to forward request", "err", err)
				writeError(w, codeBadRequest, "Owner node unreachable", http.StatusBadGateway)
			}
		},
	}
	f.local = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.serve(w, r, true) }),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(srv.cfg.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(f.served)
		_ = f.local.Serve(fw.Listener())
	}()
	srv.fwd = f
}

// owner returns the node owning sid when it is another node ("" otherwise).
func (f *forwarding) owner(sid string) string {
	i := strings.IndexByte(sid, sidSeparator)
	if i <= 0 || sid[:i] == f.node {
		return ""
	}
	return sid[:i]
}

// forward serves a request of a session owned by node owner through it.
// A POST body is bounded by MaxPayload as on the owner.
func (srv *Server) forward(w http.ResponseWriter, r *http.Request, owner string) {
	if !srv.enter() {
		writeError(w, codeUnknownSID, "", 0)
		return
	}
	defer srv.busy.done()
	max := int64(srv.cfg.maxPayload)
	if r.ContentLength > max {
		tooLarge(w)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, max)
	}
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), ownerKey{}, forwardTarget{owner, r.RemoteAddr}))
	defer cancel()
	stop := context.AfterFunc(srv.fwd.stopCtx, cancel)
	defer stop()
	srv.fwd.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// close ends forwarded requests in both directions and waits for the local
// server, bounded by ctx.
func (f *forwarding) close(ctx context.Context) {
	f.stop()
	if err := f.local.Shutdown(ctx); err != nil {
		_ = f.local.Close()
	}
	<-f.served
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
