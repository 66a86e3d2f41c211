// Package eventually is the one way sockbus's tests wait for a condition
// that no event announces (a subprocess's output, a store's expiry, a
// counter): poll it with a deadline, never sleep for a guessed time.
//
// Start reading at True and Within (eventually.go, the only file).
package eventually
