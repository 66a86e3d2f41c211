// Command loader is sockbus's load generator: Engine.IO v4 / Socket.IO v5
// and plain WebSocket clients (gws, client mode) driving the benchmark
// scenarios, figures read from the loader's clock and the server's /proc.
//
//	loader suite --sockbus BIN --gwsrelay BIN --node-dir DIR [--quick] --out DIR
//	    every scenario against the three servers, one at a time; prints the table
//	loader run --scenario fanout --url http://127.0.0.1:3000 --kind sockbus --pid N
//	    one scenario against a server already running; prints its figures as JSON
//	loader table --out DIR
//	    the table again from DIR/results.jsonl and DIR/meta.json
//
// bench/run.sh builds everything and runs the suite: see bench/README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bench/internal/scenario"
	"github.com/sockbus/sockbus/bench/internal/suite"
)

func main() {
	raiseFileLimit()
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "suite":
		err = runSuite(ctx, os.Args[2:])
	case "run":
		err = runOne(ctx, os.Args[2:])
	case "table":
		err = runTable(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loader:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loader suite|run|table [flags]   (loader <cmd> -h for flags)")
	os.Exit(2)
}

// raiseFileLimit lifts the soft fd limit to the hard one: 10,000
// connections need as many descriptors.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// planFlags registers overrides of a plan's sizes.
func planFlags(fs *flag.FlagSet, p *suite.Plan) {
	fs.IntVar(&p.Rounds, "rounds", p.Rounds, "rounds (each runs every scenario on every server; medians are reported)")
	fs.IntVar(&p.Receivers, "receivers", p.Receivers, "fan-out receivers")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "fan-out sender rate (messages/s) of the fixed-rate phase")
	fs.IntVar(&p.Window, "window", p.Window, "messages in flight in the saturation phase")
	fs.DurationVar(&p.Warmup, "warmup", p.Warmup, "warm-up before each measurement window")
	fs.DurationVar(&p.Measure, "duration", p.Measure, "length of each measurement window")
	fs.IntVar(&p.AckConns, "ack-clients", p.AckConns, "clients of the ack scenario")
	fs.IntVar(&p.IdleConns, "conns", p.IdleConns, "connections of the idle scenario")
	fs.DurationVar(&p.Settle, "settle", p.Settle, "pause before each memory reading")
	fs.IntVar(&p.Missed, "missed", p.Missed, "events missed by the recovering client")
	fs.IntVar(&p.Replays, "replays", p.Replays, "reconnections of the replay scenario")
	fs.IntVar(&p.Other, "other", p.Other, "replay: events of other namespaces stored during each drop, interleaved with the missed ones (sockbus only, through a NATS listener)")
	fs.IntVar(&p.StormClients, "storm-clients", p.StormClients, "clients of the reconnect storm")
	fs.IntVar(&p.OtherNames, "other-names", 1000, "replay: how many other namespaces share those events")
	fs.IntVar(&p.ClusterReceivers, "cluster-receivers", p.ClusterReceivers, "cluster: receivers, round-robin over the three nodes")
	fs.IntVar(&p.ClusterAckConns, "cluster-ack-clients", p.ClusterAckConns, "cluster: clients of the ack part, round-robin over the nodes")
	fs.DurationVar(&p.KillBefore, "kill-before", p.KillBefore, "cluster: event flow before a node is SIGKILLed")
	fs.DurationVar(&p.KillAfter, "kill-after", p.KillAfter, "cluster: event flow after the SIGKILL")
}

func runSuite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("suite", flag.ExitOnError)
	fs.Bool("quick", false, "smoke mode: small and short (read before the other flags)")
	var srv suite.Servers
	fs.StringVar(&srv.Sockbus, "sockbus", "", "sockbus binary")
	fs.StringVar(&srv.GWSRelay, "gwsrelay", "", "gwsrelay binary")
	fs.StringVar(&srv.NodeDir, "node-dir", "", "directory with relay.js and its node_modules")
	fs.StringVar(&srv.Node, "node", "node", "node binary")
	fs.StringVar(&srv.Redis, "redis-server", "redis-server", "redis-server binary for socket.io's cluster (the cluster scenario skips socket.io without it)")
	sockbusFlags := fs.String("sockbus-flags", strings.Join(suite.DefaultSockbusFlags, " "), "flags added to sockbus's command line (space-separated; empty for a binary older than --max-events-per-second)")
	out := fs.String("out", "bench/out", "output directory")
	scens := fs.String("scenarios", "", "comma-separated subset of "+strings.Join(suite.Scenarios, ","))
	kinds := fs.String("kinds", "", "comma-separated subset of "+strings.Join(suite.Kinds, ","))
	pprofAddr := fs.String("pprof-addr", "", "sockbus pprof listener (a build with bench/profile/pprof.go.in), or auto: save CPU profiles of the windows")
	command := fs.String("command", "", "the command line to print in the table's header")
	versions := fs.String("versions", "", "versions to print in the table's header")
	plan := suite.FullPlan()
	if hasFlag(args, "quick") {
		plan = suite.QuickPlan()
	}
	planFlags(fs, &plan)
	_ = fs.Parse(args)
	srv.SockbusFlags = strings.Fields(*sockbusFlags)
	if *pprofAddr == "auto" {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		*pprofAddr = addr
	}
	if *pprofAddr != "" {
		srv.SockbusEnv = append(srv.SockbusEnv, "SOCKBUS_BENCH_PPROF="+*pprofAddr)
	}
	cfg := suite.Config{Plan: plan, Servers: srv, Out: *out, PprofAddr: *pprofAddr,
		Scenarios: split(*scens), Kinds: split(*kinds), Log: os.Stderr}
	if cfg.Command = *command; cfg.Command == "" {
		cfg.Command = strings.Join(os.Args, " ")
	}
	meta := suite.Meta{Date: time.Now(), Command: cfg.Command, Plan: plan, Versions: *versions, LoadStart: suite.LoadAvg()}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(*out, "meta.json"), meta); err != nil {
		return err
	}
	results, err := suite.Run(ctx, cfg)
	meta.LoadEnd = suite.LoadAvg()
	_ = writeJSON(filepath.Join(*out, "meta.json"), meta)
	table := suite.Table(results, meta)
	if werr := os.WriteFile(filepath.Join(*out, "table.md"), []byte(table), 0o644); werr != nil && err == nil {
		err = werr
	}
	fmt.Println(table)
	return err
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=") {
			return true
		}
	}
	return false
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func runOne(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	name := fs.String("scenario", "fanout", "fanout, acks, idle, replay, ws or storm")
	var t scenario.Target
	fs.StringVar(&t.URL, "url", "http://127.0.0.1:3000", "server base URL (loopback)")
	fs.StringVar(&t.Kind, "kind", scenario.KindSockbus, "sockbus, socketio or gws")
	fs.IntVar(&t.PID, "pid", 0, "server process id for CPU and memory figures (0: none)")
	fs.StringVar(&t.NATSURL, "nats-url", "", "sockbus's NATS listener, for --other")
	plan := suite.QuickPlan()
	plan.Rounds = 1
	planFlags(fs, &plan)
	_ = fs.Parse(args)
	var (
		r   *scenario.Result
		err error
	)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	switch *name {
	case "fanout", "ws":
		r, err = scenario.Fanout(ctx, t, scenario.FanoutConfig{Plain: *name == "ws", Room: "fan",
			Receivers: plan.Receivers, Phases: []scenario.Phase{
				{Name: *name + "50", Rate: plan.Rate, Warmup: plan.Warmup, Measure: plan.Measure},
				{Name: *name + "sat", Window: plan.Window, Warmup: plan.Warmup, Measure: plan.Measure},
			}})
	case "acks":
		r, err = scenario.Acks(ctx, t, scenario.AcksConfig{Clients: plan.AckConns, Warmup: plan.Warmup, Measure: plan.Measure})
	case "idle":
		r, err = scenario.Idle(ctx, t, scenario.IdleConfig{Conns: plan.IdleConns, Settle: plan.Settle, DialConcurrency: 64})
	case "replay":
		r, err = scenario.Replay(ctx, t, scenario.ReplayConfig{Missed: plan.Missed, Rounds: plan.Replays,
			Other: plan.Other, OtherNames: plan.OtherNames})
	case "storm":
		r, err = scenario.Storm(ctx, t, scenario.StormConfig{Clients: plan.StormClients})
	default:
		return fmt.Errorf("unknown scenario %q", *name)
	}
	if r != nil {
		if err != nil {
			r.Error = err.Error()
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	}
	return err
}

func runTable(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	out := fs.String("out", "bench/out", "directory of a suite run")
	_ = fs.Parse(args)
	var meta suite.Meta
	b, err := os.ReadFile(filepath.Join(*out, "meta.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(*out, "results.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	var results []scenario.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r scenario.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return errors.Join(errors.New("bad results line"), err)
		}
		results = append(results, r)
	}
	fmt.Println(suite.Table(results, meta))
	return sc.Err()
}
