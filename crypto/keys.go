// Package crypto holds every cryptographic primitive messagefs uses: age
// X25519 identities and recipients, pairwise envelopes (NaCl box with one key
// per direction), key fingerprints and the Sender Keys primitives for groups.
//
// The package does no I/O and keeps no state between calls beyond the values
// it returns: persistence, sequence tracking and trust decisions belong to the
// callers (store and node).
package crypto

import (
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// KeySize is the size of an X25519 public or private key.
const KeySize = 32

// PublicKey is an X25519 public key, the same value an age1... recipient
// encodes.
type PublicKey [KeySize]byte

// PrivateKey is an X25519 private key (scalar), the same value an
// AGE-SECRET-KEY-1... identity encodes.
type PrivateKey [KeySize]byte

// ErrLowOrder reports a public key that is a low-order point of Curve25519.
// A Diffie-Hellman exchange with such a key yields an all-zero shared secret,
// so anyone could compute the message keys.
var ErrLowOrder = errors.New("crypto: public key is a low-order point (its shared secret would be zero)")

// GenerateKey returns a new random private key read from rand.
func GenerateKey(rand io.Reader) (PrivateKey, error) {
	var k PrivateKey
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("crypto: reading random key: %w", err)
	}
	return k, nil
}

// Public returns the public key of k.
func (k PrivateKey) Public() PublicKey {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		// NewPrivateKey only fails on a wrong length, which the array type
		// rules out.
		panic("crypto: X25519 private key of wrong length: " + err.Error())
	}
	var p PublicKey
	copy(p[:], priv.PublicKey().Bytes())
	return p
}

// SharedSecret computes the X25519 Diffie-Hellman shared secret of k and
// peer. It returns ErrLowOrder when peer is a low-order point.
func (k PrivateKey) SharedSecret(peer PublicKey) ([]byte, error) {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: X25519 private key: %w", err)
	}
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: X25519 public key: %w", err)
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		// crypto/ecdh refuses exactly the all-zero output of low-order points.
		return nil, ErrLowOrder
	}
	return shared, nil
}

// CheckPublic reports whether p can be used as a peer key: it returns
// ErrLowOrder for low-order points (including the all-zero key) and nil
// otherwise.
func CheckPublic(p PublicKey) error {
	// Any scalar works: a point has low order exactly when the clamped
	// scalar multiplication by it gives the identity, which X25519 encodes
	// as zero. A fixed non-secret scalar keeps this check cheap and pure.
	probe := PrivateKey{1}
	_, err := probe.SharedSecret(p)
	return err
}

// Equal reports whether p and q are the same key, in constant time.
func (p PublicKey) Equal(q PublicKey) bool {
	return subtle.ConstantTimeCompare(p[:], q[:]) == 1
}
