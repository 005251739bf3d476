package mesh

import (
	"encoding/binary"
	"net/netip"
)

// drainRouter handles up to recvBatch messages waiting on the ROUTER.
func (r *reactor) drainRouter() (int, error) {
	for i := range recvBatch {
		ok, err := r.recvOne()
		if err != nil || !ok {
			return i, err
		}
		if r.paused {
			return i + 1, nil
		}
	}
	return recvBatch, nil
}

// recvOne reads one message from the ROUTER without blocking and handles
// it. It reports false if none was waiting. A message is [routing id][ZRE
// frame][content...]; all of its frames are read (content frames after
// the first are discarded) whatever they hold, so that the next message
// starts clean.
func (r *reactor) recvOne() (bool, error) {
	m, err := r.io.recv(r.router)
	if err == errAgain {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.st.framesReceived.Add(1)
	if len(m.rid) != 17 || m.rid[0] != 0x01 {
		r.st.droppedRoutingID.Add(1)
		r.log.Debug("dropped: bad routing id", "len", len(m.rid))
		return true, nil
	}
	var id UUID
	copy(id[:], m.rid[1:])
	if m.tooBig {
		r.st.droppedOversize.Add(1)
		r.log.Debug("dropped: frame too large", "peer", id.Short())
		return true, nil
	}
	p := r.n.peers[id]
	var src netip.Addr
	if p == nil {
		src = m.srcAddr() // only a stranger's HELLO needs it
	}
	r.handleFrame(id, p, m.frame, m.content, m.nContent, src)
	return true, nil
}

// handleFrame applies the receive rules of fact sheet §4 to one message.
func (r *reactor) handleFrame(id UUID, p *peer, frame, content []byte, nContent int, src netip.Addr) {
	if id == r.n.uuid {
		r.st.droppedUnknownPeer.Add(1)
		r.log.Debug("dropped: carries our own UUID")
		return
	}
	if len(frame) < headerLen || frame[0] != zreSig0 || frame[1] != zreSig1 || frame[3] != zreVersion {
		r.st.droppedMalformed.Add(1)
		r.log.Debug("dropped: bad ZRE header", "peer", id.Short(), "len", len(frame))
		return
	}
	typ := msgType(frame[2])
	if typ == msgHello {
		r.handleHello(id, p, frame, nContent, src)
		return
	}
	if p == nil || !p.ready {
		r.st.droppedUnknownPeer.Add(1)
		r.log.Debug("dropped: not from a ready peer", "peer", id.Short(), "type", typ)
		return
	}
	// Sequence first: every frame with a valid header was counted by its
	// sender, whatever its body. pyre wraps modulo 65535 (65534 -> 0); that
	// one step is accepted too.
	seq := binary.BigEndian.Uint16(frame[4:6])
	if want := p.gotSeq + 1; seq != want && (want != 0xFFFF || seq != 0) {
		r.st.droppedOutOfSequence.Add(1)
		r.log.Debug("sequence gap: removing peer", "peer", id.Short(), "want", want, "got", seq, "type", typ)
		r.removePeer(p, "sequence gap")
		return
	}
	p.gotSeq = seq
	p.lastSeen = r.now
	p.evasive = false
	m, err := parseFrame(frame)
	if err == nil && nContent > 0 && !typ.hasContent() {
		err = &parseError{what: "content frames on " + typ.String(), off: len(frame)}
	}
	if err != nil {
		r.st.droppedMalformed.Add(1)
		r.log.Debug("dropped: malformed", "peer", id.Short(), "err", err)
		return
	}
	if typ.hasContent() {
		switch {
		case nContent > 1:
			r.st.droppedMultiFrame.Add(1)
			r.log.Debug("dropped: multi-frame content", "peer", id.Short(), "frames", nContent)
			return
		case len(content) > MaxPayload:
			r.st.droppedOversize.Add(1)
			r.log.Debug("dropped: payload too large", "peer", id.Short(), "len", len(content))
			return
		case content == nil:
			content = []byte{} // pyre sends no frame for empty content
		}
	}
	switch m.Type {
	case msgWhisper:
		r.emit(Event{Type: EventWhisper, Peer: id, Name: p.name, Payload: content})
	case msgShout:
		r.emit(Event{Type: EventShout, Peer: id, Name: p.name, Group: m.Group, Payload: content})
	case msgJoin:
		r.peerJoin(p, m)
	case msgLeave:
		r.peerLeave(p, m)
	case msgPing:
		r.send(p, outMsg{msg: message{Type: msgPingOK}})
	case msgPingOK:
	case msgGoodbye:
		r.removePeer(p, "GOODBYE")
	case msgElect, msgLeader:
		r.log.Debug("ignored", "peer", id.Short(), "type", m.Type, "group", m.Group)
	}
}

// handleHello handles a HELLO (fact sheet §4, step 2).
func (r *reactor) handleHello(id UUID, p *peer, frame []byte, nContent int, src netip.Addr) {
	m, err := parseFrame(frame)
	var ep netip.AddrPort
	if err == nil {
		ep, err = parseEndpoint(m.Endpoint)
	}
	if err == nil && nContent > 0 {
		err = &parseError{what: "content frames on HELLO", off: len(frame)}
	}
	if err != nil {
		r.st.droppedMalformed.Add(1)
		r.log.Debug("dropped: malformed HELLO", "peer", id.Short(), "err", err)
		return
	}
	if m.Seq != 1 {
		r.st.droppedOutOfSequence.Add(1)
		r.log.Debug("dropped: HELLO with sequence != 1", "peer", id.Short(), "seq", m.Seq)
		return
	}
	if !r.allowed(ep) {
		r.st.droppedMalformed.Add(1)
		r.log.Debug("dropped: HELLO endpoint not allowed", "peer", id.Short(), "endpoint", m.Endpoint)
		return
	}
	if p != nil && p.ready {
		if r.now.Sub(p.helloSent) < helloGuard {
			// The peer has just had a HELLO from us on this DEALER and
			// answers it: it has reset its state for us and considers us
			// ready. Start over with its HELLO on the same connection;
			// sending another HELLO would make it do the same, forever.
			r.log.Debug("HELLO from ready peer answers ours: restarting it in place", "peer", id.Short())
			r.resetPeer(p)
			r.markReady(p, m)
			return
		}
		// Otherwise a node that considers us new: start over, with a new
		// connection and HELLO of ours (zyre and pyre do the same).
		r.removePeer(p, "new HELLO")
		p = nil
	}
	if p != nil {
		if p.addr == r.addr {
			r.st.droppedUnknownPeer.Add(1)
			r.log.Debug("dropped: HELLO for a connection to our own endpoint", "peer", id.Short())
			return
		}
	} else if p = r.connectPeer(id, ep, src, "hello"); p == nil {
		return
	}
	r.markReady(p, m)
}

// resetPeer emits EXIT for a ready peer and forgets what it told us (name,
// headers, groups), keeping its connection.
func (r *reactor) resetPeer(p *peer) {
	r.n.dirMu.Lock()
	for g := range p.groups {
		r.dropFromGroup(p, g)
	}
	p.groups = nil
	p.ready = false
	r.n.dirMu.Unlock()
	r.st.readyPeers.Add(^uint64(0))
	r.emit(Event{Type: EventExit, Peer: p.uuid, Name: p.name})
}

// peerJoin handles JOIN: the peer's status counter must advance by one
// and equal the message's; on mismatch the node logs and adopts the
// message's value (gyre panics, zyre and pyre assert).
func (r *reactor) peerJoin(p *peer, m message) {
	r.checkStatus(p, m)
	if _, ok := p.groups[m.Group]; ok {
		return
	}
	if len(p.groups) >= maxHelloGroups {
		r.st.droppedGroupLimit.Add(1)
		r.log.Debug("JOIN refused: peer in too many groups", "peer", p.uuid.Short())
		return
	}
	r.n.dirMu.Lock()
	p.groups[m.Group] = struct{}{}
	r.addToGroup(p, m.Group)
	r.n.dirMu.Unlock()
	r.emit(Event{Type: EventJoin, Peer: p.uuid, Name: p.name, Group: m.Group})
}

// peerLeave handles LEAVE (see peerJoin).
func (r *reactor) peerLeave(p *peer, m message) {
	r.checkStatus(p, m)
	if _, ok := p.groups[m.Group]; !ok {
		return
	}
	r.n.dirMu.Lock()
	delete(p.groups, m.Group)
	r.dropFromGroup(p, m.Group)
	r.n.dirMu.Unlock()
	r.emit(Event{Type: EventLeave, Peer: p.uuid, Name: p.name, Group: m.Group})
}

func (r *reactor) checkStatus(p *peer, m message) {
	p.status++
	if p.status != m.Status {
		r.st.statusMismatches.Add(1)
		r.log.Debug("group status mismatch: resynchronising", "peer", p.uuid.Short(), "want", p.status, "got", m.Status)
		p.status = m.Status
	}
}
