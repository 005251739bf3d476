package mesh

import (
	"fmt"
	"net/netip"
)

// addStatic adds a static endpoint and connects to it.
func (r *reactor) addStatic(endpoint string) error {
	ep, err := parseEndpoint(endpoint)
	if err != nil {
		return err
	}
	if ep == r.addr {
		r.log.Debug("static endpoint is our own: ignored", "endpoint", endpoint)
		return nil
	}
	for _, s := range r.statics {
		if s.addr == ep {
			return nil
		}
	}
	if len(r.statics) >= r.cfg.maxPeers {
		return fmt.Errorf("mesh: connect %s: %d static endpoints already", endpoint, len(r.statics))
	}
	s := &staticEndpoint{endpoint: endpoint, addr: ep}
	r.statics = append(r.statics, s)
	r.connectStatic(s)
	return nil
}

// connectStatic gives s a connection: the peer that is the node at that
// endpoint if there is one (several static endpoints may name one node;
// the peer then serves them all), else a new pending DEALER carrying our
// HELLO.
func (r *reactor) connectStatic(s *staticEndpoint) {
	s.since = r.now
	for _, p := range r.n.peers {
		if ha := p.helloAddr(); p.addr == s.addr || ha == s.addr || (ha.IsValid() && r.sameHost(s, ha)) {
			s.peer = p
			if p.static == nil {
				p.static = s
			}
			return
		}
	}
	p, err := r.newConn(UUID{}, s.addr)
	if err != nil {
		r.log.Warn("cannot connect to static endpoint", "endpoint", s.endpoint, "err", err)
		return
	}
	s.peer, p.static = p, s
	r.log.Debug("static endpoint connecting", "endpoint", s.endpoint)
}

// checkStatics reconnects static endpoints that have no connection, and
// replaces connections that have not produced a ready peer within
// staticRetry: the HELLO may have reached a node that has since gone, and a
// new node at that endpoint only learns about us from a new HELLO.
func (r *reactor) checkStatics() {
	for _, s := range r.statics {
		switch {
		case s.peer == nil:
			r.connectStatic(s)
		case s.peer.removed: // it served another static endpoint too
			s.peer = nil
			r.connectStatic(s)
		case !s.peer.ready && r.now.Sub(s.since) >= r.cfg.staticRetry():
			r.removePeer(s.peer, "static endpoint retry")
			s.peer = nil
			r.connectStatic(s)
		}
	}
}

// handleBeacon acts on a beacon from another node (fact sheet §1, §4).
func (r *reactor) handleBeacon(b beaconIn) {
	r.st.beaconsReceived.Add(1)
	p := r.n.peers[b.bc.UUID]
	if b.bc.Port == 0 {
		if p != nil {
			r.removePeer(p, "leaving beacon")
		}
		return
	}
	if p != nil {
		if p.ready {
			p.lastSeen = r.now
			p.evasive = false
		}
		return
	}
	ep := netip.AddrPortFrom(b.src, b.bc.Port)
	if _, err := parseEndpoint(formatEndpoint(ep)); err != nil || !r.allowed(ep) {
		r.st.beaconsDropped.Add(1)
		r.log.Debug("beacon dropped: endpoint not allowed", "peer", b.bc.UUID.Short(), "endpoint", ep)
		return
	}
	r.connectPeer(b.bc.UUID, ep, b.src, "beacon")
}
