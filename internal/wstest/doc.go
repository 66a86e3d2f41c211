// Package wstest is a WebSocket test client (gws in client mode) for
// sockbus's tests: dial, send, and wait for messages or a close with a
// deadline instead of sleeping.
//
// Start reading at Dial (client.go); frame.go writes raw frames for the
// hostile-input tests.
package wstest
