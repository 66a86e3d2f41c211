// Package datadir claims a data directory for one process: it checks the
// directory is writable (failing at once with the path and the reason,
// instead of the embedded server's silent ready timeout) and holds an
// exclusive flock on a lock file inside it until released, so a second
// sockbus on the same directory refuses to start instead of writing the
// same stream files.
package datadir
