// Package stats holds the measuring tools of the benchmark harness: a
// concurrent latency histogram and readers of a server process's CPU time and
// resident memory from /proc.
//
// hist.go is the histogram, proc.go the /proc readers.
package stats
