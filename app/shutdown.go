package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/health"
)

// handOffTimeout bounds the leadership hand-off at shutdown (it takes tens
// of milliseconds with a quorum).
const handOffTimeout = 3 * time.Second

// shutdown stops the node in order, within --shutdown-timeout: stop
// accepting, hand off stream leaderships, tell clients, drain the bus,
// stop NATS.
func shutdown(cfg config, logger *slog.Logger, hc *health.Health, w *web, b *bus.Bus, e *edges) error {
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	hc.Stopping()
	b.Stopping() // the cluster's other nodes keep their quorum until we are drained
	began := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// 1. Stop accepting: Shutdown closes the listener at once, then waits
	// for in-flight HTTP requests while we close the WebSocket edges.
	httpDone := make(chan error, 1)
	go func() { httpDone <- w.srv.Shutdown(sctx) }()
	// 2. Hand off the streams this node leads while it still serves: a
	// new leader takes over in tens of milliseconds (a crash costs an
	// election, 4-9 s), so the writes of clients moving away never stall.
	// Bounded: without quorum there is nothing to hand off to.
	t0 := time.Now()
	hctx, hcancel := context.WithTimeout(sctx, handOffTimeout)
	if n, err := b.HandOff(hctx); err != nil {
		logger.Warn("stream leaders not handed off", "err", err)
	} else if n > 0 {
		logger.Info("handed off stream leaders", "streams", n, "took", time.Since(t0).Round(time.Millisecond))
	}
	hcancel()
	var errs []error
	// 3. Tell clients: close every WebSocket with 1001 and every Socket.IO
	// connection (Engine.IO close packet, reason "server shutting down").
	if err := e.channels.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.io.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	if e.presence != nil { // after the sockets left: its last leaves
		if err := e.presence.Close(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	e.closeAdmin()
	if err := <-httpDone; err != nil {
		errs = append(errs, fmt.Errorf("failed to stop http server: %w", err))
	}
	<-w.serveErr
	// 4. Drain the bus, 5. stop NATS (which hands off the meta leadership).
	if err := b.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		logger.Warn("shutdown complete, with errors", "took", time.Since(began).Round(time.Millisecond), "err", err)
	} else {
		logger.Info("shutdown complete", "took", time.Since(began).Round(time.Millisecond))
	}
	return err
}
