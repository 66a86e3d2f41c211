//go:build !race

package engine

const (
	raceEnabled          = false
	raceIdleStackPerConn = 0 // unused without -race
)
