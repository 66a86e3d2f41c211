// Package replay reads sockbus's history back from JetStream: the events a
// reconnecting client missed (Since), the last events of a stream a late
// joiner would have received (Last), and the recoverable-session records of
// Socket.IO connection state recovery (Sessions).
//
// Positions are stream sequences qualified by the stream's epoch (see
// bus.Stream); a position the stream no longer holds is reported as
// bus.ErrHistoryGone and nothing is delivered, never a partial replay.
//
// Start reading at reader.go ([NewReader], [Reader.Since], [Reader.Last]);
// direct.go holds the JetStream direct gets every read goes through,
// sessions.go the session records.
package replay
