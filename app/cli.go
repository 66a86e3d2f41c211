package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
)

// config is what run needs: the operator's settings (package config) plus
// hooks that only tests set.
type config struct {
	conf.Config

	// onListen, when set, is called with the bound HTTP address (tests).
	onListen func(addr string, b *bus.Bus)
	// onMetricsListen, when set, is called with the --metrics-addr address (tests).
	onMetricsListen func(addr string)
	// onAPIListen, when set, is called with the --api-addr address (tests).
	onAPIListen func(addr string)
	// pingInterval/pingTimeout override the keepalive (tests).
	pingInterval, pingTimeout time.Duration
	// presenceMaxList overrides presence.Config.MaxList (tests).
	presenceMaxList int
	// logOut receives the log lines instead of stderr (tests).
	logOut io.Writer
}

func defaultConfig() config {
	return config{Config: conf.Default()}
}

func newLogger(cfg config) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", cfg.LogLevel)
	}
	w := cfg.logOut
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: l}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// Main runs a command line (without the program name) and returns the
// exit status: sockbus [flags], sockbus version, sockbus config print
// [flags], sockbus config default, sockbus token [flags]. It parses the
// settings (package config) and serves until SIGINT or SIGTERM.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	fail := func(status int, err error) int {
		fmt.Fprintln(stderr, "sockbus:", err)
		return status
	}
	name := "sockbus"
	if len(args) > 0 {
		switch args[0] {
		case "version":
			writeVersion(stdout, conf.Default().ClientDir)
			return 0
		case "token":
			return tokenCmd(args[1:], environ, stdout, stderr)
		case "config":
			return configCmd(args[1:], environ, stdout, stderr)
		}
	}
	c, _, err := conf.Load(name, args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, "\nCommands: sockbus version, sockbus config print [flags], sockbus config default, sockbus token --sub USER [flags]\n")
		return 0
	}
	if err != nil {
		return fail(2, err)
	}
	cfg := defaultConfig()
	cfg.Config = c
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		if logger, lerr := newLogger(cfg); lerr == nil {
			logger.Error("sockbus stopped", "err", err)
		} else {
			fmt.Fprintln(stderr, "sockbus:", err)
		}
		return 1
	}
	return 0
}

// configCmd runs `sockbus config print [flags]` and `sockbus config default`.
func configCmd(args, environ []string, stdout, stderr io.Writer) int {
	fail := func(status int, err error) int {
		fmt.Fprintln(stderr, "sockbus:", err)
		return status
	}
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "default":
		if err := conf.WriteDefault(stdout); err != nil {
			return fail(1, err)
		}
		return 0
	case "print":
		cfg, origins, err := conf.Load("sockbus config print", args[1:], environ, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			return fail(2, err)
		}
		if err := conf.Print(stdout, cfg, origins); err != nil {
			return fail(1, err)
		}
		return 0
	}
	return fail(2, errors.New("usage: sockbus config print [flags] | sockbus config default"))
}
