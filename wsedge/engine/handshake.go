package engine

import (
	"net"
	"net/http"
	"net/url"
	"time"
)

// Handshake describes the HTTP request that opened a session. It is filled
// once and never modified: read it from any goroutine, do not write it.
type Handshake struct {
	// Header is a copy of the request's headers, Host included (net/http
	// moves it to Request.Host).
	Header http.Header
	// Query is the request's parsed query (EIO, transport, t and the
	// application's own parameters).
	Query url.Values
	// RemoteAddr is the connection's address as net/http gives it
	// ("host:port"); Address is its host part. Proxies are not consulted.
	RemoteAddr string
	Address    string
	// Time is when the handshake was received.
	Time time.Time
	// URL is the request URI as received: path and query.
	URL string
	// Secure reports whether the request came over TLS.
	Secure bool
	// XDomain reports whether the request carried an Origin header.
	XDomain bool
}

func newHandshake(r *http.Request, q url.Values) Handshake {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if r.Host != "" && r.Header != nil {
		r.Header["Host"] = []string{r.Host}
	}
	return Handshake{
		Header:     r.Header, // net/http never touches a request's headers after its handler: no copy per connection
		Query:      q,
		RemoteAddr: r.RemoteAddr,
		Address:    host,
		Time:       time.Now(),
		URL:        r.URL.RequestURI(),
		Secure:     r.TLS != nil,
		XDomain:    r.Header.Get("Origin") != "",
	}
}
