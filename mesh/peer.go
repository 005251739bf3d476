package mesh

import (
	"net/netip"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// peer is one remote node and the DEALER the node sends to it on. A peer
// made for a static endpoint starts with a zero uuid ("pending") until the
// node at that endpoint identifies itself by HELLO or beacon.
//
// Fields are owned by the reactor. Those marked "dir" are also read by API
// goroutines under Node.dirMu.RLock, so the reactor writes them only while
// holding Node.dirMu.Lock.
type peer struct {
	uuid     UUID           // dir; zero while a static connection is pending
	endpoint string         // dir; where the DEALER connects
	addr     netip.AddrPort // endpoint, parsed
	dealer   *zmq.Socket
	static   *staticEndpoint // the static endpoint this connection serves, if any

	created  time.Time
	lastSeen time.Time // last accepted message (or beacon, once ready)
	// helloSent is when our HELLO went out on this DEALER.
	helloSent time.Time
	sentSeq   uint16 // sequence number of the last message sent
	gotSeq    uint16 // sequence number of the last message received
	status    byte   // the peer's group status counter as we track it
	evasive   bool
	removed   bool
	blocked   bool     // the DEALER returned EAGAIN; waiting for POLLOUT
	queue     []outMsg // messages waiting for the DEALER to be writable

	ready   bool                // dir; HELLO received, ENTER emitted
	name    string              // dir
	helloEP string              // dir; endpoint stated in the peer's HELLO
	headers map[string]string   // dir; never modified after HELLO
	groups  map[string]struct{} // dir

	// pending counts whispers accepted by Whisper and not yet handed to
	// ZeroMQ or dropped; it is the per-peer send queue bound.
	pending atomic.Int32
}

// outMsg is a message waiting to be sent to a peer. Its sequence number is
// assigned when it is handed to ZeroMQ, so queued messages never cause a
// gap.
type outMsg struct {
	msg     message
	payload []byte // content frame of WHISPER/SHOUT
	counted bool   // a Whisper counted in peer.pending
}

// staticEndpoint is an endpoint from Config.Peers or Connect. The node
// keeps one connection to it: pending until the node there identifies
// itself, then that node's peer; when that peer leaves, a new pending
// connection is made so that a restarted node is found again.
type staticEndpoint struct {
	endpoint string
	addr     netip.AddrPort
	peer     *peer     // current connection, nil if none
	since    time.Time // when the current connection was made
}

// matches reports whether the node that advertises ep, and whose
// connection to us came from src (may be zero), is the node at s. The
// second rule covers a static endpoint naming another address of the same
// listener (tcp://127.0.0.1:P for a node that advertises its LAN address
// with the same port): the node connected to us from s's address.
func (s *staticEndpoint) matches(ep netip.AddrPort, src netip.Addr) bool {
	return s.addr == ep || (src.IsValid() && s.addr.Addr() == src && s.addr.Port() == ep.Port())
}
