package mesh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Start binds the ROUTER, opens the beacon socket if beacons are on,
// connects to the static peers and starts the reactor goroutine. When ctx
// is canceled the node stops as if Stop had been called; call Stop anyway
// to wait for it.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateRunning:
		return ErrAlreadyStarted
	case stateStopped:
		return ErrStopped
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := n.open()
	if err != nil {
		return err
	}
	n.state = stateRunning
	n.react = r
	n.endpoint = r.endpoint
	go r.run()
	if n.bconn != nil {
		n.bwg.Add(1)
		go n.readBeacons()
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-n.done: // the reactor died on its own: release the rest
		}
		n.Stop()
	}()
	n.log.Info("mesh node started", "uuid", n.uuid.String(), "name", n.cfg.name, "endpoint", r.endpoint, "beacon", n.cfg.beacon)
	return nil
}

// open creates the ZeroMQ context and sockets. On error everything opened
// is closed again.
func (n *Node) open() (r *reactor, err error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("mesh: zmq context: %w", err)
	}
	var socks []*zmq.Socket
	defer func() {
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			if n.bconn != nil {
				n.bconn.close()
				n.bconn = nil
			}
			zctx.Term()
		}
	}()
	newSock := func(t zmq.Type) (*zmq.Socket, error) {
		s, err := zctx.NewSocket(t)
		if err != nil {
			return nil, fmt.Errorf("mesh: zmq socket: %w", err)
		}
		socks = append(socks, s)
		return s, s.SetLinger(0)
	}

	bind := n.cfg.bind
	var ifc ifaceInfo
	if n.cfg.beacon || !bind.IsValid() {
		ifc, err = pickInterface(n.cfg.iface)
		switch {
		case err == nil:
		case !n.cfg.beacon && errors.Is(err, errNoInterface) && n.cfg.iface == "":
			err = nil
			bind = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			n.log.Warn("no broadcast interface found: binding to loopback")
		default:
			return nil, err
		}
		if !bind.IsValid() {
			bind = ifc.Addr
		}
	}

	router, err := newSock(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	for _, set := range []func() error{
		func() error { return router.SetRouterHandover(true) },
		func() error { return router.SetRcvhwm(routerRcvHWM) },
		func() error { return router.SetMaxmsgsize(maxFrameSize) },
	} {
		if err = set(); err != nil {
			return nil, fmt.Errorf("mesh: ROUTER option: %w", err)
		}
	}
	port := n.cfg.port
	if port != 0 {
		err = router.Bind(formatEndpoint(netip.AddrPortFrom(bind, uint16(port))))
	} else {
		for range 128 {
			port = 0xC000 + rand.IntN(0x4000)
			if err = router.Bind(formatEndpoint(netip.AddrPortFrom(bind, uint16(port)))); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mesh: bind ROUTER on %v port %d: %w", bind, port, err)
	}
	own := netip.AddrPortFrom(bind, uint16(port))

	wakeRx, err := newSock(zmq.PAIR)
	if err != nil {
		return nil, err
	}
	wakeTx, err := newSock(zmq.PAIR)
	if err != nil {
		return nil, err
	}
	wakeEP := "inproc://mesh-wake-" + n.uuid.String()
	if err = wakeRx.Bind(wakeEP); err != nil {
		return nil, fmt.Errorf("mesh: wake socket: %w", err)
	}
	if err = wakeTx.Connect(wakeEP); err != nil {
		return nil, fmt.Errorf("mesh: wake socket: %w", err)
	}

	if n.cfg.beacon {
		if n.bconn, err = openBeaconConn(ifc, n.cfg.beaconPort); err != nil {
			return nil, err
		}
	}
	n.zctx = zctx
	n.wakeTx = wakeTx
	return newReactor(n, router, wakeRx, own, localAddrs()), nil
}

// localAddrs returns the IPv4 addresses of this host's interfaces.
func localAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil {
				out[netip.AddrFrom4([4]byte(ip4))] = true
			}
		}
	}
	return out
}

// Stop stops the node: it sends a port-0 beacon (synchronously) if it
// beacons, closes every socket and the Events channel, and returns once all
// of that is done. Nothing is emitted after Stop returns; peers see the node
// leave by the beacon or, without beacons, when it expires. Stop is
// idempotent and may be called before Start.
func (n *Node) Stop() error { return n.stop(false) }

// stop stops the node; silent skips the port-0 beacon, so that peers see
// what a crash looks like (tests).
func (n *Node) stop(silent bool) error {
	n.mu.Lock()
	switch n.state {
	case stateNew:
		n.state = stateStopped
		close(n.done)
		close(n.events)
		close(n.finished)
		n.mu.Unlock()
		return nil
	case stateStopped:
		n.mu.Unlock()
		<-n.finished
		return n.stopErr
	}
	n.state = stateStopped
	n.mu.Unlock()

	n.silent.Store(silent)
	n.stopping.Store(true)
	n.wake()
	<-n.done
	n.wakeMu.Lock()
	n.wakeClosed = true
	n.wakeTx.Close()
	n.wakeMu.Unlock()
	if n.bconn != nil {
		n.bconn.close()
		n.bwg.Wait()
	}
	var err error
	if e := n.zctx.Term(); e != nil {
		err = fmt.Errorf("mesh: terminate zmq context: %w", e)
	}
	close(n.events)
	n.mu.Lock()
	n.stopErr = err
	n.mu.Unlock()
	close(n.finished)
	n.log.Info("mesh node stopped")
	return err
}

// readBeacons reads the beacon socket until it is closed and hands valid
// beacons from other nodes to the reactor.
func (n *Node) readBeacons() {
	defer n.bwg.Done()
	buf := make([]byte, 64)
	for {
		sz, src, err := n.bconn.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.stopping.Load() {
				return
			}
			n.log.Debug("beacon read", "err", err)
			time.Sleep(10 * time.Millisecond) // never spin on a failing socket
			continue
		}
		bc, err := parseBeacon(buf[:sz])
		if err != nil {
			n.stats.beaconsDropped.Add(1)
			n.log.Debug("beacon dropped", "from", src, "err", err)
			continue
		}
		if bc.UUID == n.uuid {
			continue // our own, looped back
		}
		if !src.Addr().Is4() {
			n.stats.beaconsDropped.Add(1)
			n.log.Debug("beacon dropped: not from IPv4", "from", src)
			continue
		}
		select {
		case n.beacons <- beaconIn{bc: bc, src: src.Addr()}:
			n.queued.Add(1)
			n.wakeIfSleeping()
		default:
			n.stats.beaconsDropped.Add(1)
			n.log.Debug("beacon dropped: reactor behind", "from", src)
		}
	}
}
