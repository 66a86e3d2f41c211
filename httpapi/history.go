package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// maxPageBytes bounds the stored bytes one history page carries (at least
// one event): limit events of up to --max-message-bytes each would
// otherwise make one answer a gigabyte.
const maxPageBytes = 8 << 20

// event is one stored event of a history page.
type event struct {
	Offset string `json:"offset"`
	// Socket.IO: the event, its JSON arguments, the rooms it was sent to
	// (none: the whole namespace), binary attachments in order.
	Event       string          `json:"event,omitempty"`
	Args        json.RawMessage `json:"args,omitempty"`
	Rooms       []string        `json:"rooms,omitempty"`
	Attachments [][]byte        `json:"attachments_base64,omitempty"`
	// Plain WebSocket: a text frame's data, or a binary one's.
	Data       *string `json:"data,omitempty"`
	DataBase64 []byte  `json:"data_base64,omitempty"` // []byte: base64 by encoding/json
	Time       string  `json:"time"`
}

// page is GET history's answer; Next is the after= of the following page
// (null when the log holds nothing at or after since).
type page struct {
	Events []event `json:"events"`
	Next   *string `json:"next"`
}

// errPageFull stops a read once a page holds what it may.
var errPageFull = errors.New("httpapi: page full")

// readHistory answers a page of a namespace's or channel's stored events:
// after an offset, from a time, or from the start of what is kept.
func (s *Server) readHistory(q *request) (any, error) {
	query := q.r.URL.Query()
	l, ns, err := s.historyLog(query.Get("namespace"), query.Get("channel"))
	if err != nil {
		return nil, err
	}
	limit := 100
	if v := query.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > MaxHistoryLimit {
			return nil, fail(http.StatusBadRequest, "limit must be 1 to %d", MaxHistoryLimit)
		}
	}
	after, ok, err := s.startOf(q, l, query.Get("after"), query.Get("since"))
	if err != nil || !ok {
		return page{Events: []event{}}, err
	}
	out := page{Events: []event{}}
	size := 0
	var last uint64
	covered, err := s.history.Since(q.r.Context(), l, after, func(m bus.StoredMsg) error {
		e, keep, err := toEvent(l, ns, m)
		if err != nil || !keep {
			return err
		}
		if size += len(m.Data); len(out.Events) > 0 && size > maxPageBytes {
			return errPageFull
		}
		out.Events = append(out.Events, e)
		last = m.Seq
		if len(out.Events) == limit {
			return errPageFull
		}
		return nil
	})
	switch {
	case errors.Is(err, errPageFull):
	case errors.Is(err, bus.ErrHistoryGone):
		return nil, fail(http.StatusGone, "the history no longer holds that position (trimmed by retention): start again with since=")
	case err != nil:
		return nil, fmt.Errorf("failed to read history: %w", err)
	default:
		last = max(last, covered)
	}
	next := l.Epoch() + "." + strconv.FormatUint(max(last, after), 10)
	out.Next = &next
	return out, nil
}

// historyLog is the log of exactly one of namespace and channel, and the
// namespace's subject base ("" for a channel).
func (s *Server) historyLog(namespace, channel string) (bus.Log, string, error) {
	switch {
	case (namespace == "") == (channel == ""):
		return bus.Log{}, "", fail(http.StatusBadRequest, "exactly one of namespace and channel is required")
	case channel != "":
		tok, err := s.channelToken(channel)
		return s.bus.Log(bus.KindChannel, tok), "", err
	}
	if _, err := s.operator(namespace); err != nil {
		return bus.Log{}, "", err
	}
	tok, err := bus.EncodeToken(strings.TrimPrefix(namespace, "/"))
	if err != nil {
		return bus.Log{}, "", fail(http.StatusBadRequest, "bad namespace: %v", err)
	}
	return s.bus.Log(bus.KindNamespace, tok), bus.IOBase(tok), nil
}

// startOf is the sequence a page reads after: the offset after (which must
// be of this log's epoch), the first event stored at or after since, or
// the log's first event. ok is false when there is no such event.
func (s *Server) startOf(q *request, l bus.Log, after, since string) (uint64, bool, error) {
	switch {
	case after != "" && since != "":
		return 0, false, fail(http.StatusBadRequest, "after and since exclude each other")
	case after != "":
		epoch, seq, found := strings.Cut(after, ".")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !found || err != nil || epoch == "" {
			return 0, false, fail(http.StatusBadRequest, "after is not an offset (<epoch>.<sequence>)")
		}
		if epoch != l.Epoch() {
			return 0, false, fail(http.StatusGone, "offset from another epoch: the stream was recreated since; start again with since=")
		}
		return n, true, nil
	}
	var t time.Time
	if since != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return 0, false, fail(http.StatusBadRequest, "since is not an RFC 3339 time")
		}
	}
	seq, ok, err := s.history.FirstAt(q.r.Context(), l, t)
	if err != nil {
		return 0, false, fmt.Errorf("failed to read history: %w", err)
	}
	return seq - 1, ok, nil
}

// toEvent decodes a stored message of a namespace (base: its subject
// base) or channel (base ""); keep is false for what is not an event
// (socket operations).
func toEvent(l bus.Log, base string, m bus.StoredMsg) (event, bool, error) {
	e := event{Offset: l.Epoch() + "." + strconv.FormatUint(m.Seq, 10), Time: m.Time.UTC().Format(time.RFC3339Nano)}
	if base == "" {
		if m.Header.Get(bus.HeaderBinary) == "1" {
			e.DataBase64 = m.Data
			if e.DataBase64 == nil {
				e.DataBase64 = []byte{}
			}
		} else {
			d := string(m.Data)
			e.Data = &d
		}
		return e, true, nil
	}
	a, err := bus.ParseIOAddress(strings.TrimPrefix(m.Subject, base))
	if err != nil || a.Kind == bus.IOControl {
		return e, false, nil // not an event of this namespace's grammar
	}
	e.Event = a.Event
	switch a.Kind {
	case bus.IORoom, bus.IOSocket:
		e.Rooms = []string{a.Target}
	case bus.IORooms:
		e.Rooms = bus.DecodeTokenList(m.Header.Get(bus.HeaderRooms))
	}
	args, atts, err := splitAttachments(m)
	if err != nil {
		return e, false, nil
	}
	e.Args, e.Attachments = args, atts
	return e, true, nil
}

// splitAttachments separates a stored event's JSON arguments from the
// binary attachments appended after them (sizes in HeaderAttachments).
func splitAttachments(m bus.StoredMsg) (json.RawMessage, [][]byte, error) {
	h := m.Header.Get(bus.HeaderAttachments)
	if h == "" {
		return m.Data, nil, nil
	}
	parts := strings.Split(h, ",")
	atts := make([][]byte, len(parts))
	end := len(m.Data)
	for i := len(parts) - 1; i >= 0; i-- {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || n > end {
			return nil, nil, fmt.Errorf("bad %s header %q", bus.HeaderAttachments, h)
		}
		atts[i] = m.Data[end-n : end]
		end -= n
	}
	return m.Data[:end], atts, nil
}
