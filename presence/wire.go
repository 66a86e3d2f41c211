package presence

import (
	"encoding/binary"
	"errors"

	"github.com/sockbus/sockbus/bus"
)

// What a node sends other nodes, in one compact binary form: a kind byte,
// a header (node, epoch, sequence, count), then what the kind carries.
// Strings are a uvarint length and the bytes.
const (
	kindDelta  = 'D' // changes (none: a beat)
	kindSnap   = 'S' // a chunk of a snapshot
	kindBuried = 'B' // a dead node whose members were announced as left
)

// Bounds of one message: a batch of changes or a snapshot chunk ends at
// whichever comes first.
const (
	maxBatch      = 512
	maxBatchBytes = 64 << 10
)

// header starts every message. seq is the sender's last delta (a delta's
// own number); count is how many memberships the sender held at seq.
type header struct {
	kind       byte
	node       string
	epoch, seq uint64
	count      uint64
	req, part  uint64 // snapshots: the request answered, the chunk's number
	last       bool   // snapshots: the final chunk
	dead       string // buried: the dead node
	deadEpoch  uint64 // buried: its epoch
}

// change is one membership change; a snapshot holds joins only.
type change struct {
	join       bool
	prefix, id string
	user       string
	at         int64 // when it joined (Unix nanoseconds, the owner's clock): answers list in this order
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHeader(b []byte, h header) []byte {
	b = append(b, h.kind)
	b = appendString(b, h.node)
	b = binary.AppendUvarint(b, h.epoch)
	b = binary.AppendUvarint(b, h.seq)
	b = binary.AppendUvarint(b, h.count)
	switch h.kind {
	case kindSnap:
		b = binary.AppendUvarint(b, h.req)
		b = binary.AppendUvarint(b, h.part)
		last := byte(0)
		if h.last {
			last = 1
		}
		b = append(b, last)
	case kindBuried:
		b = appendString(b, h.dead)
		b = binary.AppendUvarint(b, h.deadEpoch)
	}
	return b
}

func appendChange(b []byte, c change) []byte {
	if !c.join {
		b = append(b, '-')
		b = appendString(b, c.prefix)
		return appendString(b, c.id)
	}
	b = append(b, '+')
	b = appendString(b, c.prefix)
	b = appendString(b, c.id)
	b = appendString(b, c.user)
	return binary.AppendVarint(b, c.at)
}

var errMalformed = errors.New("presence: malformed message")

// reader decodes a message; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errMalformed
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw is the next string's bytes, not copied (for map lookups).
func (r *reader) raw() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errMalformed
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) str() string { return string(r.raw()) }

func (r *reader) header() header {
	h := header{kind: r.byte(), node: r.str(), epoch: r.uvarint(), seq: r.uvarint(), count: r.uvarint()}
	switch h.kind {
	case kindDelta:
	case kindSnap:
		h.req, h.part = r.uvarint(), r.uvarint()
		h.last = r.byte() == 1
	case kindBuried:
		h.dead, h.deadEpoch = r.str(), r.uvarint()
	default:
		r.err = errMalformed
	}
	if r.err == nil && (!validNode(h.node) || (h.kind == kindBuried && !validNode(h.dead))) {
		r.err = errMalformed // a name no node has: it would make a subject no node listens on
	}
	return h
}

// validNode reports whether name is a node's name as every node writes it:
// one subject token, as bus.EncodeToken makes it.
func validNode(name string) bool {
	_, err := bus.DecodeToken(name)
	return err == nil
}

// next decodes the next change into c (prefix and id as views of the
// message: copy what is kept); false at the end or on a malformed one.
func (r *reader) next(c *rawChange) bool {
	if r.err != nil || len(r.b) == 0 {
		return false
	}
	switch r.byte() {
	case '+':
		c.join = true
		c.prefix, c.id, c.user = r.raw(), r.raw(), r.raw()
		c.at = r.varint()
	case '-':
		c.join = false
		c.prefix, c.id, c.user = r.raw(), r.raw(), nil
	default:
		r.err = errMalformed
	}
	return r.err == nil
}

// rawChange is a decoded change whose strings still point into the message.
type rawChange struct {
	join       bool
	prefix, id []byte
	user       []byte
	at         int64
}

// batches encodes changes as messages of at most maxBatch changes and
// maxBatchBytes each, every one starting with the header next(i) makes.
func batches(changes []change, next func(i int, last bool) header) [][]byte {
	bodies := chunks(changes)
	out := make([][]byte, len(bodies))
	for i, body := range bodies {
		out[i] = append(appendHeader(make([]byte, 0, len(body)+64), next(i, i == len(bodies)-1)), body...)
	}
	return out
}

// chunks encodes changes in runs of at most maxBatch changes and
// maxBatchBytes each (one empty run for none): the bodies of messages.
func chunks(changes []change) [][]byte {
	var out [][]byte
	for i := 0; i == 0 || len(changes) > 0; i++ {
		n, size := 0, 0
		for n < len(changes) && n < maxBatch && size < maxBatchBytes {
			size += len(changes[n].prefix) + len(changes[n].id) + len(changes[n].user) + 16
			n++
		}
		b := make([]byte, 0, size)
		for _, c := range changes[:n] {
			b = appendChange(b, c)
		}
		out = append(out, b)
		changes = changes[n:]
	}
	return out
}
