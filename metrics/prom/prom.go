package prom

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockbus/sockbus/metrics"
)

// Sources are what a scrape reads. Every field may be nil.
type Sources struct {
	// Set holds the counters and histograms.
	Set *metrics.Set
	// Live reports open connections, sockets, namespaces, rooms, channels.
	Live func() metrics.Live
	// StoreBytes reports JetStream's bytes on disk (ok false: unknown).
	StoreBytes func() (bytes uint64, ok bool)
	// ClusterPeers reports the other cluster nodes this node routes to.
	ClusterPeers func() int
	// BusDisconnects counts the node's NATS connections lost (and
	// reconnected) since it started.
	BusDisconnects func() uint64
	// LiveDropped counts stored events not delivered live because the
	// node's live handlers were behind (bus.Bus.LiveDropped).
	LiveDropped func() uint64
	// WebhookBacklog reports the webhook events some receiver has not
	// taken yet, and their bytes (ok false: unknown).
	WebhookBacklog func() (msgs, bytes uint64, ok bool)
}

// Handler returns an http.Handler serving /metrics for src, plus the Go
// runtime and process collectors, on a registry of its own.
func Handler(src Sources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Collector is a prometheus.Collector over Sources.
type Collector struct {
	src Sources
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector reading src at each scrape.
func NewCollector(src Sources) *Collector { return &Collector{src: src} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sockbus_"+name, help, labels, nil)
}

// The metric names: docs/operations.md lists them and examples/grafana uses them.
var (
	connectionsDesc = desc("connections", "Open client connections by kind (socketio, websocket) and transport (polling, websocket).", "kind", "transport")
	socketsDesc     = desc("sockets", "Socket.IO sockets (namespace memberships) by their connection's transport.", "transport")
	namespacesDesc  = desc("namespaces", "Socket.IO namespaces with sockets on this node.")
	roomsDesc       = desc("rooms", "Socket.IO rooms with members on this node, over all namespaces.")
	channelsDesc    = desc("channels", "Plain WebSocket channels with connections on this node.")
	eventsInDesc    = desc("events_in_total", "Client messages received (Socket.IO events, WebSocket frames).", "kind")
	bytesInDesc     = desc("bytes_in_total", "Payload bytes of client messages received.", "kind")
	eventsOutDesc   = desc("events_out_total", "Bus messages fanned out to this node's clients.", "kind")
	deliveriesDesc  = desc("deliveries_total", "Frames queued to clients by fan-out (one event to n clients counts n, plus attachments).", "kind")
	bytesOutDesc    = desc("bytes_out_total", "Bytes queued to clients by fan-out.", "kind")
	refusalsDesc    = desc("refusals_total", "Clients or client input refused, by reason.", "reason")
	disconnectsDesc = desc("disconnects_total", "Connections ended, by kind and reason.", "kind", "reason")
	outcomesDesc    = desc("recoveries_total", "Socket.IO connection state recoveries and late-joiner histories, by outcome.", "outcome")
	pubErrDesc      = desc("bus_publish_errors_total", "Publishes the bus refused or failed to store.")
	roomOpsDesc     = desc("client_room_ops_total", "Socket.IO clients' own room operations (sockbus:join, sockbus:leave, sockbus:to), by op and result (ok, refused).", "op", "result")
	adminLoginDesc  = desc("admin_logins_total", "Admin UI logins with a password, by result (ok and failed ran bcrypt; limited and busy were refused without it).", "result")
	apiDesc         = desc("api_requests_total", "HTTP server API requests (/api/v1/), by endpoint and status (a status other than 200 appears once it happened).", "endpoint", "status")
	ackDesc         = desc("ack_latency_seconds", "Time from an emit with an ack to the client's answer.")
	storeDesc       = desc("store_latency_seconds", "Time from a publish to JetStream's storage acknowledgement.")
	storeBytesDesc  = desc("jetstream_store_bytes", "Bytes JetStream stores on this node's disk.")
	peersDesc       = desc("cluster_peers", "Other cluster nodes this node has routes to.")
	busLostDesc     = desc("bus_disconnects_total", "Times one of the node's NATS connections was lost (each reconnects by itself).")
	liveDropDesc    = desc("bus_live_dropped_total", "Stored events not delivered live on this node because its live handlers were behind.")
	webhooksDesc    = desc("webhooks_total", "Webhook deliveries and events by outcome: delivered (2xx), failed (an attempt; retried), expired (given up past --webhook-max-age), not_stored.", "outcome")
	hookBacklogDesc = desc("webhook_backlog", "Webhook events stored that some receiver has not taken yet (the whole cluster's).")
	hookBytesDesc   = desc("webhook_backlog_bytes", "Bytes of the webhook events stored that some receiver has not taken yet.")
)

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{roomOpsDesc, connectionsDesc, socketsDesc, namespacesDesc, roomsDesc, channelsDesc,
		eventsInDesc, bytesInDesc, eventsOutDesc, deliveriesDesc, bytesOutDesc, refusalsDesc, disconnectsDesc,
		outcomesDesc, pubErrDesc, adminLoginDesc, ackDesc, storeDesc, storeBytesDesc, peersDesc, busLostDesc, liveDropDesc,
		webhooksDesc, hookBacklogDesc, hookBytesDesc, apiDesc} {
		ch <- d
	}
	describePresence(ch)
}

// Collect reads the sources.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	var live metrics.Live
	if c.src.Live != nil {
		live = c.src.Live()
	}
	gauge(connectionsDesc, live.SocketIOPolling, "socketio", "polling")
	gauge(connectionsDesc, live.SocketIOWebSocket, "socketio", "websocket")
	gauge(connectionsDesc, live.WebSocketConns, "websocket", "websocket")
	gauge(socketsDesc, live.SocketsPolling, "polling")
	gauge(socketsDesc, live.SocketsWebSocket, "websocket")
	gauge(namespacesDesc, live.Namespaces)
	gauge(roomsDesc, live.Rooms)
	gauge(channelsDesc, live.Channels)

	snap := c.src.Set.Snapshot()
	for _, k := range metrics.Kinds() {
		counter(eventsInDesc, snap.EventsIn[k], k.String())
		counter(bytesInDesc, snap.BytesIn[k], k.String())
		counter(eventsOutDesc, snap.EventsOut[k], k.String())
		counter(deliveriesDesc, snap.Deliveries[k], k.String())
		counter(bytesOutDesc, snap.BytesOut[k], k.String())
		for _, r := range metrics.DisconnectReasons() {
			counter(disconnectsDesc, snap.Disconnects[k][r], k.String(), r.String())
		}
	}
	for _, r := range metrics.RefusalReasons() {
		counter(refusalsDesc, snap.Refused[r], r.String())
	}
	for _, o := range metrics.Outcomes() {
		counter(outcomesDesc, snap.Outcomes[o], o.String())
	}
	counter(pubErrDesc, snap.PublishErrors)
	for _, r := range metrics.AdminLogins() {
		counter(adminLoginDesc, snap.AdminLogins[r], r.String())
	}
	for _, o := range metrics.WebhookOutcomes() {
		counter(webhooksDesc, snap.Webhooks[o], o.String())
	}
	statuses := metrics.APIStatuses()
	for _, e := range metrics.APIEndpoints() {
		for i, st := range statuses {
			if n := snap.APIRequests[e][i]; n > 0 || i == 0 {
				counter(apiDesc, n, e.String(), st)
			}
		}
	}
	for _, o := range metrics.RoomOps() {
		counter(roomOpsDesc, snap.RoomOps[o][0], o.String(), "ok")
		counter(roomOpsDesc, snap.RoomOps[o][1], o.String(), "refused")
	}
	histogram(ch, ackDesc, snap.AckLatency)
	histogram(ch, storeDesc, snap.StoreLatency)
	if c.src.StoreBytes != nil {
		if n, ok := c.src.StoreBytes(); ok {
			ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(n))
		}
	}
	presenceMetrics(ch, c.src.Set)
	if c.src.ClusterPeers != nil {
		gauge(peersDesc, c.src.ClusterPeers())
	}
	if c.src.BusDisconnects != nil {
		counter(busLostDesc, c.src.BusDisconnects())
	}
	if c.src.LiveDropped != nil {
		counter(liveDropDesc, c.src.LiveDropped())
	}
	if c.src.WebhookBacklog != nil {
		if n, b, ok := c.src.WebhookBacklog(); ok {
			ch <- prometheus.MustNewConstMetric(hookBacklogDesc, prometheus.GaugeValue, float64(n))
			ch <- prometheus.MustNewConstMetric(hookBytesDesc, prometheus.GaugeValue, float64(b))
		}
	}
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h metrics.HistogramSnapshot) {
	buckets := make(map[float64]uint64, len(metrics.LatencyBuckets))
	for i, le := range metrics.LatencyBuckets {
		buckets[le] = h.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
