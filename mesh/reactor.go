package mesh

import (
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Reactor tuning.
const (
	// recvBatch is how many ROUTER messages one loop iteration handles
	// before it looks at commands again.
	recvBatch = 256
	// backlogLimit is the number of undelivered membership events at which
	// the reactor stops reading the ROUTER (see Node.Events).
	backlogLimit = 1024
	// backlogRetry is how often a reactor with undelivered events retries.
	backlogRetry = 5 * time.Millisecond
	// answerSpin bounds how long the reactor waits for the consumer of
	// an event to post an answer before it goes to sleep (see awaitAnswer).
	answerSpin = 30 * time.Microsecond
	// maxSpinCredit bounds the credit of successful spins (awaitAnswer).
	maxSpinCredit = 16
	// helloGuard: a HELLO from a ready peer arriving this soon after our
	// own HELLO to it is taken as its answer to that HELLO (see
	// handleHello), which breaks HELLO ping-pong between two nodes that
	// each consider the other ready.
	helloGuard = 2 * time.Second
)

// reactor is the single goroutine that owns every ZeroMQ socket of a node
// (the wake PAIR's sending side excepted, which API calls use under
// Node.wakeMu). Its fields are its own.
type reactor struct {
	n      *Node
	cfg    *settings
	log    *slog.Logger
	st     *counters
	router *zmq.Socket
	wakeRx *zmq.Socket
	io     *zio
	spare  []command // the command slice not in use by the queue

	poller      *zmq.Poller
	pollerDirty bool
	wakeReady   bool // the last poll reported the wake socket readable

	endpoint string
	addr     netip.AddrPort // own endpoint
	local    map[netip.Addr]bool
	status   byte // own group status counter
	headers  []header
	statics  []*staticEndpoint
	// staticsDirty asks for a pass over the static endpoints at the end of
	// this iteration (a peer serving one was removed).
	staticsDirty bool
	blocked      map[*peer]struct{}
	backlog      []Event
	paused       bool
	delivered    bool
	spinCredit   int // see awaitAnswer
	spinProbe    uint
	limiter      *tokenBucket
	// known remembers, for ExpireAfter, the UUIDs of peers that were ready
	// and were removed: their new HELLO (a takeover of their endpoint
	// undone, a reconnect) skips the new-peer rate limit, so a HELLO flood
	// from strangers cannot keep a known peer out.
	known      map[UUID]time.Time
	scratch    []byte
	now        time.Time
	nextTick   time.Time
	nextBeacon time.Time
}

func newReactor(n *Node, router, wakeRx *zmq.Socket, own netip.AddrPort, local map[netip.Addr]bool) *reactor {
	r := &reactor{
		n:        n,
		cfg:      n.cfg,
		log:      n.log,
		st:       &n.stats,
		router:   router,
		wakeRx:   wakeRx,
		io:       newZIO(rawSocketUsable() && !n.slowIO),
		endpoint: formatEndpoint(own),
		addr:     own,
		local:    local,
		blocked:  map[*peer]struct{}{},
		scratch:  make([]byte, 0, 512),
		now:      time.Now(),
	}
	for _, k := range slices.Sorted(maps.Keys(n.cfg.headers)) {
		r.headers = append(r.headers, header{Key: k, Value: n.cfg.headers[k]})
	}
	r.limiter = newTokenBucket(newPeerRate, newPeerBurst, r.now)
	r.pollerDirty = true
	r.spinCredit = maxSpinCredit / 2
	return r
}

// run is the reactor loop. Each iteration does all the work that is ready
// without blocking; only when an iteration found nothing to do does it
// block in zmq_poll (ROUTER, wake PAIR, blocked DEALERs) until a socket is
// ready or the next timer is due.
func (r *reactor) run() {
	defer r.shutdown()
	r.nextTick = r.now.Add(r.cfg.tick())
	r.nextBeacon = r.now // first beacon at once, like zyre and pyre
	for _, ep := range r.cfg.peers {
		r.addStatic(ep)
	}
	for !r.n.stopping.Load() {
		r.now = time.Now()
		work := 0
		if r.wakeReady {
			r.drainWake()
		}
		work += r.drainCommands()
		work += r.drainBeacons()
		if !r.paused {
			n, err := r.drainRouter()
			if err != nil {
				r.log.Error("mesh reactor: receive failed, stopping", "err", err)
				return
			}
			work += n
		}
		if len(r.blocked) > 0 {
			r.flushBlocked()
		}
		if !r.now.Before(r.nextTick) {
			r.onTick()
			r.nextTick = r.now.Add(r.cfg.tick())
		}
		if r.staticsDirty {
			r.staticsDirty = false
			r.checkStatics()
		}
		if r.n.bconn != nil && !r.now.Before(r.nextBeacon) {
			r.sendBeacon(r.addr.Port())
			r.nextBeacon = r.now.Add(r.cfg.beaconInterval)
		}
		r.flushBacklog()
		r.updatePause()
		if r.delivered {
			// The consumer was just made runnable: let it run, and give it
			// a moment to answer (a reply to a whisper, typically) before
			// going to sleep, so that its command is picked up without a
			// wake-up through the PAIR and a thread switch.
			r.delivered = false
			r.awaitAnswer()
			work++
		}
		if work > 0 {
			continue
		}
		if err := r.sleep(); err != nil {
			r.log.Error("mesh reactor: poll failed, stopping", "err", err)
			return
		}
	}
}

// awaitAnswer yields to the event consumer and then spins, yielding, for
// at most answerSpin while no command arrives. It runs only after events
// were delivered, so an idle node never spins, and it adapts: spins that
// end without an answer (a consumer that only reads, as in a bulk
// transfer) use up spinCredit, and without credit the reactor spins only
// on every 64th delivery, to notice when answers come back.
func (r *reactor) awaitAnswer() {
	runtime.Gosched()
	if r.n.queued.Load() > 0 {
		r.spinCredit = min(r.spinCredit+1, maxSpinCredit)
		return
	}
	r.spinProbe++
	if r.spinCredit <= 0 && r.spinProbe%64 != 0 {
		return
	}
	deadline := time.Now().Add(answerSpin)
	for r.n.queued.Load() == 0 && !r.n.stopping.Load() && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if r.n.queued.Load() > 0 {
		r.spinCredit = min(r.spinCredit+1, maxSpinCredit)
	} else {
		r.spinCredit = max(r.spinCredit-4, 0)
	}
}

// sleep blocks in zmq_poll until a socket is ready, a wake byte arrives or
// the next timer is due.
func (r *reactor) sleep() error {
	if r.pollerDirty {
		r.rebuildPoller()
	}
	due := r.nextTick
	if r.n.bconn != nil && r.nextBeacon.Before(due) {
		due = r.nextBeacon
	}
	timeout := time.Until(due)
	if len(r.backlog) > 0 {
		timeout = min(timeout, backlogRetry)
	}
	// zmq_poll counts milliseconds: round up so that a timer is never
	// polled for with a zero timeout over and over.
	timeout = max(((timeout+time.Millisecond-1)/time.Millisecond)*time.Millisecond, time.Millisecond)

	r.n.sleeping.Store(true)
	if r.n.queued.Load() > 0 || r.n.stopping.Load() {
		if r.n.sleeping.Swap(false) {
			return nil // cancelled our own sleep: no wake byte was sent
		}
		// A poster took the flag and is sending a wake byte: poll returns.
	}
	polled, err := r.poller.Poll(timeout)
	r.n.sleeping.Store(false)
	if err != nil {
		if errors.Is(err, syscall.EINTR) {
			return nil
		}
		return err
	}
	for _, p := range polled {
		if p.Socket == r.wakeRx {
			r.wakeReady = true
		}
	}
	return nil
}

// rebuildPoller recreates the poller: the wake PAIR, the ROUTER (unless
// receiving is paused) and every DEALER waiting to become writable.
func (r *reactor) rebuildPoller() {
	r.pollerDirty = false
	p := zmq.NewPoller()
	p.Add(r.wakeRx, zmq.POLLIN)
	if !r.paused {
		p.Add(r.router, zmq.POLLIN)
	}
	for pr := range r.blocked {
		p.Add(pr.dealer, zmq.POLLOUT)
	}
	r.poller = p
}

func (r *reactor) drainWake() {
	r.wakeReady = false
	for {
		if _, err := r.wakeRx.RecvBytes(zmq.DONTWAIT); err != nil {
			return
		}
	}
}

func (r *reactor) drainCommands() int {
	batch := r.n.cmds.take(r.spare)
	if len(batch) == 0 {
		r.spare = batch
		return 0
	}
	r.n.queued.Add(-int64(len(batch)))
	for i := range batch {
		r.handleCommand(batch[i])
		batch[i] = command{} // drop references to payloads
	}
	n := len(batch)
	if cap(batch) > 4096 {
		batch = nil // do not keep a burst's worth of memory
	}
	r.spare = batch
	return n
}

func (r *reactor) drainBeacons() int {
	for i := range 64 {
		select {
		case b := <-r.n.beacons:
			r.n.queued.Add(-1)
			r.handleBeacon(b)
		default:
			return i
		}
	}
	return 64
}

// updatePause stops reading the ROUTER while the membership backlog is at
// backlogLimit and resumes once it is down to half.
func (r *reactor) updatePause() {
	switch {
	case !r.paused && len(r.backlog) >= backlogLimit:
		r.paused = true
		r.pollerDirty = true
		r.st.receivePaused.Add(1)
		r.log.Warn("event consumer behind: pausing receive", "backlog", len(r.backlog))
	case r.paused && len(r.backlog) <= backlogLimit/2:
		r.paused = false
		r.pollerDirty = true
		r.log.Info("event consumer caught up: resuming receive")
	}
}

// emit delivers ev or, if the channel is full, applies the overflow policy
// described at Node.Events.
func (r *reactor) emit(ev Event) {
	r.flushBacklog()
	if len(r.backlog) == 0 {
		select {
		case r.n.events <- ev:
			r.st.eventsDelivered.Add(1)
			r.delivered = true
			return
		default:
		}
	}
	if !ev.Type.isMembership() {
		r.st.eventsOverflowed.Add(1)
		if last := len(r.backlog) - 1; last >= 0 && r.backlog[last].Type == EventOverflow {
			r.backlog[last].Dropped++
		} else {
			r.backlog = append(r.backlog, Event{Type: EventOverflow, Dropped: 1})
		}
		return
	}
	r.backlog = append(r.backlog, ev)
}

func (r *reactor) flushBacklog() {
	i := 0
	for ; i < len(r.backlog); i++ {
		select {
		case r.n.events <- r.backlog[i]:
			r.st.eventsDelivered.Add(1)
			r.delivered = true
			continue
		default:
		}
		break
	}
	if i > 0 {
		r.backlog = slices.Delete(r.backlog, 0, i)
	}
}

func (r *reactor) handleCommand(c command) {
	switch c.kind {
	case cmdWhisper:
		p := c.peer
		if p.removed || !p.ready {
			p.pending.Add(-1)
			r.st.sendDropped.Add(1)
			return
		}
		r.send(p, outMsg{msg: message{Type: msgWhisper}, payload: c.payload, counted: true})
	case cmdShout:
		for p := range r.n.groups[c.group] {
			if !p.ready || p.removed {
				continue
			}
			if len(p.queue) >= maxPending {
				r.st.sendDropped.Add(1)
				continue
			}
			r.send(p, outMsg{msg: message{Type: msgShout, Group: c.group}, payload: c.payload})
		}
	case cmdJoin:
		c.reply <- r.join(c.group)
	case cmdLeave:
		r.leave(c.group)
		c.reply <- nil
	case cmdConnect:
		c.reply <- r.addStatic(c.endpoint)
	case cmdTest:
		c.fn()
	}
}

// join adds group to the node's groups and sends JOIN to every connection
// that has had our HELLO.
func (r *reactor) join(group string) error {
	if _, ok := r.n.ownGroups[group]; ok {
		return nil
	}
	if len(r.n.ownGroups) >= maxHelloGroups {
		return ErrTooManyGroups
	}
	h := r.hello()
	h.Groups = append(h.Groups, group)
	if b, err := h.appendFrame(r.scratch[:0]); err != nil || len(b) > maxFrameSize {
		return ErrTooManyGroups
	}
	r.n.dirMu.Lock()
	r.n.ownGroups[group] = struct{}{}
	r.n.dirMu.Unlock()
	r.status++
	r.sendAll(message{Type: msgJoin, Group: group, Status: r.status})
	return nil
}

func (r *reactor) leave(group string) {
	if _, ok := r.n.ownGroups[group]; !ok {
		return
	}
	r.n.dirMu.Lock()
	delete(r.n.ownGroups, group)
	r.n.dirMu.Unlock()
	r.status++
	r.sendAll(message{Type: msgLeave, Group: group, Status: r.status})
}

// sendAll sends m to every peer and every pending static connection: all
// of them have had our HELLO, which listed our groups at the time.
func (r *reactor) sendAll(m message) {
	for _, p := range r.n.peers {
		r.send(p, outMsg{msg: m})
	}
	for _, s := range r.statics {
		if s.peer != nil && s.peer.uuid.IsZero() {
			r.send(s.peer, outMsg{msg: m})
		}
	}
}

// hello returns our HELLO (sequence number assigned when sent).
func (r *reactor) hello() message {
	return message{
		Type:     msgHello,
		Endpoint: r.endpoint,
		Groups:   slices.Sorted(maps.Keys(r.n.ownGroups)),
		Status:   r.status,
		Name:     r.cfg.name,
		Headers:  r.headers,
	}
}

// onTick runs the peer timers (fact sheet §4): a ready peer silent for
// EvasiveAfter is pinged on every tick, one silent for ExpireAfter is
// removed; a peer that never became ready is removed ExpireAfter after it
// was created (beacons do not keep it alive, so that a lost HELLO is
// retried by a new connection).
//
// A ready peer behind a static endpoint that ignored our pings for another
// EvasiveAfter is removed sooner, and the endpoint gets a fresh HELLO: with
// no beacons, that is the only way to meet a node that restarted there (it
// has a new UUID, drops our pings as coming from a stranger, and may not
// list us itself). A live peer answers a PING at once, so this costs a
// live but stalled peer at most one EXIT and ENTER.
func (r *reactor) onTick() {
	for _, p := range r.n.peers {
		silent := r.now.Sub(p.lastSeen)
		switch {
		case silent >= r.cfg.expireAfter:
			r.removePeer(p, "expired")
		case p.ready && p.static != nil && silent >= r.cfg.staticExpire():
			r.removePeer(p, "static peer ignored our pings")
		case p.ready && silent >= r.cfg.evasiveAfter:
			if !p.evasive {
				p.evasive = true
				r.emit(Event{Type: EventEvasive, Peer: p.uuid, Name: p.name})
			}
			r.send(p, outMsg{msg: message{Type: msgPing}})
		}
	}
	r.checkStatics()
}

func (r *reactor) sendBeacon(port uint16) {
	b := beacon{UUID: r.n.uuid, Port: port}.marshal()
	if err := r.n.bconn.send(b[:]); err != nil {
		r.log.Debug("beacon send", "err", err)
	}
}

// shutdown closes every socket the reactor owns; the node is stopping.
func (r *reactor) shutdown() {
	if r.n.bconn != nil && !r.n.silent.Load() {
		r.sendBeacon(0)
	}
	for _, p := range r.n.peers {
		p.dealer.Close()
	}
	for _, s := range r.statics {
		if s.peer != nil && s.peer.uuid.IsZero() {
			s.peer.dealer.Close()
		}
	}
	r.router.Close()
	r.wakeRx.Close()
	close(r.n.done)
}

func isEAGAIN(err error) bool {
	return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN)
}
