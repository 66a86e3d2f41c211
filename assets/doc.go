// Package assets holds the files sockbus serves over HTTP that are not
// Socket.IO or WebSocket traffic: the browser bundle of socket.io-client at
// <socketio-path>socket.io.js, the npm packages that ship other static
// files, and the demo page at /.
//
// npm packages are embedded at build time: `make build` runs `npm ci`, then
// internal/fill copies each entry of [Packages] from node_modules into
// dist/ (git-ignored), then builds with the build tag sockbus_assets, whose
// go:embed picks dist/ up. A plain `go build` has no tag and embeds nothing;
// [Open] then reads the package from a directory given by a flag
// (--client-dir for socket.io-client) and says so.
//
// Adding a package is one line in [Packages] (its npm name and the
// directory that is served, e.g. {"@socket.io/admin-ui", "ui/dist"}; the
// package must be in package.json); app then serves it with
// http.StripPrefix(prefix, Handler(src)) for src from Open(p, flagDir).
//
// The demo page (demo/) is our own HTML and JavaScript and is always
// embedded.
//
// app mounts the handlers; wsedge does not import this package.
package assets
