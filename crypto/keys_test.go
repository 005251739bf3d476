package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/curve25519"
)

func idHex(t *testing.T, s string) [32]byte {
	t.Helper()
	var b [32]byte
	if n, err := hex.Decode(b[:], []byte(s)); err != nil || n != 32 {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestKeysRFC7748 checks Public and SharedSecret against section 6.1 of RFC 7748.
func TestKeysRFC7748(t *testing.T) {
	alice := PrivateKey(idHex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	bob := PrivateKey(idHex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	alicePub := PublicKey(idHex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
	bobPub := PublicKey(idHex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
	shared := idHex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	if alice.Public() != alicePub || bob.Public() != bobPub {
		t.Fatalf("Public() does not match RFC 7748")
	}
	for _, tc := range []struct {
		k PrivateKey
		p PublicKey
	}{{alice, bobPub}, {bob, alicePub}} {
		got, err := tc.k.SharedSecret(tc.p)
		if err != nil || !bytes.Equal(got, shared[:]) {
			t.Fatalf("SharedSecret = %x, %v; want %x", got, err, shared)
		}
	}
}

// TestKeysPublicMatchesAge checks that Public gives the recipient age derives
// from the same identity, and the one x/crypto's curve25519 computes.
func TestKeysPublicMatchesAge(t *testing.T) {
	for range 20 {
		aid, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseIdentity(aid.String())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := k.Public().String(), aid.Recipient().String(); got != want {
			t.Fatalf("Public() = %s, age says %s", got, want)
		}
		want, err := curve25519.X25519(k[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if p := k.Public(); !bytes.Equal(p[:], want) {
			t.Fatalf("Public() = %x, curve25519 says %x", p, want)
		}
	}
}

func TestKeysSharedSecretSymmetric(t *testing.T) {
	for range 20 {
		a, b := idGenerate(t), idGenerate(t)
		ab, err := a.SharedSecret(b.Public())
		if err != nil {
			t.Fatal(err)
		}
		ba, err := b.SharedSecret(a.Public())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ab, ba) || len(ab) != KeySize {
			t.Fatalf("shared secrets differ: %x, %x", ab, ba)
		}
		c := idGenerate(t)
		if ac, _ := a.SharedSecret(c.Public()); bytes.Equal(ab, ac) {
			t.Fatalf("same secret with two peers")
		}
	}
}

// idLowOrderPoints are the u-coordinates of the points of Curve25519 whose order
// divides 8, with their non-canonical encodings (u+p, when it fits in 255
// bits). The list is the one libsodium refuses.
var idLowOrderPoints = []struct{ name, hex string }{
	{"0 (order 4)", "0000000000000000000000000000000000000000000000000000000000000000"},
	{"1 (order 1)", "0100000000000000000000000000000000000000000000000000000000000000"},
	{"order 8 (a)", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"},
	{"order 8 (b)", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"},
	{"p-1 (order 2)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p, non-canonical 0", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p+1, non-canonical 1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
}

func TestKeysCheckPublicLowOrder(t *testing.T) {
	for _, lp := range idLowOrderPoints {
		// X25519 ignores the top bit (RFC 7748, section 5), so each point has
		// a second encoding with bit 255 set.
		for _, top := range []byte{0, 0x80} {
			p := PublicKey(idHex(t, lp.hex))
			p[31] |= top
			name := lp.name
			if top != 0 {
				name += ", bit 255 set"
			}
			t.Run(name, func(t *testing.T) {
				// Independent check that the point really is low order.
				k := idGenerate(t)
				if _, err := curve25519.X25519(k[:], p[:]); err == nil {
					t.Fatalf("curve25519 accepts %x: not a low-order point", p)
				}
				if err := CheckPublic(p); !errors.Is(err, ErrLowOrder) {
					t.Errorf("CheckPublic(%x) = %v, want ErrLowOrder", p, err)
				}
				if _, err := idGenerate(t).SharedSecret(p); !errors.Is(err, ErrLowOrder) {
					t.Errorf("SharedSecret(%x) = %v, want ErrLowOrder", p, err)
				}
				if _, err := ParseRecipient(p.String()); !errors.Is(err, ErrLowOrder) {
					t.Errorf("ParseRecipient(%x) = %v, want ErrLowOrder", p, err)
				}
			})
		}
	}
}

func TestKeysCheckPublicAcceptsRandom(t *testing.T) {
	for range 100 {
		p := idGenerate(t).Public()
		if err := CheckPublic(p); err != nil {
			t.Fatalf("CheckPublic(%x) = %v", p, err)
		}
	}
	// Random bytes are almost never a low-order point (7 in 2^255 chance).
	var p PublicKey
	rand.Read(p[:])
	if err := CheckPublic(p); err != nil {
		t.Fatalf("CheckPublic(random %x) = %v", p, err)
	}
}

func TestKeysEqual(t *testing.T) {
	a, b := idGenerate(t).Public(), idGenerate(t).Public()
	if !a.Equal(a) || a.Equal(b) {
		t.Fatalf("Equal is wrong")
	}
	c := a
	c[31] ^= 1
	if a.Equal(c) {
		t.Fatalf("Equal ignores the last byte")
	}
}

func TestKeysGenerateShortRead(t *testing.T) {
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatalf("GenerateKey accepted 31 random bytes")
	}
}
