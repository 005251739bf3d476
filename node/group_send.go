package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/store"
)

// sendGroup sends text to a group log with our sending chain.
func (n *Node) sendGroup(ctx context.Context, where, text string) error {
	n.mu.Lock()
	g, err := n.groupByWhereLocked(where)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	g.sendMu.Lock()
	defer g.sendMu.Unlock()

	if err := n.prepareChain(ctx, g); err != nil {
		return err
	}
	n.mu.Lock()
	members := n.membersLocked(g)
	n.mu.Unlock()

	id, err := newID()
	if err != nil {
		return err
	}
	now := time.Now()
	plain := make([]byte, 0, 24+len(text))
	plain = append(plain, id[:]...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(now.UnixNano()))
	plain = append(plain, text...)

	conv := groupConv(g.id)
	entry := store.Entry{Time: now, From: fromMe, Text: []byte(text), ID: id}
	var (
		next  *crypto.SenderChain
		msg   []byte
		index uint64
	)
	err = n.db.Update(ctx, func(tx *store.Tx) error {
		c, err := cloneSender(g.chain)
		if err != nil {
			return err
		}
		m, err := c.Seal(rand.Reader, plain)
		if err != nil {
			return err
		}
		state, err := c.MarshalBinary()
		if err != nil {
			return err
		}
		if err := tx.PutSecret("chain/"+hex.EncodeToString(g.id[:]), state); err != nil {
			return err
		}
		if index, err = tx.Append(conv, entry); err != nil {
			return err
		}
		if len(members) > 0 {
			err = tx.PutOutbox(store.OutboxItem{
				ID: id, To: "g:" + hex.EncodeToString(g.id[:]), Conv: conv,
				Payload: encodeGroupOut(members, m), Created: now, Kind: uint8(crypto.TypeGroupRelay),
			})
			if err != nil {
				return err
			}
		}
		next, msg = c, m
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing group message: %w", err)
	}
	g.chain = next
	n.mu.Lock()
	if len(members) > 0 {
		n.outbox.add(&outItem{
			id: id, group: g.id, isGroup: true, env: msg, created: now,
			remaining: setOf(members), nextTry: now.Add(2 * n.cfg.RetryMin),
		})
	}
	n.appendLocked(conv, index, entry)
	n.mu.Unlock()
	n.changed(Change{Where: where})
	n.emit("msg", where, fromMe, text)
	if len(members) > 0 {
		if err := n.mesh.Shout(zreGroup(g.id), msg); err != nil {
			n.log.Debug("shout failed; members get it by relay", "err", err)
		}
	}
	return nil
}

func setOf(keys []crypto.PublicKey) map[crypto.PublicKey]bool {
	m := make(map[crypto.PublicKey]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func cloneSender(c *crypto.SenderChain) (*crypto.SenderChain, error) {
	b, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := new(crypto.SenderChain)
	return out, out.UnmarshalBinary(b)
}

// prepareChain makes sure g has a current sending chain and that every
// member has been sent it. Called with g.sendMu held.
func (n *Node) prepareChain(ctx context.Context, g *group) error {
	now := time.Now()
	periodic := g.chain != nil && (g.chain.Iteration() >= n.cfg.RotateAfterMessages ||
		now.Sub(g.chainAt) >= n.cfg.RotateAfter) && now.Sub(g.chainAt) >= n.cfg.RotateMinInterval
	if g.chain == nil || g.rotate || periodic {
		c, err := crypto.NewSenderChain(rand.Reader, g.id, n.self)
		if err != nil {
			return err
		}
		state, err := c.MarshalBinary()
		if err != nil {
			return err
		}
		n.mu.Lock()
		g.rotate = false
		g.chainAt = now
		g.distributed = map[crypto.PublicKey]crypto.ChainID{}
		rec := n.recordLocked(g)
		n.mu.Unlock()
		err = n.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.PutSecret("chain/"+hex.EncodeToString(g.id[:]), state); err != nil {
				return err
			}
			return putGroupRecord(tx, g.id, rec)
		})
		if err != nil {
			return fmt.Errorf("storing a new sending chain: %w", err)
		}
		g.chain = c
		n.log.Info("rotated sending chain", "group", g.where())
	}
	n.mu.Lock()
	members := n.membersLocked(g)
	var todo []crypto.PublicKey
	for _, m := range members {
		if g.distributed[m] != g.chain.ID() {
			todo = append(todo, m)
		}
	}
	n.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	dist, err := g.chain.Distribution().MarshalBinary()
	if err != nil {
		return err
	}
	for _, m := range todo {
		pw, err := n.pairwise(m)
		if err != nil {
			return err
		}
		if _, err := n.enqueue(ctx, pw, crypto.TypeSenderKey, dist, nil, "", ""); err != nil {
			return err
		}
		n.mu.Lock()
		g.distributed[m] = g.chain.ID()
		n.mu.Unlock()
	}
	return n.saveGroup(ctx, g)
}

// encodeGroupOut stores the members still to acknowledge with the group
// message, as one outbox payload.
func encodeGroupOut(remaining []crypto.PublicKey, msg []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(remaining)))
	for _, k := range remaining {
		out = append(out, k[:]...)
	}
	return append(out, msg...)
}

func decodeGroupOut(p []byte) ([]crypto.PublicKey, []byte, error) {
	if len(p) < 2 {
		return nil, nil, errors.New("short group outbox item")
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if len(p) < n*crypto.KeySize {
		return nil, nil, errors.New("truncated group outbox item")
	}
	keys := make([]crypto.PublicKey, n)
	for i := range keys {
		copy(keys[i][:], p[i*crypto.KeySize:])
	}
	return keys, p[n*crypto.KeySize:], nil
}

// groupAcked records that member acknowledged group message it.
func (n *Node) groupAcked(ctx context.Context, it *outItem, member crypto.PublicKey) {
	n.dropRecipient(ctx, it, member, true)
}

// dropRecipient removes member from the members group message it still
// goes to: it acknowledged the message (acked), or it was revoked. When
// nobody is left the message leaves the outbox, with a delivered event if
// the last one acknowledged it.
func (n *Node) dropRecipient(ctx context.Context, it *outItem, member crypto.PublicKey, acked bool) {
	n.mu.Lock()
	if !it.remaining[member] {
		n.mu.Unlock()
		return
	}
	delete(it.remaining, member)
	var rest []crypto.PublicKey
	for k := range it.remaining {
		rest = append(rest, k)
	}
	n.mu.Unlock()
	sort.Slice(rest, func(i, j int) bool { return string(rest[i][:]) < string(rest[j][:]) })
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		if len(rest) == 0 {
			return tx.DeleteOutbox(it.id)
		}
		item, ok, err := tx.GetOutbox(it.id)
		if err != nil || !ok {
			return err
		}
		item.Payload = encodeGroupOut(rest, it.env)
		return tx.UpdateOutbox(item)
	})
	if err != nil {
		n.log.Warn("recording a group acknowledgement", "err", err)
		return
	}
	if len(rest) == 0 {
		n.mu.Lock()
		n.outbox.remove(it.id)
		n.mu.Unlock()
		if acked {
			n.emit("delivered", it.id.String())
		}
	}
}
