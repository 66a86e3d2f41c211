// Package randid makes random identifiers: socket and session ids, inbox
// tags, stream epochs. Every id sockbus draws comes from here, from
// crypto/rand, in one of two spellings: lowercase hex, or base64url
// (whose characters are all plain subject-token bytes, see bus.IsPlain).
//
// Everything is in randid.go.
package randid
