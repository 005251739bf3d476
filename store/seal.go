package store

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// keySize is the size of the database key and of conversation keys.
	keySize = 32

	// sealVersion is the first byte of every sealed value.
	sealVersion = 1

	// nameSize is the size of a hashed bucket key (truncated HMAC-SHA256).
	nameSize = 16

	nonceSize   = chacha20poly1305.NonceSizeX
	sealedExtra = 1 + nonceSize + chacha20poly1305.Overhead
)

// Labels for associated data and name hashing. Each kind of value or name
// has its own, so a value of one kind never authenticates as another.
const (
	labelEntry      = "entry"
	labelOutbox     = "outbox"
	labelCounter    = "counter"
	labelSecret     = "secret"
	labelConv       = "conv"
	labelMsgID      = "msgid"
	labelOutboxID   = "outbox-id"
	labelConvRecord = "conv-record"
	labelSend       = "send"
	labelDelivered  = "delivered"
)

// rootKeys are the keys derived from the database key. They never change
// while a Store is open.
type rootKeys struct {
	values cipher.AEAD // seals every value that has no conversation key
	names  sync.Pool   // of hash.Hash: HMAC-SHA256 under the name key
}

// newRootKeys derives the value and name keys from the database key.
func newRootKeys(dbKey []byte) (*rootKeys, error) {
	vk, err := hkdf.Key(sha256.New, dbKey, nil, "messagefs store v1 values", keySize)
	if err != nil {
		return nil, fmt.Errorf("store: deriving value key: %w", err)
	}
	nk, err := hkdf.Key(sha256.New, dbKey, nil, "messagefs store v1 names", keySize)
	if err != nil {
		return nil, fmt.Errorf("store: deriving name key: %w", err)
	}
	values, err := chacha20poly1305.NewX(vk)
	if err != nil {
		return nil, fmt.Errorf("store: value cipher: %w", err)
	}
	k := &rootKeys{values: values}
	k.names.New = func() any { return hmac.New(sha256.New, nk) }
	return k, nil
}

// name returns the bucket key for s: HMAC-SHA256 under the name key of
// label, a zero byte, prefix and s, truncated to nameSize bytes.
func (k *rootKeys) name(label string, prefix []byte, s string) []byte {
	m := k.names.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(prefix)
	m.Write([]byte(s))
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	k.names.Put(m)
	return append([]byte(nil), out[:nameSize]...)
}

// assoc builds associated data: label, a zero byte, then the parts.
func assoc(label string, parts ...[]byte) []byte {
	n := len(label) + 1
	for _, p := range parts {
		n += len(p)
	}
	ad := make([]byte, 0, n)
	ad = append(ad, label...)
	ad = append(ad, 0)
	for _, p := range parts {
		ad = append(ad, p...)
	}
	return ad
}

// seal encrypts plaintext with a random nonce:
// version (1 byte) || nonce (24 bytes) || ciphertext and tag.
func seal(a cipher.AEAD, ad, plaintext []byte) []byte {
	out := make([]byte, 1+nonceSize, sealedExtra+len(plaintext))
	out[0] = sealVersion
	rand.Read(out[1 : 1+nonceSize]) // never fails (crypto/rand, Go >= 1.24)
	return a.Seal(out, out[1:1+nonceSize], plaintext, ad)
}

// open authenticates and decrypts a value made by seal. Every failure wraps
// ErrCorrupt.
func open(a cipher.AEAD, ad, sealed []byte) ([]byte, error) {
	if len(sealed) < sealedExtra {
		return nil, fmt.Errorf("%w: sealed value of %d bytes is too short", ErrCorrupt, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown sealed value version %d", ErrCorrupt, sealed[0])
	}
	p, err := a.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return p, nil
}

// newConvAEAD returns the cipher for a conversation key.
func newConvAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: conversation key of %d bytes", ErrCorrupt, len(key))
	}
	return chacha20poly1305.NewX(key)
}

// u64 returns v as 8 big-endian bytes.
func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// randRead fills b from crypto/rand, which never fails (Go >= 1.24).
func randRead(b []byte) { rand.Read(b) }
