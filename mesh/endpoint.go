package mesh

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// parseEndpoint accepts exactly tcp://A.B.C.D:PORT in canonical form (no
// leading zeros, no spaces) with a port in 1..65535 and a unicast IPv4
// address (not 0.0.0.0, multicast or the limited broadcast). That is the
// only kind of endpoint a node connects to: zyre and gyre connect to
// whatever a HELLO names, ipc:// and inproc:// included, and a host name
// would make the node resolve names chosen by a remote.
func parseEndpoint(s string) (netip.AddrPort, error) {
	rest, ok := strings.CutPrefix(s, "tcp://")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: not tcp://", ErrInvalidEndpoint, s)
	}
	host, portStr, ok := strings.Cut(rest, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: no port", ErrInvalidEndpoint, s)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is4() {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: host is not an IPv4 address", ErrInvalidEndpoint, s)
	}
	if addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: not a unicast address", ErrInvalidEndpoint, s)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: port not in 1..65535", ErrInvalidEndpoint, s)
	}
	ap := netip.AddrPortFrom(addr, uint16(port))
	if formatEndpoint(ap) != s {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: not in canonical form", ErrInvalidEndpoint, s)
	}
	return ap, nil
}

// formatEndpoint returns the tcp:// endpoint for ap.
func formatEndpoint(ap netip.AddrPort) string {
	return "tcp://" + ap.String()
}
