package crypto

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// FingerprintLen is the length of a Fingerprint: 16 base32 characters, 80
// bits of SHA-256.
const FingerprintLen = 16

// fingerprintEncoding is RFC 4648 base32 without padding; Fingerprint lower
// cases it.
var fingerprintEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Fingerprint returns a name for p that no peer can choose to collide with
// another key's: the first 16 characters of the RFC 4648 base32 encoding
// (lower case, no padding) of SHA-256(p), 80 bits. Pending keys are named by
// it (keys/pending/FPR.pub).
func (p PublicKey) Fingerprint() string {
	sum := sha256.Sum256(p[:])
	// 10 bytes are exactly 16 base32 characters.
	return strings.ToLower(fingerprintEncoding.EncodeToString(sum[:FingerprintLen*5/8]))
}

// ShortFingerprint returns Fingerprint in four groups of four characters
// separated by '-', such as "mfrg-gzdf-mztw-q2lk", for two people to read out
// and compare. It carries the same 80 bits; it has no spaces, so it stays one
// field in a line of text.
func (p PublicKey) ShortFingerprint() string {
	f := p.Fingerprint()
	return f[0:4] + "-" + f[4:8] + "-" + f[8:12] + "-" + f[12:16]
}

// ValidFingerprint reports whether s has the form of a Fingerprint: 16
// characters of the lower-case RFC 4648 base32 alphabet (a-z, 2-7).
func ValidFingerprint(s string) bool {
	if len(s) != FingerprintLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
