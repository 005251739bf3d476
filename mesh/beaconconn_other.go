//go:build !linux

package mesh

import (
	"errors"
	"net/netip"
)

// beaconConn is unavailable outside Linux.
type beaconConn struct{}

func openBeaconConn(ifaceInfo, int) (*beaconConn, error) {
	return nil, errors.New("mesh: UDP beacons are only implemented on Linux")
}

func (*beaconConn) send([]byte) error { return nil }
func (*beaconConn) read([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errors.New("unsupported")
}
func (*beaconConn) close() error { return nil }
