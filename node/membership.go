package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/store"
)

// applyMembership applies a membership message from a trusted peer.
func (n *Node) applyMembership(tx *store.Tx, from crypto.PublicKey, alias string, body []byte) (func(), error) {
	var m membership
	if len(body) > 64<<10 || json.Unmarshal(body, &m) != nil || len(m.Members) > maxGroupMembers {
		n.warn("malformed", "bad membership message from "+alias)
		return nil, nil
	}
	id, err := parseGroupID(m.Group)
	if err != nil || id == everyoneID {
		n.warn("malformed", "membership message with a bad group id from "+alias)
		return nil, nil
	}
	var keys []crypto.PublicKey
	for _, s := range m.Members {
		k, err := keyFromHex(s)
		if err != nil || crypto.CheckPublic(k) != nil {
			n.warn("malformed", "membership message with a bad key from "+alias)
			return nil, nil
		}
		keys = append(keys, k)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	g := n.groups[id]
	if g == nil {
		if m.Op != "invite" {
			return nil, nil
		}
		return n.acceptInviteLocked(tx, id, from, alias, m.Name, keys)
	}
	if !g.members[from] {
		n.warn("forged", fmt.Sprintf("%s sent a membership change for %s without being a member", alias, g.name))
		return nil, nil
	}
	var events [][]string
	switch m.Op {
	case "invite", "add":
		for _, k := range keys {
			if k != n.self && !g.members[k] {
				g.members[k] = true
				events = append(events, []string{"join", g.name, n.displayNameLocked(k)})
			}
		}
	case "remove":
		for _, k := range keys {
			if k == n.self {
				return n.removedLocked(tx, g, alias)
			}
			if g.members[k] {
				delete(g.members, k)
				g.rotate = true
				events = append(events, []string{"leave", g.name, n.displayNameLocked(k)})
			}
		}
	case "leave":
		delete(g.members, from)
		g.rotate = true
		events = append(events, []string{"leave", g.name, alias})
	default:
		return nil, nil
	}
	if err := putGroupRecord(tx, g.id, n.recordLocked(g)); err != nil {
		return nil, err
	}
	name := g.name
	return func() {
		for _, e := range events {
			n.emit(e[0], e[1:]...)
		}
		n.changed(Change{Dir: name})
	}, nil
}

// acceptInviteLocked creates a group we were invited to by a trusted peer.
func (n *Node) acceptInviteLocked(tx *store.Tx, id crypto.GroupID, from crypto.PublicKey, alias, name string, keys []crypto.PublicKey) (func(), error) {
	local := n.freeGroupNameLocked(name)
	g := &group{id: id, name: local, members: map[crypto.PublicKey]bool{from: true}, distributed: map[crypto.PublicKey]crypto.ChainID{}}
	for _, k := range keys {
		if k != n.self {
			g.members[k] = true
		}
	}
	if err := putGroupRecord(tx, id, n.recordLocked(g)); err != nil {
		return nil, err
	}
	n.groups[id] = g
	return func() {
		if err := n.mesh.Join(zreGroup(id)); err != nil {
			n.log.Warn("joining ZRE group", "err", err)
		}
		n.emit("invite", local, alias)
		n.changed(Change{Dir: ""})
	}, nil
}

// removedLocked forgets a group we were removed from.
func (n *Node) removedLocked(tx *store.Tx, g *group, by string) (func(), error) {
	if err := n.deleteGroupTx(tx, g); err != nil {
		return nil, err
	}
	delete(n.groups, g.id)
	name := g.name
	return func() {
		_ = n.mesh.Leave(zreGroup(g.id))
		n.emit("leave", name, fromMe)
		n.changed(Change{Dir: ""})
		n.log.Info("removed from group", "group", name, "by", by)
	}, nil
}

func (n *Node) deleteGroupTx(tx *store.Tx, g *group) error {
	hid := hex.EncodeToString(g.id[:])
	if err := tx.DeleteSecret("group/" + hid); err != nil {
		return err
	}
	if err := tx.DeleteSecret("chain/" + hid); err != nil {
		return err
	}
	return tx.DeleteConversation(groupConv(g.id))
}

// freeGroupNameLocked returns name, or name-2, name-3... if it is taken by
// an alias or another group.
func (n *Node) freeGroupNameLocked(name string) string {
	if keyring.ValidAlias(name) != nil {
		name = "group"
	}
	base := name
	for i := 2; ; i++ {
		_, alias := n.keys.Lookup(name)
		if !alias && !n.isGroupNameLocked(name) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
		if len(name) > maxGroupName {
			name = fmt.Sprintf("group-%d", i)
		}
	}
}

// sendMembership sends a membership message to each of to.
func (n *Node) sendMembership(ctx context.Context, to []crypto.PublicKey, m membership) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	for _, k := range to {
		pw, err := n.pairwise(k)
		if err != nil {
			return err
		}
		if _, err := n.enqueue(ctx, pw, crypto.TypeMembership, body, nil, "", ""); err != nil {
			return err
		}
	}
	return nil
}

func hexKeys(keys []crypto.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = hex.EncodeToString(k[:])
	}
	return out
}

// onRevoked removes a revoked key from every group (each group rotates its
// chain before the next send) and from the group messages still waiting
// for it.
func (n *Node) onRevoked(key crypto.PublicKey) {
	n.mu.Lock()
	var pending []*outItem
	for _, it := range n.outbox.groups {
		if it.remaining[key] {
			pending = append(pending, it)
		}
	}
	var changed []*group
	for _, g := range n.groups {
		if g.everyone || g.members[key] {
			delete(g.members, key)
			g.rotate = true
			changed = append(changed, g)
		}
	}
	n.mu.Unlock()
	for _, g := range changed {
		if err := n.saveGroup(context.Background(), g); err != nil {
			n.log.Warn("saving group after a revoke", "err", err)
		}
	}
	// Group messages are no longer relayed to it.
	for _, it := range pending {
		n.dropRecipient(context.Background(), it, key, false)
	}
}
