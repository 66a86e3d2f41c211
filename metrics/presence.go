package metrics

import "sync/atomic"

// PresenceOutcome is how a client's presence query ended.
type PresenceOutcome int

// Presence query outcomes.
const (
	PresenceAnswered PresenceOutcome = iota
	PresenceRefused
	numPresenceOutcomes
)

func (o PresenceOutcome) String() string {
	if o == PresenceRefused {
		return "refused"
	}
	return "answered"
}

// PresenceOutcomes lists the outcomes, for exporters.
func PresenceOutcomes() []PresenceOutcome {
	return []PresenceOutcome{PresenceAnswered, PresenceRefused}
}

type presenceCounters struct {
	queries [numPresenceOutcomes]atomic.Uint64
	events  atomic.Uint64
	resyncs atomic.Uint64
	refused atomic.Uint64
}

// PresenceQuery counts a presence query (a client's, a backend's or the Go
// API's) by outcome.
func (s *Set) PresenceQuery(o PresenceOutcome) {
	if s != nil {
		s.presence.queries[o].Add(1)
	}
}

// PresenceEvent counts a joined or left event announced by this node.
func (s *Set) PresenceEvent() {
	if s != nil {
		s.presence.events.Add(1)
	}
}

// PresenceCounts reads the presence counters: queries by outcome, events.
func (s *Set) PresenceCounts() (queries [numPresenceOutcomes]uint64, events uint64) {
	if s == nil {
		return queries, 0
	}
	for o := range numPresenceOutcomes {
		queries[o] = s.presence.queries[o].Load()
	}
	return queries, s.presence.events.Load()
}

// PresenceResync counts a snapshot this node asked another node for after
// a gap in its messages (a lost delta, or a count that differs).
func (s *Set) PresenceResync() {
	if s != nil {
		s.presence.resyncs.Add(1)
	}
}

// PresenceResyncs reads the count of PresenceResync.
func (s *Set) PresenceResyncs() uint64 {
	if s == nil {
		return 0
	}
	return s.presence.resyncs.Load()
}

// PresenceRejected counts a message from another node (or anyone
// publishing on the presence subjects) that presence dropped: malformed,
// a bad node name, a node past the bound of nodes, a repeated "back".
func (s *Set) PresenceRejected() {
	if s != nil {
		s.presence.refused.Add(1)
	}
}

// PresenceRejections reads the count of PresenceRejected.
func (s *Set) PresenceRejections() uint64 {
	if s == nil {
		return 0
	}
	return s.presence.refused.Load()
}
