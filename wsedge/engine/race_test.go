//go:build race

package engine

// The race detector makes goroutine stacks larger (measured 4.5-5 KiB per
// idle read loop), so the stack bound of TestIdleWebSocketMemory is looser
// under -race; the exact bound holds without it:
// go test -run TestIdleWebSocketMemory ./wsedge/engine
const (
	raceEnabled          = true
	raceIdleStackPerConn = 8192
)
