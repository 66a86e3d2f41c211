package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// Prefix is where the API is served.
const Prefix = "/api/v1/"

// Defaults of Config.
const (
	// DefaultRequestsPerSecond is each key's rate; its burst is as many.
	DefaultRequestsPerSecond = 100
	// DefaultFetchTimeout bounds a sockets request's wait for the nodes.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultBodyTimeout is Config.BodyTimeout's default.
	DefaultBodyTimeout = 30 * time.Second
	// MaxHistoryLimit bounds a history page.
	MaxHistoryLimit = 1000
)

// Config is the API's settings. Keys is required; the zero value of the
// rest works.
type Config struct {
	// Keys are the accepted bearer keys (see ReadKeys).
	Keys []string
	// RequestsPerSecond is each key's rate limit, its burst as many
	// requests (past it: 429). 0: DefaultRequestsPerSecond; negative: none.
	RequestsPerSecond float64
	// MaxBodyBytes bounds a request body (past it: 413). 0: bus.DefaultMaxPayload.
	MaxBodyBytes int64
	// Namespace and Channel say which names exist (else 404); nil: any.
	Namespace, Channel func(name string) bool
	// ChannelPresence answers GET presence for channels (the namespaces'
	// comes from the Socket.IO server); nil: 503, as without presence.
	ChannelPresence ChannelPresence
	// FetchTimeout bounds GET sockets and GET presence. 0: DefaultFetchTimeout.
	FetchTimeout time.Duration
	// BodyTimeout bounds the read of a request's body (a caller that
	// sends it slowly holds nothing longer). 0: DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Logger gets the warnings (refusals, rate-limited). Default slog.Default().
	Logger *slog.Logger
	// Metrics counts requests by endpoint and status; nil counts nothing.
	Metrics *metrics.Set
}

// History reads stored messages back: *replay.Reader.
type History interface {
	Since(ctx context.Context, l bus.Log, after uint64, fn func(bus.StoredMsg) error) (uint64, error)
	FirstAt(ctx context.Context, l bus.Log, t time.Time) (uint64, bool, error)
}

// Server serves the API. Safe for concurrent use.
type Server struct {
	cfg     Config
	keys    []apiKey
	io      *socketio.Server
	bus     *bus.Bus
	history History
	warn    *ratelog.Logger
}

// apiKey is one accepted key: its hash (compared in constant time), its
// rate limit, and the prefix of the message ids of its idempotent calls.
type apiKey struct {
	sum     [32]byte
	limit   *wsedge.TokenBucket
	idScope string
}

// ReadKeys expands the --api-key values: each is a key, or @path to a file
// of keys, one per line (blank lines and lines starting with # skipped).
// Keys shorter than 16 bytes are refused.
func ReadKeys(values []string) ([]string, error) {
	var keys []string
	for _, v := range values {
		if !strings.HasPrefix(v, "@") {
			keys = append(keys, v)
			continue
		}
		data, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("failed to read API keys: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, line)
			}
		}
	}
	if len(keys) == 0 && len(values) > 0 {
		return nil, errors.New("failed to read API keys: none given")
	}
	for _, k := range keys {
		if len(k) < 16 {
			return nil, errors.New("failed to read API keys: a key is shorter than 16 bytes")
		}
	}
	return keys, nil
}

// New returns the API over io's namespaces, b's channels and history.
func New(io *socketio.Server, b *bus.Bus, history History, cfg Config) *Server {
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = bus.DefaultMaxPayload
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, io: io, bus: b, history: history, warn: ratelog.New(cfg.Logger, 0)}
	for _, k := range cfg.Keys {
		sum := sha256.Sum256([]byte(k))
		key := apiKey{sum: sum, idScope: fmt.Sprintf("api-%x-", sum[:8])}
		if cfg.RequestsPerSecond > 0 {
			key.limit = wsedge.NewTokenBucket(cfg.RequestsPerSecond, max(1, int(cfg.RequestsPerSecond)))
		}
		s.keys = append(s.keys, key)
	}
	return s
}

// apiError is an answer other than 200: {"error": msg}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// request is one authenticated call being served.
type request struct {
	w   http.ResponseWriter
	r   *http.Request
	key *apiKey
}

// route is an endpoint: its method and handler, which returns the JSON
// answer or an *apiError.
type route struct {
	method string
	serve  func(s *Server, q *request) (any, error)
}

var routes = map[metrics.APIEndpoint]route{
	metrics.APIEmit:       {http.MethodPost, (*Server).emit},
	metrics.APIPublish:    {http.MethodPost, (*Server).publish},
	metrics.APIJoin:       {http.MethodPost, (*Server).join},
	metrics.APILeave:      {http.MethodPost, (*Server).leave},
	metrics.APIDisconnect: {http.MethodPost, (*Server).disconnect},
	metrics.APISockets:    {http.MethodGet, (*Server).sockets},
	metrics.APIHistory:    {http.MethodGet, (*Server).readHistory},
	metrics.APIPresence:   {http.MethodGet, (*Server).readPresence},
}

// ServeHTTP serves Prefix + endpoint: the key first (401), then its rate
// (429), then the endpoint (404 when none), its method (405), its answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := metrics.APIEndpointOf(strings.TrimPrefix(r.URL.Path, Prefix))
	status, answer := s.serve(ep, w, r)
	s.cfg.Metrics.APIRequest(ep, status)
	if e, ok := answer.(*apiError); ok {
		if status == http.StatusUnauthorized || status == http.StatusTooManyRequests || status == http.StatusRequestEntityTooLarge {
			s.warn.Warn("http api request refused", "status", status, "error", e.msg, "path", r.URL.Path, "address", r.RemoteAddr)
		}
		answer = map[string]string{"error": e.msg}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sockbus"`)
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(answer)
}

// serve runs one request to its status and answer.
func (s *Server) serve(ep metrics.APIEndpoint, w http.ResponseWriter, r *http.Request) (int, any) {
	key := s.authorize(r)
	if key == nil {
		return http.StatusUnauthorized, fail(http.StatusUnauthorized, "missing or wrong API key")
	}
	if !key.limit.Allow() {
		return http.StatusTooManyRequests, fail(http.StatusTooManyRequests, "rate limit exceeded")
	}
	rt, ok := routes[ep]
	if !ok {
		return http.StatusNotFound, fail(http.StatusNotFound, "no such endpoint")
	}
	if r.Method != rt.method {
		return http.StatusMethodNotAllowed, fail(http.StatusMethodNotAllowed, "use %s", rt.method)
	}
	answer, err := rt.serve(s, &request{w: w, r: r, key: key})
	if err != nil {
		var e *apiError
		if errors.As(err, &e) {
			return e.status, e
		}
		s.warn.Warn("http api request failed", "path", r.URL.Path, "err", err)
		return http.StatusServiceUnavailable, fail(http.StatusServiceUnavailable, "%s", err.Error())
	}
	return http.StatusOK, answer
}

// authorize finds the request's key; every configured key is compared, in
// constant time, so the answer's timing tells nothing about which matched.
func (s *Server) authorize(r *http.Request) *apiKey {
	h := r.Header.Get("Authorization")
	const scheme = "Bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(scheme):])))
	var found *apiKey
	for i := range s.keys {
		if subtle.ConstantTimeCompare(sum[:], s.keys[i].sum[:]) == 1 {
			found = &s.keys[i]
		}
	}
	return found
}

// decode reads a JSON body into v: 413 past MaxBodyBytes (read no
// further), 400 when it is not one JSON object of v's fields.
func (s *Server) decode(q *request, v any) error {
	rc := http.NewResponseController(q.w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, s.cfg.MaxBodyBytes))
	if err == nil {
		// Read in whole: the rest of the call is not bound by the body's
		// deadline. (After an error it stays: net/http then closes the
		// connection instead of waiting for the rest of the body.)
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "body over %d bytes", s.cfg.MaxBodyBytes)
		}
		return fail(http.StatusBadRequest, "failed to read the body within %v: %v", s.cfg.BodyTimeout, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "malformed JSON body: more than one value")
	}
	return nil
}
