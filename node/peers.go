package node

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/mesh"
)

// maxKnownPeers bounds how many keys the node remembers from HELLOs, so a
// flood of announced keys cannot grow memory without bound. Trusted keys
// are always kept.
const maxKnownPeers = 512

// maxRoutes bounds how many ZRE peers may claim one key at a time.
const maxRoutes = 4

// peer is what the node knows about one key.
type peer struct {
	key crypto.PublicKey
	// routes are the ZRE peers that claim this key in their HELLO, the one
	// that last sent a message authenticated with the key first. Messages
	// for the key go to all of them: only ciphertext leaves, only the real
	// owner can acknowledge, and a node that merely claims the key cannot
	// divert the traffic from the real one.
	routes []mesh.UUID
	// auth is the route that last sent a message authenticated with the
	// key (zero if none): it is never the one forgotten for room.
	auth mesh.UUID
	name string // ZRE name, a hint
	seen time.Time
	pw   *crypto.Pairwise // precomputed direction keys
}

// online reports whether some ZRE peer claims the key now.
func (p *peer) online() bool { return len(p.routes) > 0 }

// addRouteLocked records that uuid claims p's key; authenticated puts it
// first. It reports whether p was offline before. Called with n.mu held.
func (n *Node) addRouteLocked(p *peer, uuid mesh.UUID, authenticated bool) (wasOffline bool) {
	wasOffline = !p.online()
	if old, ok := n.byUUID[uuid]; ok && old != p.key {
		if q := n.peers[old]; q != nil {
			q.routes = slices.DeleteFunc(q.routes, func(u mesh.UUID) bool { return u == uuid })
		}
	}
	n.byUUID[uuid] = p.key
	if authenticated {
		p.auth = uuid
		p.routes = slices.DeleteFunc(p.routes, func(u mesh.UUID) bool { return u == uuid })
		p.routes = slices.Insert(p.routes, 0, uuid)
	} else if !slices.Contains(p.routes, uuid) {
		p.routes = append(p.routes, uuid)
	}
	if len(p.routes) > maxRoutes {
		// Forget the oldest claim that is not the authenticated route:
		// claims arrive in order, so the newest (a restarted node's) stays.
		i := slices.IndexFunc(p.routes, func(u mesh.UUID) bool { return u != p.auth })
		delete(n.byUUID, p.routes[i])
		p.routes = slices.Delete(p.routes, i, i+1)
	}
	return wasOffline
}

// removeRouteLocked forgets uuid. It returns the key it claimed and
// whether that key has no route left. Called with n.mu held.
func (n *Node) removeRouteLocked(uuid mesh.UUID) (crypto.PublicKey, bool, bool) {
	key, ok := n.byUUID[uuid]
	if !ok {
		return key, false, false
	}
	delete(n.byUUID, uuid)
	p := n.peers[key]
	if p == nil {
		return key, false, false
	}
	p.routes = slices.DeleteFunc(p.routes, func(u mesh.UUID) bool { return u == uuid })
	if p.auth == uuid {
		p.auth = mesh.UUID{}
	}
	return key, true, !p.online()
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
		if p.online() {
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
		if p := n.peers[e.Key]; p != nil && p.online() {
			r.uuid, r.state = p.routes[0].Short(), "online"
		}
		rows = append(rows, r)
	}
	var others []row
	for key, p := range n.peers {
		if seen[key] || !p.online() {
			continue
		}
		others = append(others, row{alias: "-", uuid: p.routes[0].Short(), state: "pending", fpr: key.Fingerprint()})
	}
	n.mu.Unlock()
	sort.Slice(others, func(i, j int) bool { return others[i].fpr < others[j].fpr })
	var out []byte
	for _, r := range append(rows, others...) {
		out = fmt.Appendf(out, "%s %s %s %s\n", sanitizeWord(r.alias), r.uuid, r.state, r.fpr)
	}
	return out
}
