package node

import (
	"fmt"
	"sort"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/mesh"
)

// maxKnownPeers bounds how many keys the node remembers from HELLOs, so a
// flood of announced keys cannot grow memory without bound. Trusted keys
// are always kept.
const maxKnownPeers = 512

// peer is what the node knows about one key.
type peer struct {
	key           crypto.PublicKey
	uuid          mesh.UUID // current transport: a HELLO hint until authenticated
	name          string    // ZRE name, a hint
	online        bool
	authenticated bool // a message authenticated with key came from uuid
	seen          time.Time
	pw            *crypto.Pairwise // precomputed direction keys, trusted keys only
}

// peerLocked returns the record of key, creating it if there is room.
// Called with n.mu held.
func (n *Node) peerLocked(key crypto.PublicKey) *peer {
	if p := n.peers[key]; p != nil {
		return p
	}
	if len(n.peers) >= maxKnownPeers {
		n.evictPeerLocked()
		if len(n.peers) >= maxKnownPeers {
			return nil
		}
	}
	p := &peer{key: key}
	n.peers[key] = p
	return p
}

// evictPeerLocked forgets the longest-unseen offline untrusted key.
func (n *Node) evictPeerLocked() {
	var victim *peer
	for _, p := range n.peers {
		if p.online {
			continue
		}
		if _, trusted := n.keys.ByKey(p.key); trusted {
			continue
		}
		if victim == nil || p.seen.Before(victim.seen) {
			victim = p
		}
	}
	if victim != nil {
		delete(n.peers, victim.key)
	}
}

// pairwise returns the cached pairwise channel with a trusted key.
func (n *Node) pairwise(key crypto.PublicKey) (*crypto.Pairwise, error) {
	n.mu.Lock()
	p := n.peerLocked(key)
	if p != nil && p.pw != nil {
		pw := p.pw
		n.mu.Unlock()
		return pw, nil
	}
	n.mu.Unlock()
	pw, err := crypto.NewPairwise(n.cfg.Identity, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	n.mu.Lock()
	if p := n.peerLocked(key); p != nil {
		p.pw = pw
	}
	n.mu.Unlock()
	return pw, nil
}

// displayNameLocked is the alias of a trusted key, or its fingerprint.
func (n *Node) displayNameLocked(key crypto.PublicKey) string {
	if e, ok := n.keys.ByKey(key); ok {
		return e.Alias
	}
	return key.Fingerprint()
}

// PeersText renders .peers: one line per known peer with its alias (or -),
// ZRE name prefix, state and key fingerprint, trusted peers first.
func (n *Node) PeersText() []byte {
	type row struct{ alias, uuid, state, fpr string }
	var rows []row
	n.mu.Lock()
	seen := make(map[crypto.PublicKey]bool)
	for _, e := range n.keys.List() {
		seen[e.Key] = true
		r := row{alias: e.Alias, uuid: "-", state: "offline", fpr: e.Key.Fingerprint()}
		if p := n.peers[e.Key]; p != nil && p.online {
			r.uuid, r.state = p.uuid.Short(), "online"
		}
		rows = append(rows, r)
	}
	var others []row
	for key, p := range n.peers {
		if seen[key] || !p.online {
			continue
		}
		others = append(others, row{alias: "-", uuid: p.uuid.Short(), state: "pending", fpr: key.Fingerprint()})
	}
	n.mu.Unlock()
	sort.Slice(others, func(i, j int) bool { return others[i].fpr < others[j].fpr })
	var out []byte
	for _, r := range append(rows, others...) {
		out = fmt.Appendf(out, "%s %s %s %s\n", sanitizeWord(r.alias), r.uuid, r.state, r.fpr)
	}
	return out
}
