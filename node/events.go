package node

import (
	"context"
	"errors"
	"io"
	"sync"
)

// ErrWouldBlock is returned by Subscription.Read when block is false and no
// event is queued.
var ErrWouldBlock = errors.New("no event queued")

// EventHub fans event lines out to subscribers. Each subscriber has a
// bounded queue; when it is full the subscriber loses the newest events and
// then gets a single overflow warning line, so a reader that stops reading
// never slows the node down. It is safe for concurrent use.
type EventHub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	limit  int
	// overflowLine renders the warning a subscriber sees after losing
	// events; it is given the number lost.
	overflowLine func(lost int) string
}

// NewEventHub returns a hub whose subscribers queue at most limit lines.
// overflowLine renders the warning line (ending in "\n") a subscriber reads
// after it lost events; it is given the number lost.
func NewEventHub(limit int, overflowLine func(lost int) string) *EventHub {
	return &EventHub{subs: make(map[*Subscription]struct{}), limit: limit, overflowLine: overflowLine}
}

// Publish queues line (which should end in "\n") for every subscriber. It
// never blocks.
func (h *EventHub) Publish(line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.push(line)
	}
}

// Subscribe returns a subscription that sees every line published from now
// on. After Close it returns a subscription that is already at its end.
func (h *EventHub) Subscribe() *Subscription {
	s := &Subscription{hub: h, limit: h.limit, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Close ends every subscription: queued lines can still be read, then Read
// returns io.EOF.
func (h *EventHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.end()
	}
	h.subs = nil
}

// Subscription is one reader's view of the event stream (one open of
// .events). It is safe for concurrent use.
type Subscription struct {
	hub   *EventHub
	limit int
	wake  chan struct{} // capacity 1: a token means "something changed"

	mu     sync.Mutex
	queue  []string
	lost   int // events dropped since the queue was last full
	closed bool
}

func (s *Subscription) push(line string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.limit {
		s.lost++
	} else {
		s.queue = append(s.queue, line)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) end() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Wake returns a channel that receives a value after new events arrive or
// the subscription ends. It is meant for poll(2) wakeups: after a receive,
// call Ready to find out whether a read would succeed.
func (s *Subscription) Wake() <-chan struct{} { return s.wake }

// Ready reports whether Read would return without blocking (an event is
// queued, or the stream has ended).
func (s *Subscription) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 || s.lost > 0 || s.closed
}

// Read returns as many whole queued event lines (each ending in "\n") as fit
// in max bytes, at least one. A line longer than max is returned alone,
// whole. If nothing is queued it waits when block is true (until an event,
// ctx is done, or the stream ends) and returns ErrWouldBlock otherwise.
// After the stream has ended and the queue is drained it returns io.EOF.
func (s *Subscription) Read(ctx context.Context, max int, block bool) ([]byte, error) {
	for {
		s.mu.Lock()
		if s.lost > 0 && s.hub.overflowLine != nil && len(s.queue) < s.limit {
			s.queue = append(s.queue, s.hub.overflowLine(s.lost))
			s.lost = 0
		}
		if len(s.queue) > 0 {
			var out []byte
			n := 0
			for n < len(s.queue) && (n == 0 || len(out)+len(s.queue[n]) <= max) {
				out = append(out, s.queue[n]...)
				n++
			}
			s.queue = append(s.queue[:0], s.queue[n:]...)
			s.mu.Unlock()
			return out, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, io.EOF
		}
		if !block {
			return nil, ErrWouldBlock
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the subscription and releases it from the hub.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
	s.end()
}
