package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
)

// ReplayConfig is the recovery scenario: a client that received one event
// drops its connection, Missed events are emitted meanwhile, and it
// reconnects with its pid and offset. Rounds repeats drop-and-reconnect.
type ReplayConfig struct {
	Missed       int
	Rounds       int
	PayloadBytes int
	// EmitWindow bounds the sender's unacknowledged events. Default 256.
	EmitWindow int
	// Other, when positive, stores this many events of other namespaces
	// (OtherNames of them, /o0 … in turn) during each drop, interleaved
	// with the missed events in 100 slices, through NATS at Target.NATSURL
	// (sockbus only): the recovering read crosses them in a shared stream.
	Other      int
	OtherNames int
}

// tracker follows what one incarnation of the recovering client got.
type tracker struct {
	events atomic.Int64
	offset atomic.Pointer[string]
}

func (tr *tracker) onEvent(_ *eioclient.Client, args []byte) {
	tr.events.Add(1)
	if off := eioclient.LastString(args); off != "" {
		tr.offset.Store(&off)
	}
}

func (tr *tracker) lastOffset() string {
	if p := tr.offset.Load(); p != nil {
		return *p
	}
	return ""
}

// Replay runs the recovery scenario. It returns ErrPending (wrapped) when
// the server offers no recovery.
func Replay(ctx context.Context, t Target, cfg ReplayConfig) (*Result, error) {
	res := newResult("replay", t)
	if t.Kind == KindGWS {
		res.Pending = "n/a: the bare relay stores nothing"
		return res, nil
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 1
	}
	if cfg.PayloadBytes <= 0 {
		cfg.PayloadBytes = 64
	}
	if cfg.EmitWindow <= 0 {
		cfg.EmitWindow = 256
	}
	const ns = "/replay"
	var others *otherPublisher
	if cfg.Other > 0 {
		if t.Kind != KindSockbus || t.NATSURL == "" {
			res.Pending = "n/a: events of other names are published through sockbus's NATS listener"
			return res, nil
		}
		var err error
		if others, err = newOtherPublisher(t.NATSURL, cfg.OtherNames); err != nil {
			return res, err
		}
		defer others.close()
	}
	tr := &tracker{}
	acfg := &eioclient.Config{URL: t.URL, Namespace: ns, OnEvent: tr.onEvent, Timeout: 30 * time.Second}
	a, err := eioclient.Dial(ctx, acfg, nil)
	if err != nil {
		return res, fmt.Errorf("failed to connect the recovering client: %w", err)
	}
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	if a.PID() == "" {
		res.Pending = "pending: the CONNECT reply carries no pid (no connection state recovery)"
		return res, nil
	}
	acks := make(chan int64, cfg.EmitWindow+8)
	bcfg := &eioclient.Config{URL: t.URL, Namespace: ns, OnAck: func(_ *eioclient.Client, id int64, _ []byte) {
		select {
		case acks <- id:
		default:
		}
	}}
	b, err := eioclient.Dial(ctx, bcfg, nil)
	if err != nil {
		return res, fmt.Errorf("failed to connect the sender: %w", err)
	}
	defer closeAll([]*eioclient.Client{b})
	pad := padding(cfg.PayloadBytes)
	var nextID int64
	// emit sends n events with acks, at most EmitWindow unanswered, and
	// waits for every ack (so the server has stored them all).
	emit := func(n int) error {
		frame := make([]byte, 0, 256)
		args := make([]byte, 0, 128)
		pending := 0
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for sent := 0; sent < n || pending > 0; {
			if sent < n && pending < cfg.EmitWindow {
				args = append(args[:0], `["r",`...)
				args = strconv.AppendInt(args, now(), 10)
				args = append(args, ',')
				args = strconv.AppendInt(args, nextID, 10)
				args = append(args, `,"`...)
				args = append(append(args, pad...), `"]`...)
				frame = eioclient.AppendEvent(frame[:0], b.Prefix(), nextID, args)
				if err := b.Send(frame); err != nil {
					return err
				}
				nextID++
				sent++
				pending++
				continue
			}
			timer.Reset(10 * time.Second)
			select {
			case <-acks:
				pending--
			case <-timer.C:
				return fmt.Errorf("no ack for 10 s (%d unanswered)", pending)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	// The client needs an offset: one event first.
	if err := emit(1); err != nil {
		return res, err
	}
	for deadline := time.Now().Add(5 * time.Second); tr.events.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if tr.events.Load() < 1 {
		return res, fmt.Errorf("the recovering client got no event")
	}
	if tr.lastOffset() == "" {
		res.Pending = "pending: events carry no offset"
		return res, nil
	}
	pid := a.PID()
	var totals []float64
	for round := 0; round < cfg.Rounds; round++ {
		offset := tr.lastOffset()
		a.CloseWait(5 * time.Second)
		// Let the server see the transport close before the events go out.
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return res, ctx.Err()
		}
		if others == nil {
			if err := emit(cfg.Missed); err != nil {
				return res, fmt.Errorf("round %d: failed to emit: %w", round+1, err)
			}
		} else {
			// Interleave: a slice of the others, then a slice of the missed.
			const slices = 100
			for i := range slices {
				if err := others.publish(ctx, cfg.Other*(i+1)/slices-cfg.Other*i/slices); err != nil {
					return res, fmt.Errorf("round %d: failed to store other events: %w", round+1, err)
				}
				if err := emit(cfg.Missed*(i+1)/slices - cfg.Missed*i/slices); err != nil {
					return res, fmt.Errorf("round %d: failed to emit: %w", round+1, err)
				}
			}
		}
		auth, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset})
		tr = &tracker{}
		acfg.OnEvent = tr.onEvent
		start := time.Now()
		if a, err = eioclient.Start(acfg, auth); err != nil {
			return res, fmt.Errorf("round %d: failed to reconnect: %w", round+1, err)
		}
		if err := a.WaitConnected(ctx); err != nil {
			return res, fmt.Errorf("round %d: %w", round+1, err)
		}
		got := tr.events.Load()
		total := a.ConnectedAt().Sub(start)
		if a.PID() != pid {
			res.Pending = fmt.Sprintf("round %d: not recovered (CONNECT reply pid %q, want %q)", round+1, a.PID(), pid)
			return res, nil
		}
		if got != int64(cfg.Missed) {
			res.note("round %d: %d events before the CONNECT reply, want %d", round+1, got, cfg.Missed)
			res.Metrics["replay.wrong_count"]++
		}
		totals = append(totals, total.Seconds()*1000)
	}
	sort.Float64s(totals)
	res.Metrics["replay.ms_to_recovered"] = totals[len(totals)/2]
	res.Metrics["replay.ms_to_recovered_max"] = totals[len(totals)-1]
	res.Metrics["replay.events"] = float64(cfg.Missed)
	if cfg.Other > 0 {
		res.Metrics["replay.other_events_per_drop"] = float64(cfg.Other)
	}
	return res, nil
}
