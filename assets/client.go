package assets

import (
	"fmt"
	"net/http"
)

// clientFiles are the socket.io-client bundles (and their source maps)
// served under the Socket.IO path, as socket.io serves them.
var clientFiles = map[string]bool{
	"socket.io.js": true, "socket.io.js.map": true,
	"socket.io.min.js": true, "socket.io.min.js.map": true,
	"socket.io.esm.min.js": true, "socket.io.esm.min.js.map": true,
	"socket.io.msgpack.min.js": true, "socket.io.msgpack.min.js.map": true,
}

// Client is socket.io-client's browser bundle, served at
// <socketio-path>socket.io.js and its siblings. Safe for concurrent use.
type Client struct {
	src   Source
	err   error
	files *Files
}

// OpenClient finds the bundle: embedded by `make build`, else in dir (the
// package's dist directory, e.g. node_modules/socket.io-client/dist). When
// neither has it, the client's names answer 404 with what to do, and
// Source says why.
func OpenClient(dir string) *Client {
	src, err := Open(ClientPackage, dir)
	if err != nil {
		return &Client{err: err}
	}
	return &Client{src: src, files: NewFiles(src, func(name string) bool { return clientFiles[name] })}
}

// Source is where the bundle is served from, or why it is not served.
func (c *Client) Source() (Source, error) { return c.src, c.err }

// Serves reports whether name (the path after the Socket.IO path) is one of
// the bundle's files. It does not depend on the bundle being found.
func (c *Client) Serves(name string) bool { return clientFiles[name] }

// ServeFile answers r with the bundle file name.
func (c *Client) ServeFile(w http.ResponseWriter, r *http.Request, name string) {
	if c.err != nil {
		http.Error(w, fmt.Sprintf("socket.io-client bundle not available: %v (build with `make build` to embed it, or run `npm ci`)", c.err), http.StatusNotFound)
		return
	}
	c.files.ServeFile(w, r, name)
}
