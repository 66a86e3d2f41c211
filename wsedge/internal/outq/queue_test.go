package outq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/internal/loopback"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readFrame parses one unmasked server frame (the subset this package writes).
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("bad header %x", h)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0F, payload, err
}

func TestFramesArriveInOrderAndIntact(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := New(server, Config{}, nil)
	sizes := []int{0, 1, 125, 126, 65535, 65536, 70000}
	var want []*Frame
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		f := NewFrame(i%2 == 1, p)
		want = append(want, f)
		if err := q.Push(f); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	r := bufio.NewReader(client)
	for i, f := range want {
		op, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		wantOp := byte(opText)
		if f.Binary() {
			wantOp = opBinary
		}
		if op != wantOp || !bytes.Equal(p, f.Payload()) {
			t.Fatalf("frame %d: op %d len %d, want op %d len %d", i, op, len(p), wantOp, len(f.Payload()))
		}
	}
	q.Close()
	server.Close()
	q.Wait()
}

func TestSharedFrameManyQueues(t *testing.T) {
	f := NewFrame(false, []byte("hello"))
	for i := 0; i < 3; i++ {
		server, client := net.Pipe()
		q := New(server, Config{}, nil)
		if err := q.Push(f, f); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(client)
		for j := 0; j < 2; j++ {
			if _, p, err := readFrame(r); err != nil || string(p) != "hello" {
				t.Fatalf("got %q, %v", p, err)
			}
		}
		q.Close()
		server.Close()
		client.Close()
		q.Wait()
	}
}

func TestFullQueueRefusesAndStaysClosed(t *testing.T) {
	server, client := net.Pipe() // nobody reads client: writes block
	defer client.Close()
	q := New(server, Config{MaxFrames: 4, MaxBytes: 1 << 20}, nil)
	f := NewFrame(false, []byte("x"))
	var err error
	pushed := 0
	for i := 0; i < 100 && err == nil; i++ {
		if err = q.Push(f); err == nil {
			pushed++
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if pushed > 5 { // 4 queued plus at most one taken by the blocked writer
		t.Fatalf("pushed %d frames past a bound of 4", pushed)
	}
	if err := q.Push(f); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after full: %v, want ErrClosed", err)
	}
	server.Close()
	q.Wait()
}

func TestByteBound(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := New(server, Config{MaxBytes: 1000}, nil)
	if err := q.Push(NewFrame(true, make([]byte, 2000))); !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	server.Close()
	q.Wait()
}

func TestWriteTimeoutReportsError(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	errc := make(chan error, 1)
	q := New(server, Config{WriteTimeout: 50 * time.Millisecond}, func(err error) { errc <- err })
	if err := q.Push(NewFrame(false, []byte("stuck"))); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no write error reported")
	}
	if err := q.Push(NewFrame(false, []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after failure: %v", err)
	}
	server.Close()
	q.Wait()
}

func TestControlFrames(t *testing.T) {
	c := NewCloseFrame(1009, "message too big")
	if got := c.WSBytes(); got[0] != 0x88 || got[2] != 0x03 || got[3] != 0xF1 || string(got[4:]) != "message too big" {
		t.Fatalf("close frame % x", got)
	}
	p := NewPingFrame(make([]byte, 200))
	if len(p.Payload()) != 125 || p.WSHeader()[0] != 0x89 {
		t.Fatal("ping frame not trimmed to 125 bytes")
	}
}

// BenchmarkPushWrite pushes back-to-back 100-byte frames over net.Pipe
// (no syscall.Conn: the queue's own writer goroutine).
func BenchmarkPushWrite(b *testing.B) {
	server, client := net.Pipe()
	benchPush(b, server, client)
}

// benchPush pushes 100-byte frames as fast as the queue drains, with a
// reader discarding them at the other end.
func benchPush(b *testing.B, server, client net.Conn) {
	go io.Copy(io.Discard, client)
	q := New(server, Config{}, nil)
	f := NewFrame(false, bytes.Repeat([]byte("x"), 100))
	b.ReportAllocs()
	for b.Loop() {
		for q.Len() > 256<<10 { // stay under the bound: measure the write path, not ErrFull
			runtime.Gosched()
		}
		if err := q.Push(f); err != nil {
			b.Fatal(err)
		}
	}
	q.Close()
	server.Close()
	client.Close()
	q.Wait()
}

// Over TCP, with a reader that stalls while frames pile up (partial writes
// included), everything still arrives in order, intact, once it reads.
func TestInlineAndQueuedWritesKeepOrderOverTCP(t *testing.T) {
	client, server := loopback.Pair(t)
	defer client.Close()
	q := New(server, Config{MaxBytes: 64 << 20, MaxFrames: 1 << 20}, nil)
	var want [][]byte
	for i := 0; i < 1000; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+(i*7919)%70000) // sizes across header forms, ~35 MB in all
		want = append(want, p)
		if err := q.Push(NewFrame(true, p)); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	r := bufio.NewReader(client)
	for i, p := range want {
		_, got, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("frame %d: %d bytes, want %d intact", i, len(got), len(p))
		}
	}
	q.Close()
	server.Close()
	q.Wait()
}

func TestWriteErrorReportsOnce(t *testing.T) {
	client, server := loopback.Pair(t)
	client.Close()
	errc := make(chan error, 4)
	q := New(server, Config{}, func(err error) { errc <- err })
	deadline := time.Now().Add(5 * time.Second)
	for q.Push(NewFrame(false, []byte("x"))) == nil { // the peer's reset surfaces after a write or two
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer never failed")
		}
	}
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("no error reported")
	}
	server.Close()
	q.Wait()
	if len(errc) != 0 {
		t.Fatal("error reported more than once")
	}
}

// BenchmarkPushTCP is BenchmarkPushWrite over loopback TCP (the shared
// flushers' non-blocking writes).
func BenchmarkPushTCP(b *testing.B) {
	client, server := loopback.Pair(b)
	benchPush(b, server, client)
}

// A write deadline left in the past (as a blocking write leaves one behind
// once it expires) must not fail the non-blocking path: the queue's own
// writer takes over and moves it.
func TestExpiredDeadlineDoesNotFailAWrite(t *testing.T) {
	client, server := loopback.Pair(t)
	defer client.Close()
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	q := New(server, Config{}, func(err error) { errc <- err })
	if err := q.Push(NewFrame(false, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := readFrame(bufio.NewReader(client))
	if err != nil || string(got) != "after" {
		t.Fatalf("got %q, %v", got, err)
	}
	q.Close()
	server.Close()
	q.Wait()
	select {
	case err := <-errc:
		t.Fatalf("write error reported: %v", err)
	default:
	}
}

// Many queues pushed from several goroutines at once share the flushers;
// each connection still gets its own frames, in order, none twice.
func TestManyQueuesConcurrentPushesOverTCP(t *testing.T) {
	const conns, perConn = 50, 400
	type pair struct {
		q      *Queue
		server net.Conn
		client net.Conn
	}
	pairs := make([]pair, conns)
	for i := range pairs {
		c, s := loopback.Pair(t)
		pairs[i] = pair{New(s, Config{}, nil), s, c}
	}
	shared := make([]*Frame, perConn)
	for i := range shared {
		shared[i] = NewFrame(false, fmt.Appendf(nil, "m%d-%s", i, bytes.Repeat([]byte("p"), i%300)))
	}
	var pushers sync.WaitGroup
	for g := 0; g < 2; g++ { // two pushers, each owning half the connections
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for _, f := range shared {
				for i := g; i < conns; i += 2 {
					if err := pairs[i].q.Push(f); err != nil {
						t.Errorf("push: %v", err)
						return
					}
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for i := range pairs {
		readers.Add(1)
		go func(c net.Conn) {
			defer readers.Done()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(c)
			for j, f := range shared {
				_, got, err := readFrame(r)
				if err != nil || !bytes.Equal(got, f.Payload()) {
					t.Errorf("frame %d: %.20q, %v", j, got, err)
					return
				}
			}
		}(pairs[i].client)
	}
	pushers.Wait()
	readers.Wait()
	for _, p := range pairs {
		p.q.Close()
		p.server.Close()
		p.client.Close()
		p.q.Wait()
	}
}

// A frame pushed to an idle queue and written by a flusher costs no
// allocation: at a moderate rate every delivery takes this path.
func TestNoAllocationPerFrame(t *testing.T) {
	client, server := loopback.Pair(t)
	go io.Copy(io.Discard, client)
	q := New(server, Config{}, nil)
	f := NewFrame(false, bytes.Repeat([]byte("x"), 100))
	idle := func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return !q.writing
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := q.Push(f); err != nil {
			t.Fatal(err)
		}
		for !idle() {
			runtime.Gosched()
		}
	})
	q.Close()
	server.Close()
	client.Close()
	q.Wait()
	if allocs > 0 {
		t.Fatalf("%v allocations per frame pushed to an idle queue, want 0", allocs)
	}
}

// A producer pacing on WaitRoom waits while the client does not read, and
// goes on once it does; Close wakes it.
func TestWaitRoomPacesOnTheReader(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := New(server, Config{MaxBytes: 4096}, nil)
	defer q.Close()
	if err := q.Push(NewFrame(true, make([]byte, 3000))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.WaitRoom(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom with an unread 3000 of 4096 bytes = %v, want the deadline", err)
	}
	go func() { _, _ = io.Copy(io.Discard, client) }()
	if err := q.WaitRoom(context.Background()); err != nil {
		t.Fatalf("WaitRoom once the client reads = %v", err)
	}
	if err := q.Push(NewFrame(true, make([]byte, 3000))); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if err := q.WaitRoom(context.Background()); err != ErrClosed {
		t.Fatalf("WaitRoom after Close = %v, want ErrClosed", err)
	}
	q.Wait()
}

// WaitRoom counts frames too: small frames fill a queue's frame bound long
// before its byte bound (a replay of many small events), and a producer
// pacing on bytes alone overflowed it.
func TestWaitRoomCountsFrames(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := New(server, Config{MaxFrames: 8}, nil)
	defer q.Close()
	for range 6 { // 6 of 8 frames, a few bytes of 8 MiB
		if err := q.Push(NewFrame(true, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.WaitRoom(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom with 6 of 8 frames unread = %v, want the deadline", err)
	}
	go func() { _, _ = io.Copy(io.Discard, client) }()
	if err := q.WaitRoom(context.Background()); err != nil {
		t.Fatalf("WaitRoom once the client reads = %v", err)
	}
	q.Close()
	q.Wait()
}

// A frame the writer has started is finished after Close (the frames behind
// it are dropped), and the rest of a frame cut by a write timeout is handed
// to the closer (Unfinished): either way the client can read a whole frame
// and then a close frame, never a garbled stream.
func TestStartedFrameIsNeverCutShort(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := New(server, Config{}, nil)
	payload := bytes.Repeat([]byte("a"), 100<<10)
	if err := q.Push(NewFrame(true, payload)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(client)
	if _, err := br.Peek(10); err != nil { // the writer has started
		t.Fatal(err)
	}
	if err := q.Push(NewFrame(true, []byte("dropped"))); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if _, p, err := readFrame(br); err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("started frame after Close: %d bytes, %v", len(p), err)
	}
	q.Wait()
	server.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the started frame: %v, want EOF (the next frame dropped)", err)
	}

	server, client = net.Pipe()
	defer client.Close()
	failed := make(chan error, 1)
	q = New(server, Config{WriteTimeout: 50 * time.Millisecond}, func(err error) { failed <- err })
	if err := q.Push(NewFrame(true, payload)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(client, head); err != nil {
		t.Fatal(err)
	}
	if err := <-failed; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a stalled reader failed with %v, want a timeout", err)
	}
	q.Wait()
	q.Close() // as a connection's closer does first: it must not drop the rest
	rest := q.Unfinished()
	go func() {
		_ = server.SetWriteDeadline(time.Time{})
		_, _ = rest.WriteTo(server)
		server.Close()
	}()
	all, _ := io.ReadAll(client)
	if _, p, err := readFrame(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(all)))); err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("cut frame completed from Unfinished: %d bytes, %v", len(p), err)
	}
}
