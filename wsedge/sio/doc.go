// Package sio encodes and decodes Socket.IO protocol v5 packets: the text
// that follows the '4' of an Engine.IO message. It does no I/O and keeps
// JSON payloads as raw bytes, so event arguments pass through byte-exact.
//
// Start with [Decode], which validates a client's packet, and [Append],
// which writes one. Event payloads are split into a name and the raw
// argument array with [SplitEvent] and put back together with [JoinEvent];
// [AppendArg] adds an argument (the connection-state-recovery offset) and
// [Elements] lists the elements of an array. Binary packets announce their
// attachment count in the header and mark each attachment in the JSON with
// {"_placeholder":true,"num":N}; [CheckPlaceholders] checks those marks once
// the count is known. Every function is safe for concurrent use.
//
// To write an event without an intermediate payload buffer, append the
// header and then the payload:
//
//	b = sio.Append(b, sio.Packet{Type: sio.Event, Namespace: ns, ID: sio.NoID})
//	b = sio.JoinEvent(b, name, args)
//
// # Validation
//
// Decode accepts what socket.io-parser 4.2.7 (the parser socket.io 4.8
// installs) accepts from the official clients, and rejects everything it
// rejects. It is stricter where the JavaScript parser relies on loose
// conversions that no client produces:
//
//   - the type byte must be '0'-'6' (JavaScript reads "" and " " as CONNECT);
//   - the attachment count must be decimal digits, 1 to the decoder's limit
//     (JavaScript also takes " 1", "0x1" and "1.0");
//   - the ack id must be decimal digits, at most [MaxID] (JavaScript takes
//     whitespace as digits, so `2 ["a"]` has id 0, and rounds long ids);
//   - EVENT, ACK and CONNECT_ERROR need their payload (JavaScript lets `2`
//     through as an event with no name, and `3<id>` as an ack with no
//     arguments); CONNECT may omit it and DISCONNECT must;
//   - the payload must be UTF-8 (a browser fails the whole WebSocket on a
//     text frame that is not, so it must never be relayed) and must start
//     right after the header; whitespace may only follow it;
//   - JSON may nest at most 10,000 levels, encoding/json's limit;
//   - the namespace must be UTF-8.
//
// As in JavaScript, an event's first element may be a number, a namespace
// runs to the first ',' (or to the end: `0/admin` and `0/admin,` are the
// same packet), an ack id may be present on any packet type, and a
// reserved event name is rejected even when written with escapes.
package sio
