package node

import (
	"slices"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// sendWindow bounds the numbered messages in flight to one peer: a
// receiver drops what follows a gap, so sending further ahead would only
// have to be sent again.
const sendWindow = 64

// outItem is the in-memory view of one unacknowledged message. The store
// holds the durable copy; attempts and timing live only here.
type outItem struct {
	id       crypto.MessageID
	to       crypto.PublicKey // pairwise items
	seq      uint64
	env      []byte // pairwise envelope, or group message for group items
	created  time.Time
	attempts int
	nextTry  time.Time
	warned   bool

	// Group items: one outbox record per group message, relayed pairwise
	// to the members in remaining until each acknowledges it.
	isGroup   bool
	group     crypto.GroupID
	remaining map[crypto.PublicKey]bool
}

// outbox indexes the unacknowledged messages: by id for acknowledgements,
// per peer in sequence order for sending, and group items apart. It is
// guarded by Node.mu.
type outbox struct {
	items  map[crypto.MessageID]*outItem
	queues map[crypto.PublicKey][]*outItem // pairwise, ascending seq
	groups map[crypto.MessageID]*outItem
}

func newOutbox() *outbox {
	return &outbox{
		items:  make(map[crypto.MessageID]*outItem),
		queues: make(map[crypto.PublicKey][]*outItem),
		groups: make(map[crypto.MessageID]*outItem),
	}
}

// add inserts it and, for a pairwise item, returns its position in its
// peer's queue.
func (o *outbox) add(it *outItem) int {
	o.items[it.id] = it
	if it.isGroup {
		o.groups[it.id] = it
		return 0
	}
	q := o.queues[it.to]
	i, _ := slices.BinarySearchFunc(q, it.seq, func(x *outItem, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	o.queues[it.to] = slices.Insert(q, i, it)
	return i
}

func (o *outbox) get(id crypto.MessageID) (*outItem, bool) {
	it, ok := o.items[id]
	return it, ok
}

func (o *outbox) remove(id crypto.MessageID) {
	it, ok := o.items[id]
	if !ok {
		return
	}
	delete(o.items, id)
	if it.isGroup {
		delete(o.groups, id)
		return
	}
	q := slices.DeleteFunc(o.queues[it.to], func(x *outItem) bool { return x == it })
	if len(q) == 0 {
		delete(o.queues, it.to)
	} else {
		o.queues[it.to] = q
	}
}

// window returns the items to peer that may be in flight.
func (o *outbox) window(to crypto.PublicKey) []*outItem {
	q := o.queues[to]
	return q[:min(len(q), sendWindow)]
}

// to returns the ids of the pairwise items to peer.
func (o *outbox) to(peer crypto.PublicKey) []crypto.MessageID {
	var ids []crypto.MessageID
	for _, it := range o.queues[peer] {
		ids = append(ids, it.id)
	}
	return ids
}

// retryNow makes every item to peer (or every group item it has not
// acknowledged) due at once, after the peer (re)appeared.
func (o *outbox) retryNow(peer crypto.PublicKey, now time.Time) {
	for _, it := range o.queues[peer] {
		it.nextTry = now
	}
	for _, it := range o.groups {
		if it.remaining[peer] {
			it.nextTry = now
		}
	}
}

// attempt records a send of it at now and schedules the next with
// exponential backoff. It reports whether it just passed the number of
// attempts that makes it undeliverable.
func (it *outItem) attempt(now time.Time, cfg *Config) (undeliverable bool) {
	it.attempts++
	backoff := cfg.RetryMin << min(it.attempts-1, 16)
	if backoff > cfg.RetryMax || backoff <= 0 {
		backoff = cfg.RetryMax
	}
	it.nextTry = now.Add(backoff)
	if it.attempts >= cfg.UndeliverableAfter && !it.warned {
		it.warned = true
		return true
	}
	return false
}
