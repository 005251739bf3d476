package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/store"
)

// Groups returns the names of the groups this node is a member of.
func (n *Node) Groups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, g := range n.groups {
		if !g.everyone {
			out = append(out, g.name)
		}
	}
	sort.Strings(out)
	return out
}

// GroupMembers returns the aliases of a group's trusted members.
func (n *Node) GroupMembers(name string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range g.members {
		if e, ok := n.keys.ByKey(k); ok {
			out = append(out, e.Alias)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CreateGroup creates a group with this node as its only member.
func (n *Node) CreateGroup(name string) error {
	if err := keyring.ValidAlias(name); err != nil {
		return fmt.Errorf("%w: group name: %w", ErrInvalid, err)
	}
	n.mu.Lock()
	if _, ok := n.keys.Lookup(name); ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q is a trusted peer's alias", ErrExists, name)
	}
	if n.isGroupNameLocked(name) {
		n.mu.Unlock()
		return fmt.Errorf("%w: group %q exists", ErrExists, name)
	}
	var id crypto.GroupID
	if _, err := rand.Read(id[:]); err != nil {
		n.mu.Unlock()
		return err
	}
	g := &group{id: id, name: name, members: map[crypto.PublicKey]bool{}, distributed: map[crypto.PublicKey]crypto.ChainID{}}
	rec := n.recordLocked(g)
	n.mu.Unlock()
	if err := n.db.Update(context.Background(), func(tx *store.Tx) error { return putGroupRecord(tx, id, rec) }); err != nil {
		return fmt.Errorf("creating group: %w", err)
	}
	n.mu.Lock()
	n.groups[id] = g
	n.mu.Unlock()
	if err := n.mesh.Join(zreGroup(id)); err != nil {
		n.log.Warn("joining ZRE group", "err", err)
	}
	n.changed(Change{Dir: ""})
	return nil
}

// AddMember adds trusted peer alias to a group: the other members are
// told, and the new member gets an invitation with the member list.
func (n *Node) AddMember(name, alias string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, e, err := n.groupPeerLocked(name, alias)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	if g.members[e.Key] {
		n.mu.Unlock()
		return nil
	}
	others := n.membersLocked(g)
	g.members[e.Key] = true
	all := append(append([]crypto.PublicKey{}, others...), n.self)
	n.mu.Unlock()
	if err := n.saveGroup(ctx, g); err != nil {
		return err
	}
	gid := hex.EncodeToString(g.id[:])
	if err := n.sendMembership(ctx, others, membership{Op: "add", Group: gid, Members: hexKeys([]crypto.PublicKey{e.Key})}); err != nil {
		return err
	}
	if err := n.sendMembership(ctx, []crypto.PublicKey{e.Key}, membership{Op: "invite", Group: gid, Name: name, Members: hexKeys(all)}); err != nil {
		return err
	}
	n.emit("join", name, alias)
	n.changed(Change{Dir: name})
	return nil
}

// groupPeerLocked looks up group name and trusted peer alias for a
// membership change. Called with n.mu held.
func (n *Node) groupPeerLocked(name, alias string) (*group, keyring.Entry, error) {
	g, err := n.groupByNameLocked(name)
	if err != nil {
		return nil, keyring.Entry{}, err
	}
	e, ok := n.keys.Lookup(alias)
	if !ok {
		return nil, keyring.Entry{}, fmt.Errorf("%w: %q is not a trusted peer: add its key to keys/ first", ErrNotFound, alias)
	}
	return g, e, nil
}

// RemoveMember removes alias from a group. Everyone left is told, so is
// the removed member, and our chain is rotated before the next send.
func (n *Node) RemoveMember(name, alias string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, e, err := n.groupPeerLocked(name, alias)
	if err == nil && !g.members[e.Key] {
		err = fmt.Errorf("%w: %q is not a member of %s", ErrNotFound, alias, name)
	}
	if err != nil {
		n.mu.Unlock()
		return err
	}
	delete(g.members, e.Key)
	g.rotate = true
	rest := n.membersLocked(g)
	n.mu.Unlock()
	if err := n.saveGroup(ctx, g); err != nil {
		return err
	}
	gid := hex.EncodeToString(g.id[:])
	to := append(rest, e.Key)
	if err := n.sendMembership(ctx, to, membership{Op: "remove", Group: gid, Members: hexKeys([]crypto.PublicKey{e.Key})}); err != nil {
		return err
	}
	n.emit("leave", name, alias)
	n.changed(Change{Dir: name})
	return nil
}

// LeaveGroup leaves a group: the members are told, and its history and
// keys are deleted here.
func (n *Node) LeaveGroup(name string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	members := n.membersLocked(g)
	n.mu.Unlock()
	if err := n.sendMembership(ctx, members, membership{Op: "leave", Group: hex.EncodeToString(g.id[:])}); err != nil {
		return err
	}
	if err := n.db.Update(ctx, func(tx *store.Tx) error { return n.deleteGroupTx(tx, g) }); err != nil {
		return fmt.Errorf("leaving group: %w", err)
	}
	n.mu.Lock()
	delete(n.groups, g.id)
	n.dropLogLocked(groupConv(g.id))
	n.mu.Unlock()
	_ = n.mesh.Leave(zreGroup(g.id))
	n.emit("leave", name, fromMe)
	n.changed(Change{Dir: ""})
	return nil
}
