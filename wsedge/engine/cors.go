package engine

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS configures cross-origin access. For the polling transport it is on
// when AllowedOrigins is not empty or AllowOrigin is set; the headers then go
// on every response of the server, errors included, and OPTIONS requests are
// answered as preflights (204). Browsers do not apply CORS to WebSocket
// handshakes, so the server checks those itself (AllowsOrigin): an upgrade
// from an origin CORS does not allow is refused with 403.
type CORS struct {
	// AllowedOrigins lists the exact origins allowed, such as
	// "https://example.com"; "*" allows any origin.
	AllowedOrigins []string
	// AllowOrigin, if set, decides instead of AllowedOrigins. It is called
	// with the request's Origin header, which is never empty, from any
	// goroutine.
	AllowOrigin func(origin string) bool
	// AllowCredentials sends Access-Control-Allow-Credentials: true; with
	// "*" the request's origin is echoed instead of "*", as browsers require.
	AllowCredentials bool
	// AllowedHeaders answers preflights; default: the requested headers.
	AllowedHeaders []string
	// MaxAge, when positive, lets browsers cache preflight answers.
	MaxAge time.Duration
}

func (c CORS) clone() CORS {
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	c.AllowedHeaders = slices.Clone(c.AllowedHeaders)
	return c
}

func (c *CORS) enabled() bool { return len(c.AllowedOrigins) > 0 || c.AllowOrigin != nil }

// apply sets the CORS headers for r on w and reports whether r is a
// preflight, which it has then answered.
func (c *CORS) apply(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	origin := r.Header.Get("Origin")
	allow := ""
	switch {
	case c.AllowOrigin != nil:
		h.Add("Vary", "Origin")
		if origin != "" && c.AllowOrigin(origin) {
			allow = origin
		}
	case slices.Contains(c.AllowedOrigins, "*"):
		allow = "*"
		if c.AllowCredentials && origin != "" {
			allow = origin
			h.Add("Vary", "Origin")
		}
	default:
		h.Add("Vary", "Origin")
		if origin != "" && slices.Contains(c.AllowedOrigins, origin) {
			allow = origin
		}
	}
	if allow != "" {
		h.Set("Access-Control-Allow-Origin", allow)
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET,POST")
	if len(c.AllowedHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ","))
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// AllowsOrigin reports whether r may open a WebSocket: it has no Origin
// header (not a browser: nothing to protect against cross-site hijacking),
// its Origin is the host it was sent to (same origin), or CORS allows it.
// A page of another site otherwise could open a WebSocket with the user's
// cookies and read the answers, which CORS prevents for polling only.
func (c *CORS) AllowsOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	switch {
	case c.AllowOrigin != nil:
		if c.AllowOrigin(origin) {
			return true
		}
	case slices.Contains(c.AllowedOrigins, "*"), slices.Contains(c.AllowedOrigins, origin):
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}
