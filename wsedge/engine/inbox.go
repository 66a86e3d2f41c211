package engine

import "sync"

// inbox hands received messages to the callbacks on a goroutine that runs
// while there is something to hand over.
type inbox struct {
	s         *Session
	mu        sync.Mutex
	q         []inMsg
	spare     []inMsg
	bytes     int
	running   bool
	space     chan struct{} // closed when a waiting reader may retry (room, or closed)
	closed    bool
	notified  bool
	reason    string
	onMessage func([]byte, bool)
	onClose   func(string)
}

type inMsg struct {
	data   []byte
	binary bool
}

// deliver queues a message, waiting while the inbox is full. data must
// already belong to the session. It drops the message once s is closed.
func (in *inbox) deliver(data []byte, binary bool) {
	for {
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return
		}
		if len(in.q) == 0 || len(in.q) < inboxMaxMessages && in.bytes+len(data) <= inboxMaxBytes {
			in.q = append(in.q, inMsg{data, binary})
			in.bytes += len(data)
			in.startLocked()
			in.mu.Unlock()
			return
		}
		if in.space == nil {
			in.space = make(chan struct{})
		}
		space := in.space
		in.mu.Unlock()
		<-space // room, or the session closed (close wakes the waiters too)
	}
}

// deliverInline is deliver for a caller that may run the callbacks itself:
// when no dispatcher runs, the caller becomes the dispatcher until the queue
// is empty, which saves a goroutine start and a hand-off per message. The
// callbacks stay sequential and in order, and OnClose still comes last.
func (in *inbox) deliverInline(data []byte, binary bool) {
	in.mu.Lock()
	if in.closed || in.running {
		in.mu.Unlock()
		in.deliver(data, binary)
		return
	}
	in.q = append(in.q, inMsg{data, binary})
	in.bytes += len(data)
	in.running = true
	in.s.srv.busy.add()
	in.mu.Unlock()
	in.dispatch()
}

// close makes the dispatcher call OnClose once the queue is empty.
func (in *inbox) close(reason string) {
	in.mu.Lock()
	in.closed, in.reason = true, reason
	if in.space != nil { // a reader waiting for room: it drops its message
		close(in.space)
		in.space = nil
	}
	in.startLocked()
	in.mu.Unlock()
}

func (in *inbox) startLocked() {
	if !in.running {
		in.running = true
		in.s.srv.busy.add()
		go in.dispatch()
	}
}

func (in *inbox) dispatch() {
	defer in.s.srv.busy.done()
	in.mu.Lock()
	for {
		if len(in.q) == 0 {
			if in.closed && !in.notified {
				fn, reason := in.onClose, in.reason
				in.notified, in.onClose, in.onMessage = true, nil, nil
				in.mu.Unlock()
				if fn != nil {
					fn(reason)
				}
				in.mu.Lock()
				continue
			}
			in.running = false
			if cap(in.q) > spareCap {
				in.q = nil
			}
			in.mu.Unlock()
			return
		}
		batch := in.q
		in.q, in.spare = in.spare[:0], nil // never let q and the batch share an array
		for i := range batch {
			fn := in.onMessage
			in.mu.Unlock()
			if fn != nil {
				fn(batch[i].data, batch[i].binary)
			}
			in.mu.Lock()
			in.bytes -= len(batch[i].data)
			batch[i] = inMsg{}
			if in.space != nil {
				close(in.space)
				in.space = nil
			}
		}
		if cap(batch) <= spareCap {
			in.spare = batch[:0]
		}
	}
}

// spareCap bounds the queue capacity an idle inbox keeps.
const spareCap = 64
