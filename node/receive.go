package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// handleMesh acts on one mesh event. It runs on the Run goroutine only.
func (n *Node) handleMesh(ctx context.Context, ev mesh.Event) {
	switch ev.Type {
	case mesh.EventEnter:
		n.peerEntered(ev)
	case mesh.EventExit:
		n.peerExited(ev.Peer)
	case mesh.EventWhisper:
		n.receive(ctx, ev.Peer, ev.Payload)
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
	for _, it := range n.outbox {
		if it.to == key {
			it.nextTry = now
		}
	}
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

// receive opens a pairwise envelope and acts on it.
func (n *Node) receive(ctx context.Context, from mesh.UUID, env []byte) {
	claimed, err := crypto.PeekSender(env)
	if err != nil {
		n.warn("malformed", "dropped a malformed envelope", "uuid", from.String(), "err", err)
		return
	}
	n.mu.Lock()
	entry, trusted := n.keys.ByKey(claimed)
	n.mu.Unlock()
	if !trusted {
		n.log.Debug("dropped a message from an untrusted key", "uuid", from.String(), "fingerprint", claimed.Fingerprint())
		return
	}
	pw, err := n.pairwise(claimed)
	if err != nil {
		n.warn("forged", "cannot open messages from "+entry.Alias, "err", err)
		return
	}
	h, body, err := pw.Open(env)
	if err != nil {
		n.warn("forged", fmt.Sprintf("a message claiming to be from %s failed authentication", entry.Alias), "uuid", from.String(), "err", err)
		return
	}
	// Authenticated: this UUID speaks for the key now.
	n.bindUUID(claimed, from)

	switch h.Type {
	case crypto.TypeMessage:
		n.receiveMessage(ctx, pw, entry.Alias, h, body)
	case crypto.TypeAck:
		if len(body) != len(crypto.MessageID{}) {
			n.warn("malformed", "acknowledgement of the wrong size from "+entry.Alias)
			return
		}
		n.acked(ctx, claimed, crypto.MessageID(body))
	default:
		n.receiveControl(ctx, pw, entry.Alias, h, body)
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

// receiveMessage stores a numbered text message exactly once and in order,
// then acknowledges it.
func (n *Node) receiveMessage(ctx context.Context, pw *crypto.Pairwise, alias string, h crypto.Header, body []byte) {
	conv := peerConv(pw.Peer())
	shown := h.Time
	if now := time.Now(); shown.After(now.Add(maxClockSkew)) || shown.IsZero() {
		shown = now
	}
	entry := store.Entry{Time: shown, From: alias, Text: body, ID: h.ID}
	var index uint64
	n.receiveSequenced(ctx, pw, alias, h, func(tx *store.Tx) error {
		index = 0
		if tx.HasID(conv, h.ID) {
			return nil // the same message under a new number
		}
		var err error
		index, err = tx.Append(conv, entry)
		return err
	}, func() {
		if index == 0 {
			return
		}
		n.mu.Lock()
		n.appendLocked(conv, index, entry)
		n.mu.Unlock()
		n.changed(Change{Where: alias})
		n.emit("msg", alias, alias, string(body))
	})
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

// receiveControl applies a numbered control message (membership, sender
// key) exactly once, in order, like a text message.
func (n *Node) receiveControl(ctx context.Context, pw *crypto.Pairwise, alias string, h crypto.Header, body []byte) {
	switch h.Type {
	case crypto.TypeGroupRelay:
		n.receiveRelay(ctx, pw, h, body)
	case crypto.TypeSenderKey:
		var after func()
		n.receiveSequenced(ctx, pw, alias, h, func(tx *store.Tx) error {
			var err error
			after, err = n.applySenderKey(tx, pw.Peer(), alias, body)
			return err
		}, func() {
			if after != nil {
				after()
			}
		})
	case crypto.TypeMembership:
		var after func()
		n.receiveSequenced(ctx, pw, alias, h, func(tx *store.Tx) error {
			var err error
			after, err = n.applyMembership(tx, pw.Peer(), alias, body)
			return err
		}, func() {
			if after != nil {
				after()
			}
		})
	default:
		n.log.Debug("ignoring a message of unknown type", "from", alias, "type", h.Type)
	}
}

// receiveSequenced applies a numbered message exactly once and in order:
// apply runs in the transaction that records the sequence number, after
// runs once it committed. Retransmissions are acknowledged again; a gap is
// dropped unacknowledged (the sender retries in order).
func (n *Node) receiveSequenced(ctx context.Context, pw *crypto.Pairwise, alias string, h crypto.Header, apply func(tx *store.Tx) error, after func()) {
	key := pw.Peer()
	keyHex := hex.EncodeToString(key[:])
	var verdict crypto.SeqVerdict
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		verdict = crypto.CheckSeq(tx.DeliveredSeq(keyHex), h.Seq)
		if verdict != crypto.SeqNew {
			return nil
		}
		if err := apply(tx); err != nil {
			return err
		}
		return tx.SetDeliveredSeq(keyHex, h.Seq)
	})
	if err != nil {
		n.log.Error("storing a received message; the sender will retry", "from", alias, "err", err)
		return
	}
	switch verdict {
	case crypto.SeqGap:
		n.log.Debug("message after a gap; waiting for the missing ones", "from", alias, "seq", h.Seq)
		return
	case crypto.SeqNew:
		after()
	}
	n.sendAck(pw, h.ID)
}
