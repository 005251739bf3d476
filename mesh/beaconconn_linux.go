//go:build linux

package mesh

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// soReusePort is SO_REUSEPORT on Linux (syscall lacks it on amd64; the
// value is 15 on every architecture except mips, parisc and sparc).
const soReusePort = 0xf

// beaconConn is the UDP socket a node beacons and listens on: bound to
// 0.0.0.0:port with SO_REUSEADDR and SO_REUSEPORT (so several nodes and
// zyre/pyre/gyre share a host), SO_BROADCAST, joined to 224.0.0.250 on the
// chosen interface and sending multicast out of it.
type beaconConn struct {
	conn  *net.UDPConn
	dests []netip.AddrPort
}

// openBeaconConn opens the beacon socket for ifc and port.
func openBeaconConn(ifc ifaceInfo, port int) (*beaconConn, error) {
	var sockErr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) {
			for _, o := range []struct{ level, opt, v int }{
				{syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1},
				{syscall.SOL_SOCKET, soReusePort, 1},
				{syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1},
				{syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 1},
				{syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1},
			} {
				if err := syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v); err != nil && sockErr == nil {
					sockErr = fmt.Errorf("setsockopt %d/%d: %w", o.level, o.opt, err)
				}
			}
			mreq := &syscall.IPMreqn{Multiaddr: beaconGroup, Ifindex: int32(ifc.Index)}
			if err := syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, mreq); err != nil && sockErr == nil {
				sockErr = fmt.Errorf("join %v on %s: %w", netip.AddrFrom4(beaconGroup), ifc.Name, err)
			}
			ifreq := &syscall.IPMreqn{Ifindex: int32(ifc.Index)}
			if err := syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, ifreq); err != nil && sockErr == nil {
				sockErr = fmt.Errorf("IP_MULTICAST_IF %s: %w", ifc.Name, err)
			}
		})
		if err != nil {
			return err
		}
		return sockErr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, fmt.Errorf("mesh: open beacon socket on %s port %d: %w", ifc.Name, port, err)
	}
	bc := &beaconConn{conn: pc.(*net.UDPConn)}
	bc.dests = append(bc.dests, netip.AddrPortFrom(ifc.Broadcast, uint16(port)))
	bc.dests = append(bc.dests, netip.AddrPortFrom(netip.AddrFrom4(beaconGroup), uint16(port)))
	return bc, nil
}

// send transmits b to the directed broadcast address and to 224.0.0.250.
// It never blocks for long: a full socket buffer loses the beacon.
func (bc *beaconConn) send(b []byte) error {
	bc.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	var first error
	for _, d := range bc.dests {
		if _, err := bc.conn.WriteToUDPAddrPort(b, d); err != nil && first == nil {
			first = fmt.Errorf("mesh: send beacon to %v: %w", d, err)
		}
	}
	return first
}

// read waits for the next datagram. buf should be larger than a beacon so
// that oversized datagrams show as such.
func (bc *beaconConn) read(buf []byte) (int, netip.AddrPort, error) {
	n, src, err := bc.conn.ReadFromUDPAddrPort(buf)
	return n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), err
}

// close closes the socket, ending any read.
func (bc *beaconConn) close() error { return bc.conn.Close() }
