package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

// Plan sizes every scenario.
type Plan struct {
	Mode      string
	Rounds    int
	Receivers int
	Rate      float64
	Window    int
	Warmup    time.Duration
	Measure   time.Duration
	AckConns  int
	IdleConns int
	Settle    time.Duration
	Missed    int
	Replays   int
	// Other and OtherNames: events of other namespaces stored during each
	// replay drop (sockbus only, through its NATS listener); 0: none.
	Other      int
	OtherNames int
	// StormClients is the reconnect storm's size (see scenario.Storm).
	StormClients int
	// ClusterReceivers, ClusterAckConns: the cluster scenario's clients,
	// spread over three nodes; KillBefore and KillAfter: its event flow
	// around the SIGKILL of a node.
	ClusterReceivers      int
	ClusterAckConns       int
	KillBefore, KillAfter time.Duration
}

// QuickPlan is the smoke mode: small and short (the whole suite in well
// under two minutes).
func QuickPlan() Plan {
	return Plan{Mode: "quick", Rounds: 1, Receivers: 200, Rate: 50, Window: 32,
		Warmup: time.Second, Measure: 2 * time.Second, AckConns: 50,
		IdleConns: 1000, Settle: 500 * time.Millisecond, Missed: 10000, Replays: 3,
		StormClients: 200, ClusterReceivers: 150, ClusterAckConns: 30, KillBefore: time.Second, KillAfter: 3 * time.Second}
}

// FullPlan is the sizes: 1,000 receivers, 10,000 idle connections,
// 10,000 missed events, three rounds.
func FullPlan() Plan {
	return Plan{Mode: "full", Rounds: 3, Receivers: 1000, Rate: 50, Window: 32,
		Warmup: 2 * time.Second, Measure: 10 * time.Second, AckConns: 50,
		IdleConns: 10000, Settle: 2 * time.Second, Missed: 10000, Replays: 3,
		StormClients: 10000, ClusterReceivers: 300, ClusterAckConns: 48, KillBefore: 3 * time.Second,
		KillAfter: 10 * time.Second}
}

// Scenarios in the order they run.
var Scenarios = []string{"fanout", "acks", "idle", "replay", "ws", "storm", "cluster"}

// Kinds in the order of the table's columns.
var Kinds = []string{scenario.KindSocketIO, scenario.KindGWS, scenario.KindSockbus}

// Config is one suite run.
type Config struct {
	Plan    Plan
	Servers Servers
	// Out is the directory for results.jsonl, table.md and server logs.
	Out string
	// Scenarios and Kinds restrict the run (nil: all).
	Scenarios, Kinds []string
	// PprofAddr, when set, is sockbus's pprof listener: CPU profiles of
	// the measurement windows and a heap profile of the idle one are saved
	// in Out.
	PprofAddr string
	// Command is how the run was started, for the table's header.
	Command string
	Log     io.Writer
}

// Run runs the suite and returns its results; it writes them to
// Out/results.jsonl as they come and the table to Out/table.md.
func Run(ctx context.Context, cfg Config) ([]scenario.Result, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	scens := cfg.Scenarios
	if len(scens) == 0 {
		scens = Scenarios
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = Kinds
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, "logs"), 0o755); err != nil {
		return nil, err
	}
	jf, err := os.Create(filepath.Join(cfg.Out, "results.jsonl"))
	if err != nil {
		return nil, err
	}
	defer jf.Close()
	enc := json.NewEncoder(jf)
	var results []scenario.Result
	var profiles sync.WaitGroup
	defer profiles.Wait()
	started := time.Now()
	if slices.Contains(scens, "cluster") && slices.Contains(kinds, scenario.KindSocketIO) {
		if _, err := cfg.Servers.RedisPath(); err != nil {
			fmt.Fprintf(cfg.Log, "bench: SKIPPING socket.io's cluster: %v\n", err)
		}
	}
	for round := 1; round <= cfg.Plan.Rounds; round++ {
		// Rotate the server order each round so no server always runs
		// first (or right after another's teardown).
		order := append(append([]string(nil), kinds[(round-1)%len(kinds):]...), kinds[:(round-1)%len(kinds)]...)
		for _, sc := range scens {
			for _, kind := range order {
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
				fmt.Fprintf(cfg.Log, "[%6.1fs] round %d/%d  %-7s %-9s ", time.Since(started).Seconds(), round, cfg.Plan.Rounds, sc, kind)
				t0 := time.Now()
				r := runOne(ctx, cfg, sc, kind, round, &profiles)
				r.Round = round
				results = append(results, r)
				_ = enc.Encode(r)
				status := "ok"
				switch {
				case r.Error != "":
					status = "ERROR: " + r.Error
				case r.Pending != "":
					status = r.Pending
				}
				fmt.Fprintf(cfg.Log, "%5.1fs  %s\n", time.Since(t0).Seconds(), status)
			}
		}
	}
	return results, nil
}

func runOne(ctx context.Context, cfg Config, sc, kind string, round int, profiles *sync.WaitGroup) scenario.Result {
	fail := func(err error) scenario.Result {
		return scenario.Result{Scenario: sc, Kind: kind, Error: err.Error(), Metrics: map[string]float64{}}
	}
	if sc == "cluster" {
		return runCluster(ctx, cfg, kind, round)
	}
	logPath := filepath.Join(cfg.Out, "logs", fmt.Sprintf("r%d-%s-%s.log", round, sc, kind))
	withNATS := sc == "replay" && cfg.Plan.Other > 0
	srv, err := cfg.Servers.start(ctx, kind, logPath, withNATS)
	if err != nil {
		return fail(err)
	}
	defer srv.stop()
	t := scenario.Target{Kind: kind, URL: srv.url, PID: srv.pid(), NATSURL: srv.natsURL}
	if kind == scenario.KindSockbus && cfg.PprofAddr != "" {
		t.OnWindow = func(name string, d time.Duration) {
			profiles.Add(1)
			defer profiles.Done()
			saveProfile(cfg, round, name, d)
		}
	}
	p := cfg.Plan
	// Bound each scenario: generous, but never endless.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var r *scenario.Result
	switch sc {
	case "fanout", "ws":
		name := sc
		r, err = scenario.Fanout(ctx, t, scenario.FanoutConfig{
			Plain: sc == "ws", Room: "fan", Receivers: p.Receivers,
			Phases: []scenario.Phase{
				{Name: name + "50", Rate: p.Rate, Warmup: p.Warmup, Measure: p.Measure},
				{Name: name + "sat", Window: p.Window, Warmup: p.Warmup, Measure: p.Measure},
			},
		})
	case "acks":
		r, err = scenario.Acks(ctx, t, scenario.AcksConfig{Clients: p.AckConns, Warmup: p.Warmup, Measure: p.Measure})
	case "idle":
		r, err = scenario.Idle(ctx, t, scenario.IdleConfig{Conns: p.IdleConns, Settle: p.Settle, DialConcurrency: 64})
	case "replay":
		r, err = scenario.Replay(ctx, t, scenario.ReplayConfig{Missed: p.Missed, Rounds: p.Replays,
			Other: p.Other, OtherNames: p.OtherNames})
	case "storm":
		r, err = scenario.Storm(ctx, t, scenario.StormConfig{Clients: p.StormClients})
	default:
		return fail(fmt.Errorf("unknown scenario %q", sc))
	}
	if r == nil {
		r = &scenario.Result{Scenario: sc, Kind: kind, Metrics: map[string]float64{}}
	}
	if err != nil {
		r.Error = err.Error()
	}
	select {
	case <-srv.exited:
		r.Error = strings.TrimSpace(r.Error + " (server exited during the run; see " + logPath + ")")
	default:
	}
	return *r
}

// runCluster runs the cluster scenario on a fresh cluster of kind.
func runCluster(ctx context.Context, cfg Config, kind string, round int) scenario.Result {
	res := scenario.Result{Scenario: "cluster", Kind: kind, Metrics: map[string]float64{}}
	switch kind {
	case scenario.KindGWS:
		res.Pending = "n/a: the bare relay is one process, no cluster"
		return res
	case scenario.KindSocketIO:
		if _, err := cfg.Servers.RedisPath(); err != nil {
			res.Pending = "n/a: skipped, " + err.Error()
			return res
		}
	}
	base := logBase(cfg.Out, round, kind)
	c, err := cfg.Servers.startCluster(ctx, kind, base)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer c.stop()
	killed := -1
	t := scenario.Target{Kind: kind, URL: c.urls()[0], Nodes: c.urls(), PIDs: c.pids(),
		Kill: func(i int) error { killed = i; return c.kill(i) }}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	p := cfg.Plan
	r, err := scenario.Cluster(ctx, t, scenario.ClusterConfig{Receivers: p.ClusterReceivers, Rate: p.Rate,
		Window: p.Window, Warmup: p.Warmup, Measure: p.Measure, AckConns: p.ClusterAckConns,
		KillBefore: p.KillBefore, KillAfter: p.KillAfter})
	if r == nil {
		r = &res
	}
	if err != nil {
		r.Error = err.Error()
	}
	if gone := c.exitedExcept(killed); len(gone) > 0 {
		r.Error = strings.TrimSpace(fmt.Sprintf("%s (%s exited during the run; see %s-*.log)", r.Error, strings.Join(gone, ", "), base))
	}
	return *r
}

// saveProfile fetches a CPU profile of length d (a heap profile for d == 0)
// from sockbus's pprof listener into Out.
func saveProfile(cfg Config, round int, name string, d time.Duration) {
	url := "http://" + cfg.PprofAddr + "/debug/pprof/heap?gc=1"
	file := fmt.Sprintf("sockbus-r%d-%s.heap.pprof", round, name)
	if d > 0 {
		secs := max(1, int(d.Seconds()))
		url = fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", cfg.PprofAddr, secs)
		file = fmt.Sprintf("sockbus-r%d-%s.cpu.pprof", round, name)
	}
	client := &http.Client{Timeout: d + 30*time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(cfg.Log, "\n  profile %s: %v\n", file, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(cfg.Out, file))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
	if d == 0 {
		base := strings.TrimSuffix(file, ".heap.pprof")
		saveMemStats(cfg, client, base+".memstats.txt")
		saveGoroutines(cfg, client, base+".goroutines.txt")
	}
}

// saveGoroutines keeps the goroutine profile's text form: goroutines
// grouped by stack, with counts (how many each idle connection keeps).
func saveGoroutines(cfg Config, client *http.Client, file string) {
	resp, err := client.Get("http://" + cfg.PprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		fmt.Fprintf(cfg.Log, "\n  goroutines %s: %v\n", file, err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(cfg.Out, file), body, 0o644)
}

// saveMemStats keeps the runtime.MemStats lines of the heap profile's text
// form (after a GC): Stack is goroutine stacks, which the heap profile omits.
func saveMemStats(cfg Config, client *http.Client, file string) {
	resp, err := client.Get("http://" + cfg.PprofAddr + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		fmt.Fprintf(cfg.Log, "\n  memstats %s: %v\n", file, err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return
	}
	var stats []byte
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "# runtime.MemStats") && !strings.HasPrefix(line, "# Pause") {
			stats = append(stats, line...)
		}
	}
	_ = os.WriteFile(filepath.Join(cfg.Out, file), stats, 0o644)
}
