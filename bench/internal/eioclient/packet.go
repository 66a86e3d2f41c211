package eioclient

import "strconv"

// NoAck marks an event sent without an ack id.
const NoAck = -1

// Prefix is what follows the packet type for namespace ns: "" for the main
// namespace "/", "/chat," otherwise.
func Prefix(ns string) string {
	if ns == "" || ns == "/" {
		return ""
	}
	return ns + ","
}

// AppendEvent appends the Engine.IO frame of a Socket.IO EVENT:
// `42<prefix>[<ackID>]<args>`; args is a JSON array with the event name first.
func AppendEvent(dst []byte, prefix string, ackID int64, args []byte) []byte {
	dst = append(dst, '4', '2')
	dst = append(dst, prefix...)
	if ackID >= 0 {
		dst = strconv.AppendInt(dst, ackID, 10)
	}
	return append(dst, args...)
}

// packet is a decoded Socket.IO packet from the server (text only).
type packet struct {
	typ   byte   // '0' CONNECT ... '6' BINARY_ACK
	ackID int64  // NoAck when absent
	data  []byte // the JSON after prefix and id (aliases the frame)
}

// parsePacket decodes a Socket.IO packet (the frame without its leading
// Engine.IO '4') addressed to the namespace of prefix; ok is false for a
// packet of another namespace or one it cannot read.
func parsePacket(b []byte, prefix string) (p packet, ok bool) {
	if len(b) == 0 {
		return p, false
	}
	p.typ, b = b[0], b[1:]
	if p.typ == '5' || p.typ == '6' { // binary: "<n>-" attachments
		i := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == len(b) || b[i] != '-' {
			return p, false
		}
		b = b[i+1:]
	}
	if prefix == "" {
		if len(b) > 0 && b[0] == '/' {
			return p, false
		}
	} else {
		if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
			// "41/ns" may come without the trailing comma.
			if !(len(b) == len(prefix)-1 && string(b) == prefix[:len(prefix)-1]) {
				return p, false
			}
			b = b[len(b):]
		} else {
			b = b[len(prefix):]
		}
	}
	p.ackID = NoAck
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.ParseInt(string(b[:i]), 10, 64)
		if err != nil {
			return p, false
		}
		p.ackID = id
		b = b[i:]
	}
	p.data = b
	return p, true
}

// LeadingInts reads the first two unsigned integers of b (the sender's
// timestamp and sequence number in the benchmark payloads, whether
// `["m",T,S,...]` or `T,S,...`). ok is false if b holds fewer than two.
func LeadingInts(b []byte) (a, c uint64, ok bool) {
	var vals [2]uint64
	n := 0
	for i := 0; i < len(b) && n < 2; i++ {
		if b[i] < '0' || b[i] > '9' {
			continue
		}
		var v uint64
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			v = v*10 + uint64(b[i]-'0')
		}
		vals[n] = v
		n++
	}
	return vals[0], vals[1], n == 2
}

// LastString returns the last element of a JSON array if it is a string
// without escapes (a recovery offset), else "".
func LastString(args []byte) string {
	i := len(args) - 1
	for i >= 0 && (args[i] == ' ' || args[i] == '\n' || args[i] == '\r' || args[i] == '\t') {
		i--
	}
	if i < 1 || args[i] != ']' {
		return ""
	}
	i--
	for i >= 0 && args[i] == ' ' {
		i--
	}
	if i < 1 || args[i] != '"' {
		return ""
	}
	end := i
	for i--; i >= 0; i-- {
		switch args[i] {
		case '\\':
			return ""
		case '"':
			// The string must be a whole element: preceded by ',' or '['.
			j := i - 1
			for j >= 0 && args[j] == ' ' {
				j--
			}
			if j < 0 || (args[j] != ',' && args[j] != '[') {
				return ""
			}
			return string(args[i+1 : end])
		}
	}
	return ""
}
