package mesh

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"
)

// Node is one ZRE node. Create it with New, start it with Start, stop it
// with Stop. All methods are safe for concurrent use.
type Node struct {
	uuid UUID
	cfg  *settings
	log  *slog.Logger

	mu       sync.Mutex // guards state, headers before Start, endpoint
	state    nodeState
	endpoint string
	stopErr  error
	finished chan struct{} // closed when Stop has released everything

	// The directory: peers and groups as API calls see them. Written only
	// by the reactor, under dirMu.Lock.
	dirMu     sync.RWMutex
	peers     map[UUID]*peer
	groups    map[string]map[*peer]struct{} // ready peers per group
	ownGroups map[string]struct{}

	// Command path to the reactor. queued counts items in cmds and beacons
	// not yet taken by the reactor; sleeping is true while the reactor is
	// about to block or blocked in zmq_poll. See post.
	cmds     cmdQueue
	beacons  chan beaconIn
	queued   atomic.Int64
	sleeping atomic.Bool
	stopping atomic.Bool
	silent   atomic.Bool // stop without the port-0 beacon (tests: a crash)

	wakeMu     sync.Mutex // guards wakeTx: the API side of the wake PAIR
	wakeTx     *zmq.Socket
	wakeClosed bool

	events chan Event
	stats  counters

	done   chan struct{} // closed when the reactor has exited
	zctx   *zmq.Context
	bconn  *beaconConn
	bwg    sync.WaitGroup // the beacon reader
	react  *reactor
	filter func(netip.AddrPort) bool // tests: endpoints the node may connect to
	slowIO bool                      // tests: use pebbe's calls, not zmqio's
}

type nodeState uint8

const (
	stateNew nodeState = iota
	stateRunning
	stateStopped
)

// cmdKind is the kind of a command sent to the reactor.
type cmdKind uint8

const (
	cmdWhisper cmdKind = iota + 1
	cmdShout
	cmdJoin
	cmdLeave
	cmdConnect
	cmdTest // tests: run fn on the reactor goroutine
)

// command is an API request for the reactor.
type command struct {
	kind     cmdKind
	peer     *peer
	group    string
	endpoint string
	payload  []byte
	reply    chan error
	fn       func() // cmdTest
}

// beaconIn is a beacon received by the beacon reader.
type beaconIn struct {
	bc  beacon
	src netip.Addr
}

// New validates cfg and returns a node with a fresh random UUID. Nothing is
// opened until Start.
func New(cfg Config) (*Node, error) {
	id := newUUID()
	s, err := validateConfig(cfg, id)
	if err != nil {
		return nil, err
	}
	n := &Node{
		uuid:      id,
		cfg:       s,
		log:       s.log.With("node", id.Short()),
		finished:  make(chan struct{}),
		peers:     make(map[UUID]*peer),
		groups:    make(map[string]map[*peer]struct{}),
		ownGroups: make(map[string]struct{}),
		beacons:   make(chan beaconIn, 256),
		events:    make(chan Event, s.eventQueue),
		done:      make(chan struct{}),
	}
	return n, nil
}

// UUID returns the node's UUID.
func (n *Node) UUID() UUID { return n.uuid }

// Name returns the node's ZRE name.
func (n *Node) Name() string { return n.cfg.name }

// Endpoint returns the tcp://IP:port endpoint the ROUTER is bound to ("" before
// Start).
func (n *Node) Endpoint() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.endpoint
}

// SetHeader sets a HELLO header. It only has an effect before Start; later
// calls, and invalid headers, are logged and ignored.
func (n *Node) SetHeader(k, v string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != stateNew {
		n.log.Warn("SetHeader after Start ignored", "key", k)
		return
	}
	if err := checkHeader(k, v); err != nil {
		n.log.Warn("SetHeader ignored", "err", err)
		return
	}
	if _, ok := n.cfg.headers[k]; !ok && len(n.cfg.headers) >= maxHelloHeaders {
		n.log.Warn("SetHeader ignored: too many headers", "key", k)
		return
	}
	n.cfg.headers[k] = v
}

// Events returns the channel on which the node reports what happens. It is
// closed by Stop, after the last event.
//
// Overflow policy: the channel holds Config.EventQueue events and the node
// never waits for the consumer. When the channel is full, data events
// (WHISPER, SHOUT, EVASIVE) are dropped and counted, and one EventOverflow
// with the number lost is queued in their place. Membership events (ENTER,
// EXIT, JOIN, LEAVE) are never dropped: they wait, in order, in an internal
// backlog. If that backlog reaches 1024 events the node stops reading its
// ROUTER (ZeroMQ's high-water marks then push back on the senders, whose
// Whisper calls see ErrPeerBusy) until the consumer catches up; timers and
// beacons keep running, and the events they cause are bounded by the
// number of peers.
func (n *Node) Events() <-chan Event { return n.events }

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats { return n.stats.snapshot() }

// post hands a command to the reactor and wakes it if it sleeps.
//
// Wake-up protocol: the poster increments queued after queueing and then
// takes the sleeping flag; the reactor sets sleeping and then looks at
// queued before it blocks. Both are sequentially consistent atomics, so
// either the reactor sees the command or the poster sees it sleeping and
// sends one byte on the wake PAIR (at most one byte per sleep).
func (n *Node) post(c command) error {
	if n.stopping.Load() {
		return ErrStopped
	}
	if err := n.cmds.push(c, n.done); err != nil {
		return err
	}
	n.queued.Add(1)
	n.wakeIfSleeping()
	return nil
}

func (n *Node) wakeIfSleeping() {
	if n.sleeping.Load() && n.sleeping.CompareAndSwap(true, false) {
		n.wake()
	}
}

// wake sends one byte on the wake PAIR.
func (n *Node) wake() {
	n.wakeMu.Lock()
	if !n.wakeClosed && n.wakeTx != nil {
		n.wakeTx.SendBytes([]byte{0}, zmq.DONTWAIT) // EAGAIN: wake bytes are already pending
	}
	n.wakeMu.Unlock()
}

// call posts a command and waits for the reactor's answer.
func (n *Node) call(c command) error {
	c.reply = make(chan error, 1)
	if err := n.checkRunning(); err != nil {
		return err
	}
	if err := n.post(c); err != nil {
		return err
	}
	select {
	case err := <-c.reply:
		return err
	case <-n.done:
		return ErrStopped
	}
}

func (n *Node) checkRunning() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateNew:
		return ErrNotStarted
	case stateStopped:
		return ErrStopped
	}
	return nil
}

// Join joins group (1..255 bytes, case-sensitive) and tells every peer. It
// is a no-op if the node is already in the group. It returns
// ErrTooManyGroups if the node's HELLO would grow too large.
func (n *Node) Join(group string) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	return n.call(command{kind: cmdJoin, group: group})
}

// Leave leaves group and tells every peer. It is a no-op if the node is not
// in the group.
func (n *Node) Leave(group string) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	return n.call(command{kind: cmdLeave, group: group})
}

// Connect adds a static endpoint (tcp://IPv4:port) at runtime, as
// Config.Peers does at Start: the node connects to it and sends HELLO, and
// finds the node there again whenever it is replaced. Adding an endpoint
// twice, or the node's own endpoint, does nothing.
func (n *Node) Connect(endpoint string) error {
	if _, err := parseEndpoint(endpoint); err != nil {
		return fmt.Errorf("mesh: connect: %w", err)
	}
	return n.call(command{kind: cmdConnect, endpoint: endpoint})
}

// Whisper queues payload for one ready peer and returns without waiting
// for it to be sent. The node keeps payload until it has been handed to
// ZeroMQ: do not modify it after the call. Errors: ErrUnknownPeer (never
// seen or departed), ErrPeerNotReady (HELLO not yet received),
// ErrPeerBusy (its send queue is full; retry later),
// ErrPayloadTooLarge, ErrNotStarted, ErrStopped. A peer that leaves before
// the payload is sent loses it silently (counted in Stats.SendDropped).
func (n *Node) Whisper(id UUID, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("mesh: whisper %d bytes: %w", len(payload), ErrPayloadTooLarge)
	}
	n.dirMu.RLock()
	p := n.peers[id]
	ready := p != nil && p.ready
	n.dirMu.RUnlock()
	if !ready {
		if err := n.checkRunning(); err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("mesh: whisper to %s: %w", id.Short(), ErrUnknownPeer)
		}
		return fmt.Errorf("mesh: whisper to %s: %w", id.Short(), ErrPeerNotReady)
	}
	if p.pending.Add(1) > maxPending {
		p.pending.Add(-1)
		n.stats.sendBusy.Add(1)
		return ErrPeerBusy // unwrapped: callers retry in loops, keep it cheap
	}
	if err := n.post(command{kind: cmdWhisper, peer: p, payload: payload}); err != nil {
		p.pending.Add(-1)
		return err
	}
	return nil
}

// Shout queues payload for every ready peer in group (the node need not be
// a member) and returns without waiting. As with Whisper, do not modify
// payload after the call. Peers whose send queue is full miss the shout
// (counted in Stats.SendDropped); a group without peers is not an error.
func (n *Node) Shout(group string, payload []byte) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("mesh: shout %d bytes: %w", len(payload), ErrPayloadTooLarge)
	}
	if err := n.checkRunning(); err != nil {
		return err
	}
	return n.post(command{kind: cmdShout, group: group, payload: payload})
}

// Peers returns the peers the node knows (ready or not), sorted by UUID.
func (n *Node) Peers() []PeerInfo {
	n.dirMu.RLock()
	defer n.dirMu.RUnlock()
	out := make([]PeerInfo, 0, len(n.peers))
	for _, p := range n.peers {
		out = append(out, PeerInfo{
			UUID:     p.uuid,
			Name:     p.name,
			Endpoint: p.endpoint,
			Headers:  maps.Clone(p.headers),
			Groups:   slices.Sorted(maps.Keys(p.groups)),
			Ready:    p.ready,
		})
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return bytes.Compare(a.UUID[:], b.UUID[:]) })
	return out
}

// PeerGroups returns, sorted, the groups at least one ready peer is in.
func (n *Node) PeerGroups() []string {
	n.dirMu.RLock()
	defer n.dirMu.RUnlock()
	out := make([]string, 0, len(n.groups))
	for g, m := range n.groups {
		if len(m) > 0 {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// Groups returns, sorted, the groups this node is in.
func (n *Node) Groups() []string {
	n.dirMu.RLock()
	defer n.dirMu.RUnlock()
	return slices.Sorted(maps.Keys(n.ownGroups))
}

func checkGroup(g string) error {
	if g == "" || len(g) > maxShortString {
		return fmt.Errorf("%w: %d bytes", ErrInvalidGroup, len(g))
	}
	return nil
}
