package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/store"
)

// Send sends one message to a log: a trusted peer or a group. It returns
// once the message is durably in the history and the outbox.
func (n *Node) Send(ctx context.Context, where string, p []byte) error {
	text, ok, err := normalizeText(p)
	if err != nil || !ok {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	e, trusted := n.keys.Lookup(where)
	n.mu.Unlock()
	if !trusted {
		if isGroupLog(where) {
			return n.sendGroup(ctx, where, text)
		}
		return fmt.Errorf("%w: %q is not a trusted peer: add its key to keys/ first", ErrNotFound, where)
	}
	pw, err := n.pairwise(e.Key)
	if err != nil {
		return err
	}
	_, err = n.enqueue(ctx, pw, crypto.TypeMessage, []byte(text), &store.Entry{From: fromMe, Text: []byte(text)}, peerConv(e.Key), where)
	return err
}

// enqueue seals a numbered message to pw's peer and commits it to the
// outbox, together with a history entry if hist is not nil, in one
// transaction. After the commit it updates the log cache, shows the event
// and wakes the outbox loop.
func (n *Node) enqueue(ctx context.Context, pw *crypto.Pairwise, typ crypto.MessageType, body []byte, hist *store.Entry, conv, where string) (crypto.MessageID, error) {
	id, err := newID()
	if err != nil {
		return id, err
	}
	now := time.Now()
	to := pw.Peer()
	toHex := hex.EncodeToString(to[:])
	var (
		env   []byte
		seq   uint64
		index uint64
	)
	err = n.db.Update(ctx, func(tx *store.Tx) error {
		s, err := tx.NextSendSeq(toHex)
		if err != nil {
			return err
		}
		sealed, err := pw.Seal(rand.Reader, crypto.Header{Type: typ, Seq: s, ID: id, Time: now}, body)
		if err != nil {
			return err
		}
		if hist != nil {
			h := *hist
			h.Time, h.ID = now, id
			if index, err = tx.Append(conv, h); err != nil {
				return err
			}
		}
		env, seq = sealed, s
		return tx.PutOutbox(store.OutboxItem{ID: id, To: toHex, Conv: conv, Seq: s, Payload: sealed, Created: now, Kind: uint8(typ)})
	})
	if err != nil {
		return id, fmt.Errorf("storing message: %w", err)
	}
	it := &outItem{id: id, to: to, seq: seq, env: env, created: now, nextTry: now}
	n.mu.Lock()
	pos := n.outbox.add(it)
	if hist != nil {
		h := *hist
		h.Time = now
		n.appendLocked(conv, index, h)
	}
	// Send at once if the peer is here and the window has room; otherwise
	// the outbox loop sends it when the window moves or the peer appears.
	sendNow := pos < sendWindow && n.peers[to] != nil && n.peers[to].online()
	if sendNow {
		it.attempt(now, &n.cfg)
	}
	n.mu.Unlock()
	if sendNow {
		n.sendTo(to, env)
	}
	if hist != nil {
		n.changed(Change{Where: where})
		n.emit("msg", where, fromMe, string(hist.Text))
	}
	return id, nil
}

func (n *Node) wakeOutbox() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// loadOutbox reads the durable outbox into memory at start.
func (n *Node) loadOutbox() error {
	now := time.Now()
	return n.db.View(func(tx *store.Tx) error {
		return tx.Outbox(func(it store.OutboxItem) error {
			if gid, ok := strings.CutPrefix(it.To, "g:"); ok {
				id, err1 := parseGroupID(gid)
				members, msg, err2 := decodeGroupOut(it.Payload)
				if err1 != nil || err2 != nil {
					n.log.Warn("skipping an unreadable group outbox item")
					return nil
				}
				n.outbox.add(&outItem{
					id: crypto.MessageID(it.ID), isGroup: true, group: id, env: msg,
					remaining: setOf(members), created: it.Created, nextTry: now,
				})
				return nil
			}
			to, err := keyFromHex(it.To)
			if err != nil {
				n.log.Warn("skipping outbox item with a bad recipient", "err", err)
				return nil
			}
			n.outbox.add(&outItem{
				id: crypto.MessageID(it.ID), to: to, seq: it.Seq, env: it.Payload,
				created: it.Created, nextTry: now,
			})
			return nil
		})
	})
}

func keyFromHex(s string) (crypto.PublicKey, error) {
	var k crypto.PublicKey
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("bad key %q", s)
	}
	copy(k[:], b)
	return k, nil
}

// outboxLoop sends due outbox items to present peers, in sequence order per
// peer, with exponential backoff between attempts.
func (n *Node) outboxLoop(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	housekeeping := time.NewTicker(time.Minute)
	defer housekeeping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-housekeeping.C:
			n.purgeChains(ctx)
		case <-tick.C:
		case <-n.kick:
		}
		n.flushOutbox()
	}
}

// flushOutbox sends what is due: the numbered messages in each present
// peer's window, in order, and the group messages members have not
// acknowledged, relayed pairwise.
func (n *Node) flushOutbox() {
	now := time.Now()
	type job struct {
		it *outItem
		to crypto.PublicKey
	}
	var jobs []job
	var undeliverable []*outItem
	n.mu.Lock()
	for to := range n.outbox.queues {
		if p := n.peers[to]; p == nil || !p.online() {
			continue
		}
		for _, it := range n.outbox.window(to) {
			if !it.nextTry.After(now) {
				jobs = append(jobs, job{it, to})
				if it.attempt(now, &n.cfg) {
					undeliverable = append(undeliverable, it)
				}
			}
		}
	}
	for _, it := range n.outbox.groups {
		if it.nextTry.After(now) {
			continue
		}
		sent := false
		for k := range it.remaining {
			if p := n.peers[k]; p != nil && p.online() {
				jobs = append(jobs, job{it, k})
				sent = true
			}
		}
		if sent && it.attempt(now, &n.cfg) {
			undeliverable = append(undeliverable, it)
		}
	}
	n.mu.Unlock()

	for _, j := range jobs {
		env := j.it.env
		if j.it.isGroup {
			// Relays are sealed only when needed: a group send costs one
			// encryption, not one per member.
			pw, err := n.pairwise(j.to)
			if err != nil {
				continue
			}
			env, err = pw.Seal(rand.Reader, crypto.Header{Type: crypto.TypeGroupRelay, ID: j.it.id, Time: j.it.created}, j.it.env)
			if err != nil {
				n.log.Error("sealing a group relay", "err", err)
				continue
			}
		}
		n.sendTo(j.to, env)
	}
	for _, it := range undeliverable {
		n.warn("undeliverable", fmt.Sprintf("%s not acknowledged after %d attempts", it.id, it.attempts))
	}
}

// OutboxText renders .outbox: one line per unacknowledged message with its
// id, recipient, age in seconds and attempts.
func (n *Node) OutboxText() []byte {
	n.mu.Lock()
	items := make([]*outItem, 0, len(n.outbox.items))
	for _, it := range n.outbox.items {
		items = append(items, it)
	}
	names := make(map[*outItem]string)
	for _, it := range items {
		if it.isGroup {
			if g := n.groups[it.group]; g != nil {
				names[it] = g.where()
			} else {
				names[it] = "-"
			}
			continue
		}
		names[it] = n.displayNameLocked(it.to)
	}
	n.mu.Unlock()
	sort.Slice(items, func(i, j int) bool {
		if !items[i].created.Equal(items[j].created) {
			return items[i].created.Before(items[j].created)
		}
		return items[i].seq < items[j].seq
	})
	var out []byte
	now := time.Now()
	for _, it := range items {
		out = fmt.Appendf(out, "%s %s %ds %d\n", it.id, sanitizeWord(names[it]), int(now.Sub(it.created).Seconds()), it.attempts)
	}
	return out
}
