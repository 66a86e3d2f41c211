package suite

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

// Meta describes the run for the table's header.
type Meta struct {
	Date     time.Time
	Command  string
	Plan     Plan
	Versions string
	// LoadStart and LoadEnd are /proc/loadavg when the run began and ended:
	// how much other work shared the machine.
	LoadStart, LoadEnd string
}

// LoadAvg is the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// check says whether sockbus meets a target, from its value and its ratios
// to socket.io and bare gws (NaN when missing).
type check func(v, vsSIO, vsGWS float64) (bool, bool) // met, known

type row struct {
	scen   string // scenario of the Result
	label  string
	key    string
	scale  float64 // displayed = value * scale
	unit   string
	target string
	ok     check
}

func cpuTarget(_ float64, vsSIO, vsGWS float64) (bool, bool) {
	if math.IsNaN(vsSIO) || math.IsNaN(vsGWS) {
		return false, false
	}
	return vsSIO <= 0.5 && vsGWS <= 1.15, true
}

func rows(p Plan) []row {
	fan := fmt.Sprintf("fanout %d recv", p.Receivers)
	ws := fmt.Sprintf("/ws fanout %d recv (Node column: ws)", p.Receivers)
	rate := fmt.Sprintf("%g msg/s", p.Rate)
	sat := fmt.Sprintf("saturation (window %d)", p.Window)
	var out []row
	phase := func(scen, base, pfx, load string, targets bool) {
		lbl := base + ", " + load
		out = append(out,
			row{scen: scen, label: lbl, key: pfx + ".deliveries_per_s", scale: 1, unit: "deliveries/s"},
			row{scen: scen, label: lbl, key: pfx + ".p50_ms", scale: 1, unit: "p50 ms"},
		)
		p99 := row{scen: scen, label: lbl, key: pfx + ".p99_ms", scale: 1, unit: "p99 ms"}
		if targets && strings.HasSuffix(pfx, "50") {
			p99.target = "≤ 30 ms at 50k deliveries/s"
			at50k := float64(p.Receivers)*p.Rate == 50000
			p99.ok = func(v, _, _ float64) (bool, bool) { return v <= 30, at50k && !math.IsNaN(v) }
		}
		cpu := row{scen: scen, label: lbl, key: pfx + ".cpu_us_per_delivery", scale: 1, unit: "server CPU µs/delivery"}
		if targets {
			cpu.target, cpu.ok = "≤ 0.5× socket.io, ≤ 1.15× gws", cpuTarget
		}
		out = append(out, p99, cpu,
			row{scen: scen, label: lbl, key: pfx + ".server_cores", scale: 1, unit: "server CPU (cores)"},
			row{scen: scen, label: lbl, key: pfx + ".loader_cores", scale: 1, unit: "loader CPU (cores)"},
			row{scen: scen, label: lbl, key: pfx + ".completeness", scale: 100, unit: "delivered in window %"},
		)
	}
	phase("fanout", fan, "fanout50", rate, true)
	phase("fanout", fan, "fanoutsat", sat, true)
	acks := fmt.Sprintf("acks, %d clients", p.AckConns)
	out = append(out,
		row{scen: "acks", label: acks, key: "acks.acks_per_s", scale: 1, unit: "acks/s", target: "≥ 2× socket.io",
			ok: func(_, vs, _ float64) (bool, bool) { return vs >= 2, !math.IsNaN(vs) }},
		row{scen: "acks", label: acks, key: "acks.p50_ms", scale: 1, unit: "p50 ms"},
		row{scen: "acks", label: acks, key: "acks.p99_ms", scale: 1, unit: "p99 ms"},
		row{scen: "acks", label: acks, key: "acks.cpu_us_per_ack", scale: 1, unit: "server CPU µs/ack"},
		row{scen: "acks", label: acks, key: "acks.server_cores", scale: 1, unit: "server CPU (cores)"},
	)
	idle := fmt.Sprintf("idle, %d conns", p.IdleConns)
	out = append(out,
		row{scen: "idle", label: idle, key: "idle.rss_bytes_per_conn", scale: 1.0 / 1024, unit: "RSS KiB/conn",
			target: "≤ socket.io, ≤ 8 KiB",
			ok: func(v, vs, _ float64) (bool, bool) {
				return vs <= 1 && v <= 8192, !math.IsNaN(vs) && !math.IsNaN(v)
			}},
		row{scen: "idle", label: idle, key: "idle.accepts_per_s", scale: 1, unit: "connections/s"},
		row{scen: "idle", label: idle, key: "idle.cpu_us_per_accept", scale: 1, unit: "server CPU µs/connection"},
		row{scen: "idle", label: idle, key: "idle.rss_mib_total", scale: 1, unit: "RSS MiB total"},
	)
	replayLabel := fmt.Sprintf("replay %d missed", p.Missed)
	if p.Other > 0 {
		replayLabel += fmt.Sprintf(", %d events of %d other names stored in the drop", p.Other, p.OtherNames)
	}
	out = append(out, row{scen: "replay", label: replayLabel,
		key: "replay.ms_to_recovered", scale: 1, unit: "ms to recovered (median)", target: "< 200 ms",
		ok: func(v, _, _ float64) (bool, bool) { return v < 200, !math.IsNaN(v) }})
	out = append(out, stormRows(p)...)
	phase("ws", ws, "ws50", rate, false)
	phase("ws", ws, "wssat", sat, false)
	return append(out, clusterRows(p)...)
}

// clusterRows: three nodes of each (socket.io: redis-streams adapter on
// Redis); server CPU is every node's plus Redis's.
func clusterRows(p Plan) []row {
	cl := fmt.Sprintf("cluster of %d, %d recv over the nodes (CPU: all nodes + Redis)", ClusterNodes, p.ClusterReceivers)
	var out []row
	add := func(label, key, unit string) {
		out = append(out, row{scen: "cluster", label: label, key: key, scale: 1, unit: unit})
	}
	for _, ph := range []struct{ pfx, load string }{
		{"cfan50", fmt.Sprintf("%g msg/s", p.Rate)},
		{"cfansat", fmt.Sprintf("saturation (window %d)", p.Window)},
	} {
		lbl := cl + ", " + ph.load
		add(lbl, ph.pfx+".deliveries_per_s", "deliveries/s")
		add(lbl, ph.pfx+".p50_ms", "p50 ms")
		add(lbl, ph.pfx+".p99_ms", "p99 ms")
		add(lbl, ph.pfx+".cpu_us_per_delivery", "server CPU µs/delivery")
		add(lbl, ph.pfx+".server_cores", "server CPU (cores)")
		out = append(out, row{scen: "cluster", label: lbl, key: ph.pfx + ".completeness", scale: 100, unit: "delivered in window %"})
	}
	acks := fmt.Sprintf("cluster of %d, acks, %d clients over the nodes (sockbus: stored on 3 replicas first)", ClusterNodes, p.ClusterAckConns)
	add(acks, "cacks.acks_per_s", "acks/s")
	add(acks, "cacks.p50_ms", "p50 ms")
	add(acks, "cacks.p99_ms", "p99 ms")
	add(acks, "cacks.cpu_us_per_ack", "server CPU µs/ack")
	add(acks, "cacks.server_cores", "server CPU (cores)")
	kill := fmt.Sprintf("cluster of %d, node SIGKILLed at %g msg/s, %d recv", ClusterNodes, p.Rate, p.ClusterReceivers)
	add(kill, "ckill.clients_moved", "clients moved to other nodes")
	add(kill, "ckill.ms_to_99pct_back", "ms until 99% back (CONNECT)")
	add(kill, "ckill.ms_to_99pct_recovered", "ms until 99% recovered (same session; –: never)")
	add(kill, "ckill.recovered_pct", "moved clients recovered %")
	add(kill, "ckill.new_sessions", "reconnections given a new session")
	add(kill, "ckill.lost_per_moved_client", "acked events lost per moved client")
	add(kill, "ckill.lost_max", "acked events lost, worst client")
	add(kill, "ckill.lost_stayed", "acked events lost, clients not moved")
	add(kill, "ckill.duplicates", "events received twice")
	add(kill, "ckill.events_acked", "events acked")
	add(kill, "ckill.events_refused", "events refused (error ack)")
	add(kill, "ckill.ack_max_ms", "slowest ack ms")
	add(kill, "ckill.delivery_max_ms", "slowest delivery ms")
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Table renders the results as one Markdown table (medians over rounds;
// ratios are medians of each round's side-by-side ratio) with notes.
func Table(results []scenario.Result, meta Meta) string {
	type key struct{ kind, metric string }
	vals := map[key][]float64{}
	perRound := map[int]map[key]float64{}
	status := map[string]map[string]string{} // scenario → kind → pending/error text
	for _, r := range results {
		if status[r.Scenario] == nil {
			status[r.Scenario] = map[string]string{}
		}
		switch {
		case r.Error != "":
			status[r.Scenario][r.Kind] = "error"
		case r.Pending != "":
			if strings.HasPrefix(r.Pending, "n/a") {
				status[r.Scenario][r.Kind] = "n/a"
			} else {
				status[r.Scenario][r.Kind] = "pending"
			}
		}
		if perRound[r.Round] == nil {
			perRound[r.Round] = map[key]float64{}
		}
		for m, v := range r.Metrics {
			k := key{r.Kind, m}
			vals[k] = append(vals[k], v)
			perRound[r.Round][k] = v
		}
	}
	ratio := func(metric, other string) float64 {
		var rs []float64
		for _, m := range perRound {
			a, ok1 := m[key{scenario.KindSockbus, metric}]
			b, ok2 := m[key{other, metric}]
			if ok1 && ok2 && b != 0 {
				rs = append(rs, a/b)
			}
		}
		return median(rs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s  \n", meta.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s  \n", machine())
	fmt.Fprintf(&b, "Command: `%s` (mode %s, %d round(s); loader on the same machine, loopback)  \n", meta.Command, meta.Plan.Mode, meta.Plan.Rounds)
	if meta.LoadStart != "" {
		fmt.Fprintf(&b, "Load average (1/5/15 min) at start: %s, at end: %s  \n", meta.LoadStart, meta.LoadEnd)
	}
	if meta.Versions != "" {
		fmt.Fprintf(&b, "Versions: %s  \n", meta.Versions)
	}
	b.WriteString("\n| scenario | figure | socket.io | bare gws | sockbus | sockbus ÷ socket.io | sockbus ÷ gws | target | |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|---|---|\n")
	for _, rw := range rows(meta.Plan) {
		cell := func(kind string) string {
			if v := vals[key{kind, rw.key}]; len(v) > 0 {
				return format(median(v) * rw.scale)
			}
			if s := status[rw.scen][kind]; s != "" {
				return s
			}
			return "–"
		}
		sv := median(vals[key{scenario.KindSockbus, rw.key}])
		vsSIO, vsGWS := ratio(rw.key, scenario.KindSocketIO), ratio(rw.key, scenario.KindGWS)
		verdict := ""
		if rw.ok != nil {
			if met, known := rw.ok(sv, vsSIO, vsGWS); !known {
				verdict = "n/a"
			} else if met {
				verdict = "met"
			} else {
				verdict = "**missed**"
			}
		}
		if cell(scenario.KindSockbus) == "–" && cell(scenario.KindSocketIO) == "–" && cell(scenario.KindGWS) == "–" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rw.label, rw.unit,
			cell(scenario.KindSocketIO), cell(scenario.KindGWS), cell(scenario.KindSockbus),
			formatRatio(vsSIO), formatRatio(vsGWS), rw.target, verdict)
	}
	var notes []string
	for _, r := range results {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("round %d, %s, %s: %s", r.Round, r.Scenario, r.Kind, n))
		}
		if r.Pending != "" {
			notes = append(notes, fmt.Sprintf("round %d, %s, %s: %s", r.Round, r.Scenario, r.Kind, r.Pending))
		}
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("round %d, %s, %s: error: %s", r.Round, r.Scenario, r.Kind, r.Error))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func format(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 1000:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func formatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return ""
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}

// machine describes the CPU: nproc and the model from /proc/cpuinfo.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	nproc := strconv.Itoa(runtime.NumCPU())
	if out, err := exec.Command("nproc").Output(); err == nil {
		nproc = strings.TrimSpace(string(out))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
					mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%s cores (nproc), %s%s, %s", nproc, model, mem, runtime.GOOS+"/"+runtime.GOARCH)
}

// stormRows are the reconnect storm's rows (scenario.Storm).
func stormRows(p Plan) []row {
	lbl := fmt.Sprintf("reconnect storm, %d clients cut at once", p.StormClients)
	return []row{
		{scen: "storm", label: lbl, key: "storm.ms_to_99pct", scale: 1, unit: "ms to 99% recovered"},
		{scen: "storm", label: lbl, key: "storm.ms_to_all", scale: 1, unit: "ms to all recovered"},
		{scen: "storm", label: lbl, key: "storm.cpu_us_per_reconnect", scale: 1, unit: "server CPU µs/reconnect"},
		{scen: "storm", label: lbl, key: "storm.recovered_pct", scale: 1, unit: "recovered %", target: "100%",
			ok: func(v, _, _ float64) (bool, bool) { return v == 100, !math.IsNaN(v) }},
		{scen: "storm", label: lbl, key: "storm.events_lost", scale: 1, unit: "events lost", target: "0",
			ok: func(v, _, _ float64) (bool, bool) { return v == 0, !math.IsNaN(v) }},
		{scen: "storm", label: lbl, key: "storm.events_duplicated", scale: 1, unit: "events duplicated", target: "0",
			ok: func(v, _, _ float64) (bool, bool) { return v == 0, !math.IsNaN(v) }},
		{scen: "storm", label: lbl, key: "storm.redials_failed", scale: 1, unit: "failed redials (retried)"},
		{scen: "storm", label: lbl, key: "storm.not_back", scale: 1, unit: "clients not back after 2 min", target: "0",
			ok: func(v, _, _ float64) (bool, bool) { return v == 0, !math.IsNaN(v) }},
	}
}
