package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/mesh"
	"github.com/messagefs/messagefs/store"
)

// maxClockSkew is how far in the future a sender's timestamp may be before
// the arrival time is shown instead.
const maxClockSkew = time.Minute

// handleMesh acts on a batch of mesh events, in order; consecutive
// whispers are handled together (see receiveWhispers). It runs on the Run
// goroutine only.
func (n *Node) handleMesh(ctx context.Context, evs []mesh.Event) {
	for len(evs) > 0 {
		i := 0
		for i < len(evs) && evs[i].Type == mesh.EventWhisper {
			i++
		}
		if i > 0 {
			n.receiveWhispers(ctx, evs[:i])
			evs = evs[i:]
			continue
		}
		n.handleEvent(ctx, evs[0])
		evs = evs[1:]
	}
}

// handleEvent acts on one mesh event other than a whisper.
func (n *Node) handleEvent(ctx context.Context, ev mesh.Event) {
	switch ev.Type {
	case mesh.EventEnter:
		n.peerEntered(ev)
	case mesh.EventExit:
		n.peerExited(ev.Peer)
	case mesh.EventShout:
		n.receiveShout(ctx, ev.Peer, ev.Group, ev.Payload)
	case mesh.EventOverflow:
		n.warn("overflow", "the network delivered events faster than the node could take them; senders will retry")
	}
}

// peerEntered records a ZRE peer. The key in its HELLO is a claim: it
// decides where we send (only ciphertext for that key leaves), never what
// we believe.
func (n *Node) peerEntered(ev mesh.Event) {
	keyText, ok := ev.Headers[HeaderKey]
	if !ok {
		n.log.Debug("ZRE peer without messagefs key", "uuid", ev.Peer.String(), "name", ev.Name)
		return
	}
	key, err := crypto.ParseRecipient(keyText)
	if err != nil {
		n.log.Debug("ZRE peer with a bad key header", "uuid", ev.Peer.String(), "err", err)
		return
	}
	if key == n.self {
		n.warn("forged", "a peer announced our own key", "uuid", ev.Peer.String())
		return
	}
	now := time.Now()
	n.mu.Lock()
	p := n.peerLocked(key)
	if p == nil {
		n.mu.Unlock()
		n.log.Debug("too many known peers; ignoring", "uuid", ev.Peer.String())
		return
	}
	wasOffline := n.addRouteLocked(p, ev.Peer, false)
	p.name, p.seen = ev.Name, now
	entry, trusted := n.keys.ByKey(key)
	isNew := false
	if !trusted {
		isNew = n.pending.Note(key, now)
	}
	// Retry everything waiting for this peer right away.
	n.outbox.retryNow(key, now)
	n.mu.Unlock()

	if trusted {
		if wasOffline {
			n.emit("enter", entry.Alias)
		}
		n.wakeOutbox()
	} else if isNew {
		n.emit("pending", key.Fingerprint(), key.String())
		n.changed(Change{Dir: "keys/pending"})
	}
}

func (n *Node) peerExited(uuid mesh.UUID) {
	n.mu.Lock()
	key, known, gone := n.removeRouteLocked(uuid)
	entry, trusted := n.keys.ByKey(key)
	n.mu.Unlock()
	if known && gone && trusted {
		n.emit("exit", entry.Alias)
	}
}

// inbound is an authenticated pairwise message.
type inbound struct {
	from  mesh.UUID
	pw    *crypto.Pairwise
	alias string
	h     crypto.Header
	body  []byte
}

// open authenticates a pairwise envelope: the key it claims must be
// trusted and must open it in its direction to us. The UUID it came from
// becomes that key's first route.
func (n *Node) open(from mesh.UUID, env []byte) (inbound, bool) {
	claimed, err := crypto.PeekSender(env)
	if err != nil {
		n.warn("malformed", "dropped a malformed envelope", "uuid", from.String(), "err", err)
		return inbound{}, false
	}
	if claimed == n.self {
		n.warn("reflected", "refused one of our own messages sent back to us", "uuid", from.String())
		return inbound{}, false
	}
	entry, trusted := n.keys.ByKey(claimed)
	if !trusted {
		n.log.Debug("dropped a message from an untrusted key", "uuid", from.String(), "fingerprint", claimed.Fingerprint())
		return inbound{}, false
	}
	pw, err := n.pairwise(claimed)
	if err != nil {
		n.warn("forged", "cannot open messages from "+entry.Alias, "err", err)
		return inbound{}, false
	}
	h, body, err := pw.Open(env)
	if err != nil {
		n.warn("forged", fmt.Sprintf("a message claiming to be from %s failed authentication", entry.Alias), "uuid", from.String(), "err", err)
		return inbound{}, false
	}
	n.bindUUID(claimed, from)
	return inbound{from: from, pw: pw, alias: entry.Alias, h: h, body: body}, true
}

// receiveWhispers handles a batch of pairwise envelopes: every numbered
// message and every acknowledgement in it is committed in one transaction,
// so a burst costs one fsync, not one per message.
func (n *Node) receiveWhispers(ctx context.Context, evs []mesh.Event) {
	var (
		seqs []*sequenced
		acks []inbound
	)
	for _, ev := range evs {
		in, ok := n.open(ev.Peer, ev.Payload)
		if !ok {
			continue
		}
		switch in.h.Type {
		case crypto.TypeAck:
			if len(in.body) != len(crypto.MessageID{}) {
				n.warn("malformed", "acknowledgement of the wrong size from "+in.alias)
				continue
			}
			acks = append(acks, in)
		case crypto.TypeGroupRelay:
			n.receiveRelay(ctx, in.pw, in.h, in.body)
		case crypto.TypeMessage:
			seqs = append(seqs, n.textMessage(in))
		case crypto.TypeSenderKey:
			seqs = append(seqs, n.senderKeyMessage(in))
		case crypto.TypeMembership:
			seqs = append(seqs, n.membershipMessage(in))
		default:
			n.log.Debug("ignoring a message of unknown type", "from", in.alias, "type", in.h.Type)
		}
	}
	n.commitInbound(ctx, seqs, acks)
}

// sequenced is a numbered message (text, sender key, membership): it is
// applied exactly once and in order per sender, in the transaction that
// records its number.
type sequenced struct {
	in      inbound
	apply   func(tx *store.Tx) error // in the transaction, if new
	after   func()                   // once committed, if new
	verdict crypto.SeqVerdict
}

// commitInbound applies numbered messages and acknowledgements in one
// transaction, then shows what is new and acknowledges what was stored.
// A retransmission is acknowledged again; a message after a gap is dropped
// unacknowledged (the sender retries in order).
func (n *Node) commitInbound(ctx context.Context, seqs []*sequenced, acks []inbound) {
	// Acknowledgements of group messages are per member: see groupAcked.
	type groupAck struct {
		it     *outItem
		member crypto.PublicKey
	}
	var done []*outItem
	var groupAcks []groupAck
	n.mu.Lock()
	for _, a := range acks {
		it, ok := n.outbox.get(crypto.MessageID(a.body))
		switch {
		case !ok: // a duplicate ack
		case it.isGroup:
			groupAcks = append(groupAcks, groupAck{it, a.pw.Peer()})
		case it.to == a.pw.Peer() && !slices.Contains(done, it):
			done = append(done, it)
		}
	}
	n.mu.Unlock()
	for _, g := range groupAcks {
		n.groupAcked(ctx, g.it, g.member)
	}
	if len(seqs) == 0 && len(done) == 0 {
		return
	}
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		for _, s := range seqs {
			key := s.in.pw.Peer()
			keyHex := hex.EncodeToString(key[:])
			s.verdict = crypto.CheckSeq(tx.DeliveredSeq(keyHex), s.in.h.Seq)
			if s.verdict != crypto.SeqNew {
				continue
			}
			if err := s.apply(tx); err != nil {
				return err
			}
			if err := tx.SetDeliveredSeq(keyHex, s.in.h.Seq); err != nil {
				return err
			}
		}
		for _, it := range done {
			if err := tx.DeleteOutbox(it.id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Error("storing received messages; the senders will retry", "err", err)
		return
	}
	for _, s := range seqs {
		switch s.verdict {
		case crypto.SeqGap:
			n.log.Debug("message after a gap; waiting for the missing ones", "from", s.in.alias, "seq", s.in.h.Seq)
			continue
		case crypto.SeqNew:
			s.after()
		case crypto.SeqRetransmit:
			n.log.Debug("retransmission acknowledged again", "from", s.in.alias, "seq", s.in.h.Seq)
		}
		n.sendAck(s.in.pw, s.in.h.ID)
	}
	if len(done) > 0 {
		n.mu.Lock()
		for _, it := range done {
			n.outbox.remove(it.id)
		}
		n.mu.Unlock()
		for _, it := range done {
			n.emit("delivered", it.id.String())
		}
		n.wakeOutbox() // the send window moved
	}
}

// bindUUID makes uuid the first route of key after a message
// authenticated with key came from it.
func (n *Node) bindUUID(key crypto.PublicKey, uuid mesh.UUID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.peerLocked(key); p != nil {
		n.addRouteLocked(p, uuid, true)
	}
}

// textMessage stores a text message in the conversation with its sender.
func (n *Node) textMessage(in inbound) *sequenced {
	conv := peerConv(in.pw.Peer())
	shown := in.h.Time
	if now := time.Now(); shown.After(now.Add(maxClockSkew)) || shown.IsZero() {
		shown = now
	}
	entry := store.Entry{Time: shown, From: in.alias, Text: in.body, ID: in.h.ID}
	var index uint64
	return &sequenced{in: in,
		apply: func(tx *store.Tx) error {
			index = 0
			if tx.HasID(conv, in.h.ID) {
				return nil // the same message under a new number
			}
			var err error
			index, err = tx.Append(conv, entry)
			return err
		},
		after: func() {
			if index == 0 {
				return
			}
			n.mu.Lock()
			n.appendLocked(conv, index, entry)
			n.mu.Unlock()
			n.changed(Change{Where: in.alias})
			n.emit("msg", in.alias, in.alias, string(in.body))
		},
	}
}

// senderKeyMessage stores another member's group chain.
func (n *Node) senderKeyMessage(in inbound) *sequenced {
	var after func()
	return &sequenced{in: in,
		apply: func(tx *store.Tx) error {
			var err error
			after, err = n.applySenderKey(tx, in.pw.Peer(), in.alias, in.body)
			return err
		},
		after: func() {
			if after != nil {
				after()
			}
		},
	}
}

// membershipMessage applies a group membership change.
func (n *Node) membershipMessage(in inbound) *sequenced {
	var after func()
	return &sequenced{in: in,
		apply: func(tx *store.Tx) error {
			var err error
			after, err = n.applyMembership(tx, in.pw.Peer(), in.alias, in.body)
			return err
		},
		after: func() {
			if after != nil {
				after()
			}
		},
	}
}

// sendAck acknowledges message id. Acks are not numbered and not stored:
// a lost ack makes the sender retry, and the retry is acknowledged again.
func (n *Node) sendAck(pw *crypto.Pairwise, id crypto.MessageID) {
	ackID, err := newID()
	if err != nil {
		n.log.Error("acknowledging", "err", err)
		return
	}
	env, err := pw.Seal(rand.Reader, crypto.Header{Type: crypto.TypeAck, ID: ackID, Time: time.Now()}, id[:])
	if err != nil {
		n.log.Error("sealing acknowledgement", "err", err)
		return
	}
	n.sendTo(pw.Peer(), env)
}

// sendTo whispers env to every route of key; it is lost if there is none
// (numbered messages are retried by the outbox, acks by the sender's retry).
func (n *Node) sendTo(key crypto.PublicKey, env []byte) {
	n.mu.Lock()
	var routes []mesh.UUID
	if p := n.peers[key]; p != nil {
		routes = slices.Clone(p.routes)
	}
	n.mu.Unlock()
	for _, uuid := range routes {
		if err := n.mesh.Whisper(uuid, env); err != nil {
			n.log.Debug("whisper failed", "uuid", uuid.Short(), "err", err)
		}
	}
}
