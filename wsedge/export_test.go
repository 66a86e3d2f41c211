package wsedge

// AddressConnections is how many open connections b counts for host (0
// when b does not hold it), for tests outside the package.
func AddressConnections(b *AddressBudget, host string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.addrs[host]; s != nil {
		return s.refs
	}
	return 0
}
