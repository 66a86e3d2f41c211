// Command gwsrelay is the benchmarks' bare gws relay (see package
// bench/internal/gwsrelay): the floor sockbus is compared with.
//
//	gwsrelay --addr 127.0.0.1:0   → prints "listening http://127.0.0.1:<port>"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bench/internal/gwsrelay"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	readBuf := flag.Int("read-buffer", 0, "gws read buffer per connection (0: gws default, 4 KiB)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gwsrelay:", err)
		os.Exit(1)
	}
	relay := gwsrelay.New(gwsrelay.Config{ReadBufferSize: *readBuf})
	srv := &http.Server{Handler: relay, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "gwsrelay:", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	relay.Close()
}
