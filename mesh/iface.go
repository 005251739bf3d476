package mesh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// errNoInterface is returned when no interface fits.
var errNoInterface = errors.New("mesh: no usable IPv4 interface")

// ifaceInfo is the network interface a node beacons on and, by default,
// binds its ROUTER to.
type ifaceInfo struct {
	Name      string
	Index     int
	Addr      netip.Addr // the interface's first IPv4 address
	Broadcast netip.Addr // directed broadcast address of Addr's subnet
}

// pickInterface chooses the interface named by spec (an interface name or
// one of its IPv4 addresses) or, if spec is empty, the first interface that
// is up, not loopback, not point-to-point, broadcast-capable and has a
// non-link-local IPv4 address (unlike gyre, which takes the first entry of
// net.Interfaces, usually lo).
func pickInterface(spec string) (ifaceInfo, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return ifaceInfo{}, fmt.Errorf("mesh: list interfaces: %w", err)
	}
	var want netip.Addr
	if spec != "" {
		want, _ = netip.ParseAddr(spec) // zero if spec is a name
	}
	for _, ifc := range ifs {
		if spec == "" {
			if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
				ifc.Flags&net.FlagPointToPoint != 0 || ifc.Flags&net.FlagBroadcast == 0 {
				continue
			}
		} else if !want.IsValid() && ifc.Name != spec {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip4 := ipn.IP.To4()
			if ip4 == nil {
				continue
			}
			addr := netip.AddrFrom4([4]byte(ip4))
			if want.IsValid() && addr != want {
				continue
			}
			if spec == "" && addr.IsLinkLocalUnicast() {
				continue
			}
			mask := ipn.Mask
			if len(mask) == net.IPv6len {
				mask = mask[12:]
			}
			var bc [4]byte
			for i := range bc {
				bc[i] = ip4[i] | ^mask[i]
			}
			return ifaceInfo{Name: ifc.Name, Index: ifc.Index, Addr: addr, Broadcast: netip.AddrFrom4(bc)}, nil
		}
	}
	if spec != "" {
		return ifaceInfo{}, fmt.Errorf("%w: %q has no IPv4 address or does not exist", errNoInterface, spec)
	}
	return ifaceInfo{}, errNoInterface
}
