package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockbus/sockbus/metrics"
)

var (
	presenceQueriesDesc  = desc("presence_queries_total", "Presence queries (clients' sockbus:presence, backends' and the Go API's), by outcome.", "outcome")
	presenceEventsDesc   = desc("presence_events_total", "Joined and left events this node announced.")
	presenceResyncsDesc  = desc("presence_resyncs_total", "Snapshots this node asked another node for after a gap in its presence messages.")
	presenceRejectedDesc = desc("presence_rejected_total", "Presence messages from other nodes (or other NATS clients) dropped: malformed, a bad node name, past --presence-max-nodes.")
)

func describePresence(ch chan<- *prometheus.Desc) {
	ch <- presenceQueriesDesc
	ch <- presenceEventsDesc
	ch <- presenceResyncsDesc
	ch <- presenceRejectedDesc
}

func presenceMetrics(ch chan<- prometheus.Metric, s *metrics.Set) {
	queries, events := s.PresenceCounts()
	for _, o := range metrics.PresenceOutcomes() {
		ch <- prometheus.MustNewConstMetric(presenceQueriesDesc, prometheus.CounterValue, float64(queries[o]), o.String())
	}
	ch <- prometheus.MustNewConstMetric(presenceEventsDesc, prometheus.CounterValue, float64(events))
	ch <- prometheus.MustNewConstMetric(presenceResyncsDesc, prometheus.CounterValue, float64(s.PresenceResyncs()))
	ch <- prometheus.MustNewConstMetric(presenceRejectedDesc, prometheus.CounterValue, float64(s.PresenceRejections()))
}
