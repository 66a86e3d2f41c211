// Command fill copies the npm packages sockbus embeds (assets.Packages) from
// node_modules into assets/dist, where the sockbus_assets build embeds them.
// `make build` runs it after `npm ci`:
//
//	go run ./assets/internal/fill && go build -tags sockbus_assets .
//
// It replaces dist/ as a whole, so a package removed from the list does not
// linger in the next binary.
//
// Everything is in main.go.
package main
