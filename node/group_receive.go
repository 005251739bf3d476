package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/mesh"
	"github.com/messagefs/messagefs/store"
)

// receiveShout handles a group message shouted to a ZRE group.
func (n *Node) receiveShout(ctx context.Context, from mesh.UUID, zgroup string, payload []byte) {
	n.receiveGroupMessage(ctx, payload, false)
}

// receiveGroupMessage opens a group message (shouted, or relayed pairwise)
// with the sender's chain, stores it once and acknowledges it pairwise to
// its owner.
func (n *Node) receiveGroupMessage(ctx context.Context, msg []byte, relay bool) {
	h, err := crypto.ParseGroupHeader(msg)
	if err != nil {
		n.warn("malformed", "dropped a malformed group message", "err", err)
		return
	}
	n.mu.Lock()
	g := n.groups[h.Group]
	rc := n.rchains[h.Chain]
	if g == nil {
		n.mu.Unlock()
		return // a group we are not in: ciphertext for others
	}
	if rc == nil {
		n.holdLocked(msg, relay)
		n.mu.Unlock()
		return
	}
	owner := rc.rc.Owner()
	member := n.isMemberLocked(g, owner)
	alias := n.displayNameLocked(owner)
	n.mu.Unlock()
	if rc.rc.Group() != h.Group {
		n.warn("forged", "group message names another group than its chain", "group", g.where())
		return
	}
	if !member {
		n.warn("forged", fmt.Sprintf("group message in %s from %s, who is not a member", g.where(), alias))
		return
	}
	c, err := cloneReceiver(rc.rc)
	if err != nil {
		n.log.Error("copying a receiving chain", "err", err)
		return
	}
	plain, err := c.Open(msg)
	if errors.Is(err, crypto.ErrReplay) {
		if relay {
			return // receiveRelay acknowledged it again
		}
		n.warn("replay", fmt.Sprintf("refused a replayed group message in %s from %s", g.where(), alias))
		return
	}
	if err != nil {
		n.warn("forged", fmt.Sprintf("refused a group message in %s claiming to be from %s", g.where(), alias), "err", err)
		return
	}
	if len(plain) < 24 {
		n.warn("malformed", "group message too short from "+alias)
		return
	}
	id := crypto.MessageID(plain[:16])
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(plain[16:24])))
	text := plain[24:]
	if now := time.Now(); sent.After(now.Add(maxClockSkew)) || sent.Before(time.Unix(0, 0)) {
		sent = now
	}
	conv := groupConv(g.id)
	entry := store.Entry{Time: sent, From: alias, Text: text, ID: id}
	state, err := marshalRChain(c, time.Time{})
	if err != nil {
		n.log.Error("saving a receiving chain", "err", err)
		return
	}
	var index uint64
	err = n.db.Update(ctx, func(tx *store.Tx) error {
		index = 0
		if err := tx.PutSecret("rchain/"+hex.EncodeToString(h.Chain[:]), state); err != nil {
			return err
		}
		if tx.HasID(conv, id) {
			return nil
		}
		var err error
		index, err = tx.Append(conv, entry)
		return err
	})
	if err != nil {
		n.log.Error("storing a group message; it will be relayed again", "err", err)
		return
	}
	n.mu.Lock()
	rc.rc = c
	if index > 0 {
		n.appendLocked(conv, index, entry)
	}
	n.mu.Unlock()
	if index > 0 {
		n.changed(Change{Where: g.where()})
		n.emit("msg", g.where(), alias, string(text))
	}
	if pw, err := n.pairwise(owner); err == nil {
		n.sendAck(pw, id)
	}
}

func cloneReceiver(r *crypto.ReceiverChain) (*crypto.ReceiverChain, error) {
	b, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := new(crypto.ReceiverChain)
	return out, out.UnmarshalBinary(b)
}

func marshalRChain(r *crypto.ReceiverChain, superseded time.Time) ([]byte, error) {
	b, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var ns int64
	if !superseded.IsZero() {
		ns = superseded.UnixNano()
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(ns)), b...), nil
}

// holdLocked keeps a group message whose chain is not known yet. It is
// not acknowledged, so the owner relays it if it is dropped here.
func (n *Node) holdLocked(msg []byte, relay bool) {
	if len(n.held) >= maxHeld {
		n.held = n.held[1:]
	}
	n.held = append(n.held, heldMsg{msg: append([]byte(nil), msg...), relay: relay, at: time.Now()})
}

// releaseHeld reopens held messages of chain id.
func (n *Node) releaseHeld(ctx context.Context, id crypto.ChainID) {
	n.mu.Lock()
	var ready []heldMsg
	kept := n.held[:0]
	for _, h := range n.held {
		gh, err := crypto.ParseGroupHeader(h.msg)
		if err == nil && gh.Chain == id {
			ready = append(ready, h)
		} else {
			kept = append(kept, h)
		}
	}
	n.held = kept
	n.mu.Unlock()
	for _, h := range ready {
		n.receiveGroupMessage(ctx, h.msg, h.relay)
	}
}

// receiveRelay handles a group message relayed pairwise by its owner.
func (n *Node) receiveRelay(ctx context.Context, pw *crypto.Pairwise, h crypto.Header, body []byte) {
	gh, err := crypto.ParseGroupHeader(body)
	if err != nil {
		n.warn("malformed", "dropped a malformed relayed group message", "err", err)
		return
	}
	n.mu.Lock()
	rc := n.rchains[gh.Chain]
	n.mu.Unlock()
	if rc != nil && rc.rc.Owner() != pw.Peer() {
		n.warn("forged", "a peer relayed a group message of another member's chain")
		return
	}
	if rc != nil {
		c, err := cloneReceiver(rc.rc)
		if err == nil {
			if _, err := c.Open(body); errors.Is(err, crypto.ErrReplay) {
				// Already stored: our acknowledgement was lost.
				n.sendAck(pw, h.ID)
				return
			}
		}
	}
	n.receiveGroupMessage(ctx, body, true)
}

// applySenderKey stores another member's chain. A chain we already have
// is kept as it is (a duplicate must not reset what was consumed).
func (n *Node) applySenderKey(tx *store.Tx, from crypto.PublicKey, alias string, body []byte) (func(), error) {
	d, err := crypto.ParseSenderKeyDistribution(body)
	if err != nil {
		n.warn("malformed", "bad sender key from "+alias, "err", err)
		return nil, nil
	}
	if err := d.Verify(from); err != nil {
		n.warn("forged", "sender key from "+alias+" is not its own", "err", err)
		return nil, nil
	}
	n.mu.Lock()
	g := n.groups[d.Group]
	_, have := n.rchains[d.Chain]
	member := g != nil && n.isMemberLocked(g, from)
	n.mu.Unlock()
	if have {
		return nil, nil
	}
	if !member {
		n.log.Debug("ignoring a sender key for a group the sender is not in with us", "from", alias)
		return nil, nil
	}
	rc, err := crypto.NewReceiverChain(d, crypto.ReceiverOptions{})
	if err != nil {
		n.warn("malformed", "bad sender key from "+alias, "err", err)
		return nil, nil
	}
	state, err := marshalRChain(rc, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := tx.PutSecret("rchain/"+hex.EncodeToString(d.Chain[:]), state); err != nil {
		return nil, err
	}
	return func() {
		n.mu.Lock()
		n.rchains[d.Chain] = &rchain{rc: rc}
		n.mu.Unlock()
		n.supersede(from, d.Group, d.Chain)
		n.releaseHeld(context.Background(), d.Chain)
	}, nil
}

// supersede marks the older chains of owner in group as superseded: they
// still open messages in flight for chainGrace, then purgeChains deletes
// them.
func (n *Node) supersede(owner crypto.PublicKey, group crypto.GroupID, current crypto.ChainID) {
	now := time.Now()
	states := make(map[crypto.ChainID][]byte)
	n.mu.Lock()
	for id, old := range n.rchains {
		if id == current || old.rc.Owner() != owner || old.rc.Group() != group || !old.superseded.IsZero() {
			continue
		}
		old.superseded = now
		if b, err := marshalRChain(old.rc, now); err == nil {
			states[id] = b
		}
	}
	n.mu.Unlock()
	if len(states) == 0 {
		return
	}
	err := n.db.Update(context.Background(), func(tx *store.Tx) error {
		for id, b := range states {
			if err := tx.PutSecret("rchain/"+hex.EncodeToString(id[:]), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("marking superseded chains", "err", err)
	}
}

// purgeChains deletes receiving chains superseded more than chainGrace ago
// and receiving chains of groups we are no longer in.
func (n *Node) purgeChains(ctx context.Context) {
	now := time.Now()
	var dead []crypto.ChainID
	n.mu.Lock()
	for id, rc := range n.rchains {
		if (!rc.superseded.IsZero() && now.Sub(rc.superseded) > chainGrace) || n.groups[rc.rc.Group()] == nil {
			dead = append(dead, id)
		}
	}
	n.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		for _, id := range dead {
			if err := tx.DeleteSecret("rchain/" + hex.EncodeToString(id[:])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("deleting old receiving chains", "err", err)
		return
	}
	n.mu.Lock()
	for _, id := range dead {
		delete(n.rchains, id)
	}
	n.mu.Unlock()
	// bbolt keeps freed pages: rewrite the file so the old chain keys are
	// really gone (forward secrecy for the group messages they opened).
	if err := n.db.Compact(ctx); err != nil {
		n.log.Warn("compacting after deleting old chains", "err", err)
	}
}
