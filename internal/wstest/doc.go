// Package wstest is a WebSocket test client (gws in client mode) for
// sockbus's tests: dial, send, and wait for messages or a close with a
// deadline instead of sleeping.
package wstest
