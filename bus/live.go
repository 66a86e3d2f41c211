package bus

import (
	"bytes"
	"strconv"
)

// Live delivery of stored events.
//
// Stored events reach live subscribers on sockbus.live.<tail> with their
// stream sequence (HeaderSequence) and stream name (HeaderStream), in the
// order their stream stored them, and only once stored. Two ways give that:
//
//   - A stream's RePublish: the stream's own loop publishes each event it
//     stores, whoever published it. Needed wherever something other than
//     this node may write to the streams: a cluster's other nodes, backends
//     on the NATS listener (their publishes on public subjects are mapped
//     into the streams), an external NATS.
//   - The node itself, when it is its streams' only writer (embedded server,
//     no cluster, no NATS listener: liveByNode). Every acknowledgement of a
//     stored publish reaches the node's one reply subscription in the order
//     its stream stored the events (one stream loop sends them, one
//     connection carries them, one goroutine reads them), and the node
//     delivers each event live there (Sender.answer, goLive: to its own
//     subscriptions directly, local.go), before it reads the next
//     acknowledgement. So live subscribers see what they saw with
//     RePublish, and the stream does without the per-event work RePublish
//     costs it (loading the subject's previous message, formatting five
//     headers, routing from the stream's loop): `BenchmarkStoredAck`
//     (docs/benchmarks.md). The streams then have no RePublish; adoptStream
//     adds or removes it when a restart changes the mode.
//
// A duplicate's acknowledgement (a resend whose first copy was stored) is not
// published live, as RePublish does not republish one: its first copy's
// acknowledgement was not read (the node's connection was lost, and with it
// the live delivery), or was another publish's with the caller's message id.

// liveSubject is where publishing msgSubject live goes when the node
// publishes stored events live itself; "" when it does not, or when the
// subject is no name's (it is stored as is: see StoreSubject).
func (b *Bus) liveSubject(msgSubject string) string {
	if !b.liveByNode {
		return ""
	}
	if _, _, ok := splitPublic(msgSubject); !ok {
		return ""
	}
	return Live(msgSubject)
}

// liveCopy is p's event, stored at ack, as live subscribers get it: every
// header of the stored event but its message id, plus its sequence and
// stream. It takes p's header map (p is finished: nothing sends it again)
// instead of copying it, and one array holds both new values: three
// allocations per live event instead of seven. p.from.mu is held.
func liveCopy(p *pendingAck, ack Stored) *Msg {
	h := Header(p.msg.Header)
	delete(h, headerMsgID)
	var buf [20]byte
	v := &[2]string{string(strconv.AppendUint(buf[:0], ack.Seq, 10)), ack.Stream}
	h[HeaderSequence] = v[0:1:1]
	h[HeaderStream] = v[1:2:2]
	return &Msg{Subject: p.live, Header: h, Data: p.msg.Data}
}

// Stored acknowledgements as the stream writes them (nats-server's pubAck
// template): {"stream":"<name>","seq":<n>} or with ,"duplicate": true.
var (
	ackStreamKey = []byte(`{"stream":"`)
	ackSeqKey    = []byte(`","seq":`)
	ackDupTail   = []byte(`,"duplicate": true}`)
)

// parseStored reads a stored acknowledgement in the stream's own format
// without a JSON decoder; ok is false for anything else (an error, a domain,
// a batch), which the caller decodes as JSON. Stream names the node knows
// come from names, so reading an acknowledgement allocates nothing.
func parseStored(data []byte, names map[string]string) (Stored, bool) {
	rest, ok := bytes.CutPrefix(data, ackStreamKey)
	if !ok {
		return Stored{}, false
	}
	name, rest, ok := bytes.Cut(rest, ackSeqKey)
	if !ok || bytes.ContainsAny(name, `"\`) {
		return Stored{}, false
	}
	i := 0
	var seq uint64
	for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 19; i++ {
		seq = seq*10 + uint64(rest[i]-'0')
	}
	var dup bool
	switch tail := rest[i:]; {
	case i == 0 || seq == 0:
		return Stored{}, false
	case len(tail) == 1 && tail[0] == '}':
	case bytes.Equal(tail, ackDupTail):
		dup = true
	default:
		return Stored{}, false
	}
	stream, known := names[string(name)]
	if !known {
		stream = string(name)
	}
	return Stored{Stream: stream, Seq: seq, Duplicate: dup}, true
}
