package mesh

import "sync"

// cmdQueueCap bounds the commands waiting for the reactor; posters wait
// beyond it. (Whispers are bounded per peer before that: maxPending.)
const cmdQueueCap = 1 << 16

// cmdQueue carries API commands to the reactor. Posters append under a
// mutex; the reactor takes everything at once by swapping slices, so a
// burst of Whisper calls costs one lock each and the reactor one lock per
// batch (a channel costs a lock per item on both sides).
type cmdQueue struct {
	mu    sync.Mutex
	items []command
	room  chan struct{} // closed when the reactor takes items; nil if no one waits
}

// push appends c, waiting while the queue is full. It returns ErrStopped
// if done is closed first.
func (q *cmdQueue) push(c command, done <-chan struct{}) error {
	for {
		q.mu.Lock()
		if len(q.items) < cmdQueueCap {
			q.items = append(q.items, c)
			q.mu.Unlock()
			return nil
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-done:
			return ErrStopped
		}
	}
}

// take returns the queued commands and leaves spare (emptied) in their
// place, so that the two slices are reused in turn.
func (q *cmdQueue) take(spare []command) []command {
	q.mu.Lock()
	got := q.items
	q.items = spare[:0]
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.mu.Unlock()
	return got
}
