package mesh

import (
	"fmt"
	"maps"
	"net/netip"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// newConn opens a DEALER to ep with identity 0x01||our UUID, queues our
// HELLO on it and returns the peer for it (uuid may be zero: a pending
// static connection). The caller registers it.
func (r *reactor) newConn(id UUID, ep netip.AddrPort) (*peer, error) {
	d, err := r.n.zctx.NewSocket(zmq.DEALER)
	if err != nil {
		return nil, fmt.Errorf("mesh: DEALER: %w", err)
	}
	ident := make([]byte, 0, 17)
	ident = append(append(ident, 0x01), r.n.uuid[:]...)
	for _, set := range []func() error{
		func() error { return d.SetLinger(0) },
		func() error { return d.SetIdentity(string(ident)) },
		func() error { return d.SetSndtimeo(0) },
		func() error { return d.SetSndhwm(dealerSndHWM) },
		// A DEALER only sends. Whatever a hostile endpoint sends back is
		// capped: tiny messages, one at a time.
		func() error { return d.SetMaxmsgsize(64) },
		func() error { return d.SetRcvhwm(1) },
		func() error { return d.SetReconnectIvlMax(2 * time.Second) },
	} {
		if err := set(); err != nil {
			d.Close()
			return nil, fmt.Errorf("mesh: DEALER option: %w", err)
		}
	}
	endpoint := formatEndpoint(ep)
	if err := d.Connect(endpoint); err != nil {
		d.Close()
		return nil, fmt.Errorf("mesh: connect %s: %w", endpoint, err)
	}
	p := &peer{uuid: id, endpoint: endpoint, addr: ep, dealer: d, created: r.now, lastSeen: r.now}
	r.st.peersCreated.Add(1)
	r.send(p, outMsg{msg: r.hello()})
	return p, nil
}

// admit applies MaxPeers and the new-peer rate limit to a peer about to be
// created from a beacon or HELLO.
func (r *reactor) admit(id UUID, why string) bool {
	recent := false
	if t, ok := r.known[id]; ok {
		recent = r.now.Sub(t) < r.cfg.expireAfter
		delete(r.known, id)
	}
	if len(r.n.peers) >= r.cfg.maxPeers || (!recent && !r.limiter.allow(r.now)) {
		r.st.droppedPeerLimit.Add(1)
		r.log.Debug("new peer refused: limit", "peer", id.Short(), "via", why, "peers", len(r.n.peers))
		return false
	}
	return true
}

// allowed reports whether the node may connect to ep: not its own
// endpoint, and within the test filter if one is set.
func (r *reactor) allowed(ep netip.AddrPort) bool {
	if ep == r.addr {
		return false
	}
	return r.n.filter == nil || r.n.filter(ep)
}

// connectPeer returns a connection for the new peer id, which advertises
// ep and (if known) reached us from src. A pending static connection to
// that node is adopted: it already carried our HELLO, and a second DEALER
// would make the node see two HELLOs from us (EXIT/ENTER flapping).
// Otherwise the peer is admitted (MaxPeers, rate limit), any other peer at
// the same endpoint is removed (fact sheet §4: a node there has been
// replaced) and a new DEALER is opened. It returns nil if refused.
func (r *reactor) connectPeer(id UUID, ep netip.AddrPort, src netip.Addr, why string) *peer {
	for _, s := range r.statics {
		if p := s.peer; p != nil && p.uuid.IsZero() && (s.matches(ep, src) || r.sameHost(s, ep)) {
			r.n.dirMu.Lock()
			p.uuid = id
			r.n.peers[id] = p
			r.n.dirMu.Unlock()
			p.lastSeen = r.now
			r.st.peers.Store(uint64(len(r.n.peers)))
			r.log.Debug("static endpoint identified", "endpoint", s.endpoint, "peer", id.Short(), "via", why)
			return p
		}
	}
	if !r.admit(id, why) {
		return nil
	}
	for _, q := range r.n.peers {
		if q.addr == ep || q.helloAddr() == ep {
			r.removePeer(q, "endpoint taken over by "+id.Short())
		}
	}
	p, err := r.newConn(id, ep)
	if err != nil {
		r.log.Warn("cannot connect to peer", "peer", id.Short(), "err", err)
		return nil
	}
	r.n.dirMu.Lock()
	r.n.peers[id] = p
	r.n.dirMu.Unlock()
	r.st.peers.Store(uint64(len(r.n.peers)))
	for _, s := range r.statics {
		if s.peer == nil && s.addr == ep {
			s.peer, p.static, s.since = p, s, r.now
		}
	}
	r.log.Debug("peer created", "peer", id.Short(), "endpoint", p.endpoint, "via", why)
	return p
}

// sameHost reports whether the static endpoint s names this host's
// loopback and ep is another address of this host with the same port: the
// same listener, reached differently.
func (r *reactor) sameHost(s *staticEndpoint, ep netip.AddrPort) bool {
	return s.addr.Addr().IsLoopback() && s.addr.Port() == ep.Port() && r.local[ep.Addr()]
}

// helloAddr returns the endpoint the peer's HELLO named (zero before it).
func (p *peer) helloAddr() netip.AddrPort {
	if p.helloEP == "" {
		return netip.AddrPort{}
	}
	ap, _ := parseEndpoint(p.helloEP)
	return ap
}

// removePeer closes p's DEALER, forgets it and emits EXIT if it had
// entered. Queued whispers are dropped (counted).
func (r *reactor) removePeer(p *peer, reason string) {
	if p.removed {
		return
	}
	p.removed = true
	if p.ready {
		r.rememberKnown(p.uuid)
	}
	if p.blocked {
		p.blocked = false
		delete(r.blocked, p)
		r.pollerDirty = true
	}
	for _, m := range p.queue {
		if m.counted {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
		}
	}
	p.queue = nil
	p.dealer.Close()
	wasReady := p.ready
	r.n.dirMu.Lock()
	if !p.uuid.IsZero() && r.n.peers[p.uuid] == p {
		delete(r.n.peers, p.uuid)
	}
	for g := range p.groups {
		r.dropFromGroup(p, g)
	}
	p.ready = false
	r.n.dirMu.Unlock()
	r.st.peersRemoved.Add(1)
	r.st.peers.Store(uint64(len(r.n.peers)))
	if wasReady {
		r.st.readyPeers.Add(^uint64(0))
	}
	if s := p.static; s != nil && s.peer == p {
		s.peer = nil
		r.staticsDirty = true
	}
	r.log.Debug("peer removed", "peer", p.uuid.Short(), "endpoint", p.endpoint, "reason", reason, "ready", wasReady)
	if wasReady {
		r.emit(Event{Type: EventExit, Peer: p.uuid, Name: p.name})
	}
}

// dropFromGroup removes p from the group index; dirMu must be held.
func (r *reactor) dropFromGroup(p *peer, g string) {
	if m := r.n.groups[g]; m != nil {
		delete(m, p)
		if len(m) == 0 {
			delete(r.n.groups, g)
		}
	}
}

// markReady records p's HELLO and emits ENTER followed by a JOIN for each
// group it lists.
func (r *reactor) markReady(p *peer, m message) {
	headers := make(map[string]string, len(m.Headers))
	for _, h := range m.Headers {
		headers[h.Key] = h.Value
	}
	var joined []string
	r.n.dirMu.Lock()
	p.ready = true
	p.name = m.Name
	p.helloEP = m.Endpoint
	p.headers = headers
	p.groups = make(map[string]struct{}, len(m.Groups))
	for _, g := range m.Groups {
		if _, dup := p.groups[g]; dup {
			continue
		}
		p.groups[g] = struct{}{}
		r.addToGroup(p, g)
		joined = append(joined, g)
	}
	r.n.dirMu.Unlock()
	p.status = m.Status
	p.gotSeq = m.Seq
	p.lastSeen = r.now
	p.evasive = false
	r.st.readyPeers.Add(1)
	r.log.Debug("peer entered", "peer", p.uuid.Short(), "name", m.Name, "endpoint", m.Endpoint)
	r.emit(Event{Type: EventEnter, Peer: p.uuid, Name: p.name, Headers: maps.Clone(headers), Endpoint: m.Endpoint})
	for _, g := range joined {
		r.emit(Event{Type: EventJoin, Peer: p.uuid, Name: p.name, Group: g})
	}
}

// addToGroup adds p to the group index; dirMu must be held.
func (r *reactor) addToGroup(p *peer, g string) {
	m := r.n.groups[g]
	if m == nil {
		m = make(map[*peer]struct{})
		r.n.groups[g] = m
	}
	m[p] = struct{}{}
}

// send hands m to p's DEALER, or queues it behind earlier messages the
// DEALER refused (EAGAIN). A peer whose queue grows far past the Whisper
// bound (control messages pile up too) is not reading: it is removed.
func (r *reactor) send(p *peer, m outMsg) {
	if p.removed {
		if m.counted {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
		}
		return
	}
	if len(p.queue) == 0 && r.trySend(p, &m) {
		return
	}
	if p.removed { // trySend failed hard
		if m.counted {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
		}
		return
	}
	if len(p.queue) >= 2*maxPending {
		r.removePeer(p, "send queue overflow")
		if m.counted {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
		}
		return
	}
	p.queue = append(p.queue, m)
	if !p.blocked {
		p.blocked = true
		r.blocked[p] = struct{}{}
		r.pollerDirty = true
	}
}

// trySend writes m to p's DEALER without blocking. It reports false on
// EAGAIN (nothing was sent) and on a hard error (the peer is removed).
func (r *reactor) trySend(p *peer, m *outMsg) bool {
	m.msg.Seq = p.sentSeq + 1
	frame, err := m.msg.appendFrame(r.scratch[:0])
	if err != nil {
		r.log.Error("mesh: encode", "type", m.msg.Type, "err", err)
		if m.counted {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
		}
		return true // dropped: never put a frame on the wire we cannot encode
	}
	r.scratch = frame[:0]
	content := m.msg.Type.hasContent()
	if err := r.io.send(p.dealer, frame, m.payload, content); err != nil {
		if err == errAgain {
			return false
		}
		r.removePeer(p, err.Error())
		return false
	}
	p.sentSeq++
	switch m.msg.Type {
	case msgWhisper:
		r.st.whispersSent.Add(1)
	case msgShout:
		r.st.shoutsSent.Add(1)
	}
	if m.counted {
		p.pending.Add(-1)
	}
	if m.msg.Type == msgHello {
		p.helloSent = r.now
	}
	return true
}

// flushBlocked retries the queues of peers whose DEALER was full.
func (r *reactor) flushBlocked() {
	for p := range r.blocked {
		for len(p.queue) > 0 && !p.removed {
			if !r.trySend(p, &p.queue[0]) {
				break
			}
			p.queue[0] = outMsg{}
			p.queue = p.queue[1:]
		}
		if len(p.queue) == 0 && !p.removed {
			p.queue = nil
			p.blocked = false
			delete(r.blocked, p)
			r.pollerDirty = true
		}
	}
}

// maxKnown bounds the UUIDs remembered by rememberKnown.
const maxKnown = 1024

// rememberKnown records that peer id was ready until now (see
// reactor.known). Entries older than ExpireAfter are dropped first; at
// maxKnown the oldest goes.
func (r *reactor) rememberKnown(id UUID) {
	if r.known == nil {
		r.known = make(map[UUID]time.Time)
	}
	if len(r.known) >= maxKnown {
		var oldest UUID
		first := true
		for u, t := range r.known {
			if r.now.Sub(t) >= r.cfg.expireAfter {
				delete(r.known, u)
				continue
			}
			if first || t.Before(r.known[oldest]) {
				oldest, first = u, false
			}
		}
		if len(r.known) >= maxKnown {
			delete(r.known, oldest)
		}
	}
	r.known[id] = r.now
}
