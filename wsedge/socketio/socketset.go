package socketio

// socketSet is a client connection's sockets by namespace name. Most
// clients use one namespace, which needs no map: an idle connection's map
// was about 250 B of its heap (the map and its first group).
type socketSet struct {
	one  *Socket            // the only socket, while m is nil
	many map[string]*Socket // two namespaces or more
}

func (ss *socketSet) get(ns string) *Socket {
	if ss.many != nil {
		return ss.many[ns]
	}
	if ss.one != nil && ss.one.ns.name == ns {
		return ss.one
	}
	return nil
}

// put adds s under its namespace's name, replacing any socket there.
func (ss *socketSet) put(s *Socket) {
	switch {
	case ss.many != nil:
		ss.many[s.ns.name] = s
	case ss.one == nil || ss.one.ns.name == s.ns.name:
		ss.one = s
	default:
		ss.many = map[string]*Socket{ss.one.ns.name: ss.one, s.ns.name: s}
		ss.one = nil
	}
}

// remove removes s; false if s was not in the set.
func (ss *socketSet) remove(s *Socket) bool {
	if ss.many != nil {
		if ss.many[s.ns.name] != s {
			return false
		}
		delete(ss.many, s.ns.name)
		return true
	}
	if s == nil || ss.one != s {
		return false
	}
	ss.one = nil
	return true
}

func (ss *socketSet) len() int {
	if ss.many != nil {
		return len(ss.many)
	}
	if ss.one != nil {
		return 1
	}
	return 0
}

// list returns the sockets.
func (ss *socketSet) list() []*Socket {
	if ss.many == nil {
		if ss.one == nil {
			return nil
		}
		return []*Socket{ss.one}
	}
	socks := make([]*Socket, 0, len(ss.many))
	for _, s := range ss.many {
		socks = append(socks, s)
	}
	return socks
}

// clear empties the set.
func (ss *socketSet) clear() { *ss = socketSet{} }
