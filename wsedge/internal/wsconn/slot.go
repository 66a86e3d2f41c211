package wsconn

import "github.com/lxzan/gws"

// Slot is a gws.SessionStorage that holds one typed value, the owner of
// the connection. gws's default storage is a map per connection, which
// idle connections pay for; we only ever need a way back to our own state.
type Slot[T any] struct{ V T }

var _ gws.SessionStorage = (*Slot[int])(nil)

// NewSlot is a gws.ServerOption.NewSession for Slot[T].
func NewSlot[T any]() gws.SessionStorage { return new(Slot[T]) }

// Of returns the value in conn's slot, or the zero T when conn's storage
// is not a Slot[T].
func Of[T any](conn *gws.Conn) T {
	if s, ok := conn.Session().(*Slot[T]); ok {
		return s.V
	}
	var zero T
	return zero
}

// Set stores v in conn's slot (set before the read loop starts).
func Set[T any](conn *gws.Conn, v T) {
	if s, ok := conn.Session().(*Slot[T]); ok {
		s.V = v
	}
}

func (s *Slot[T]) Len() int                     { return 1 }
func (s *Slot[T]) Load(string) (any, bool)      { return s.V, true }
func (s *Slot[T]) Delete(string)                {}
func (s *Slot[T]) Store(string, any)            {}
func (s *Slot[T]) Range(func(string, any) bool) {}
