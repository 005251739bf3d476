package mesh

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// UUID identifies a ZRE node for the lifetime of one run. It travels as 16
// raw bytes in beacons and routing ids.
type UUID [16]byte

// newUUID returns a random UUID.
func newUUID() UUID {
	var u UUID
	rand.Read(u[:]) // never returns an error (crypto/rand, Go >= 1.24)
	return u
}

// String returns the UUID as 32 upper-case hexadecimal digits without
// dashes, the form zyre and gyre use.
func (u UUID) String() string {
	return strings.ToUpper(hex.EncodeToString(u[:]))
}

// Short returns the first 6 characters of String, the default ZRE node name.
func (u UUID) Short() string {
	return u.String()[:6]
}

// IsZero reports whether u is the all-zero UUID.
func (u UUID) IsZero() bool {
	return u == UUID{}
}

// ParseUUID parses 32 hexadecimal digits (either case, no dashes), the form
// String returns.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 32 {
		return u, fmt.Errorf("mesh: parse UUID %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(u[:], []byte(s)); err != nil {
		return u, fmt.Errorf("mesh: parse UUID %q: %w", s, err)
	}
	return u, nil
}
