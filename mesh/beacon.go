package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Beacon constants (fact sheet §1).
const (
	// beaconLen is the size of a version-1 ZRE beacon.
	beaconLen = 22
	// beaconVersion is the only beacon version the node sends or accepts
	// (zyre's CURVE beacons, version 3 and 54 bytes, are ignored).
	beaconVersion = 0x01
	// DefaultBeaconPort is the IANA "ZRE-DISC" UDP port.
	DefaultBeaconPort = 5670
)

// beaconGroup is the IPv4 multicast group gyre sends its beacons to.
var beaconGroup = [4]byte{224, 0, 0, 250}

// beacon is a decoded UDP discovery beacon.
type beacon struct {
	UUID UUID
	// Port is the sender's ROUTER port; 0 means the sender is leaving.
	Port uint16
}

// errBadBeacon is wrapped by every beacon parse error.
var errBadBeacon = errors.New("malformed beacon")

// parseBeacon accepts exactly 22 bytes: "ZRE", version 1, the 16-byte
// UUID and a big-endian port. It never panics.
func parseBeacon(b []byte) (beacon, error) {
	if len(b) != beaconLen {
		return beacon{}, fmt.Errorf("%w: %d bytes, want %d", errBadBeacon, len(b), beaconLen)
	}
	if b[0] != 'Z' || b[1] != 'R' || b[2] != 'E' {
		return beacon{}, fmt.Errorf("%w: no ZRE prefix", errBadBeacon)
	}
	if b[3] != beaconVersion {
		return beacon{}, fmt.Errorf("%w: version %d", errBadBeacon, b[3])
	}
	var bc beacon
	copy(bc.UUID[:], b[4:20])
	bc.Port = binary.BigEndian.Uint16(b[20:22])
	return bc, nil
}

// marshal returns the 22-byte wire form of bc.
func (bc beacon) marshal() [beaconLen]byte {
	var b [beaconLen]byte
	b[0], b[1], b[2], b[3] = 'Z', 'R', 'E', beaconVersion
	copy(b[4:20], bc.UUID[:])
	binary.BigEndian.PutUint16(b[20:22], bc.Port)
	return b
}
