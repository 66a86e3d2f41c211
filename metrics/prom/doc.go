// Package prom serves sockbus's metrics in the Prometheus text format with
// github.com/prometheus/client_golang. One Collector reads a metrics.Set,
// the edges' live counts and the bus's store size and cluster peers at
// scrape time: nothing here runs on the hot path.
//
// Everything is in prom.go: start at [NewCollector].
package prom
