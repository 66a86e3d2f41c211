// Package eio encodes and decodes Engine.IO v4 packets. It does no I/O.
//
// An Engine.IO packet is a one-character type ('0' open … '6' noop) followed
// by optional data, or a binary message. The same [Packet] is written three
// ways depending on where it travels:
//
//   - WebSocket text frame: the type character then the data ([DecodeText],
//     [AppendPacket]).
//   - WebSocket binary frame: the raw bytes of a binary message, with no type
//     character ([DecodeBinary], [AppendPacket] with Binary set).
//   - HTTP long-polling payload: records separated by the 0x1e byte, a binary
//     message written as 'b' followed by its standard base64 encoding
//     ([DecodePayload], [AppendPayload]).
//
// Decoders return data that aliases their input unless the packet had to be
// base64-decoded; callers that keep the data past the input's lifetime copy
// it. Text data is not checked for valid UTF-8 here: transports do that.
//
// Text data cannot contain the 0x1e record separator when it travels in a
// polling payload (the protocol assumes it never does); JSON never contains
// it unescaped.
//
// Start reading at Packet and DecodeText (packet.go); errors.go lists what a
// decoder refuses.
package eio
