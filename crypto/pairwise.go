package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
)

// Every byte string this package produces or parses starts with a version
// byte and a kind byte, and has fixed-size fields that are checked before
// they are used.
const (
	formatVersion = 1

	kindPairwise      = 1 // pairwise envelope (Pairwise.Seal)
	kindGroup         = 2 // group message (SenderChain.Seal)
	kindDistribution  = 3 // SenderKeyDistribution.MarshalBinary
	kindSenderState   = 4 // SenderChain.MarshalBinary
	kindReceiverState = 5 // ReceiverChain.MarshalBinary
)

// Errors of the envelope, group message and state parsers. They are
// returned wrapped with details: test them with errors.Is.
var (
	// ErrMalformed reports input that does not follow its format: a wrong
	// kind, length or field, or, from a Seal, a header that cannot be
	// encoded.
	ErrMalformed = errors.New("crypto: malformed input")
	// ErrVersion reports input of an unknown format version.
	ErrVersion = errors.New("crypto: unsupported format version")
	// ErrAuth reports a ciphertext that failed authentication: it was
	// modified, or sealed with another key.
	ErrAuth = errors.New("crypto: message authentication failed")
	// ErrTooLarge reports a body larger than its format allows.
	ErrTooLarge = errors.New("crypto: message too large")
	// ErrWrongRecipient reports a pairwise envelope addressed to another
	// key than ours.
	ErrWrongRecipient = errors.New("crypto: envelope is addressed to another key")
	// ErrWrongSender reports a pairwise envelope whose sender is not the
	// peer of the channel it was opened with.
	ErrWrongSender = errors.New("crypto: envelope is from another key than the channel's peer")
	// ErrReflected reports one of our own envelopes sent back to us.
	ErrReflected = errors.New("crypto: envelope is our own, reflected back")
	// ErrSelfPeer reports a pairwise channel to our own key.
	ErrSelfPeer = errors.New("crypto: peer key is our own key")
)

// MessageType says what a pairwise envelope carries.
type MessageType uint8

const (
	// TypeMessage is a conversation message (UTF-8 text).
	TypeMessage MessageType = 1 + iota
	// TypeAck acknowledges a received envelope.
	TypeAck
	// TypeMembership announces a group membership change.
	TypeMembership
	// TypeSenderKey carries a SenderKeyDistribution.
	TypeSenderKey
	// TypeReceipt is a delivery receipt for a group message.
	TypeReceipt
	// TypeGroupRelay carries a group message re-sent pairwise to a member
	// that missed it.
	TypeGroupRelay
)

func (t MessageType) valid() bool { return t >= TypeMessage && t <= TypeGroupRelay }

// String returns the lower-case name of t, for logs.
func (t MessageType) String() string {
	switch t {
	case TypeMessage:
		return "message"
	case TypeAck:
		return "ack"
	case TypeMembership:
		return "membership"
	case TypeSenderKey:
		return "sender-key"
	case TypeReceipt:
		return "receipt"
	case TypeGroupRelay:
		return "group-relay"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// MessageID identifies a message across retransmissions.
type MessageID [16]byte

// NewMessageID returns a random MessageID read from rand.
func NewMessageID(rand io.Reader) (MessageID, error) {
	var id MessageID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return MessageID{}, fmt.Errorf("crypto: reading random message id: %w", err)
	}
	return id, nil
}

// String returns id as 32 lower-case hexadecimal digits.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// Header is the authenticated inner header of a pairwise envelope.
type Header struct {
	Type MessageType
	// Seq is the sequence number of the envelope in its direction, see
	// CheckSeq.
	Seq uint64
	ID  MessageID
	// Time is the send time as the sender's clock saw it. It travels as
	// Unix nanoseconds, so it must lie between the years 1678 and 2262, and
	// Open returns it in UTC.
	Time time.Time
}

// Sizes of the pairwise envelope.
const (
	nonceSize = 24
	// outer header: version, kind, sender, recipient, nonce.
	pairwiseOuterSize = 2 + 2*KeySize + nonceSize
	// inner header: type, seq, id, time, body length.
	pairwiseInnerSize = 1 + 8 + 16 + 8 + 4
	pairwiseOverhead  = pairwiseOuterSize + secretbox.Overhead + pairwiseInnerSize

	// MaxBody is the largest body of a pairwise envelope: 64 KiB of text,
	// or a group message of up to MaxGroupMessage bytes relayed pairwise
	// (TypeGroupRelay), with room to spare.
	MaxBody = 64<<10 + 1024
	// MaxEnvelope is the size of the largest pairwise envelope, 66703
	// bytes: MaxBody plus 143 bytes of headers and authenticator.
	// Envelopes come in six sizes only, each a padding bucket plus those
	// 143 bytes: 399, 1167, 4239, 16527, 65679 and 66703.
	MaxEnvelope = MaxBody + pairwiseOverhead
)

// A Pairwise is the encrypted channel between our key and one peer. It
// holds a key for each direction, so an envelope we sealed cannot be
// opened by us: a message reflected back to its sender fails.
//
// An envelope is
//
//	version (1) | kind = 1 (1) | sender (32) | recipient (32) | nonce (24) |
//	secretbox(type (1) | seq (8) | id (16) | time (8) | body length (4) |
//	          body | zero padding)
//
// with integers big-endian and the body padded to a size bucket (see
// MaxEnvelope). The box is NaCl's XSalsa20-Poly1305 under the key
//
//	HKDF-SHA256(ikm = X25519(sender, recipient),
//	            salt = the two public keys, smaller first,
//	            info = "messagefs pairwise v1" || sender || recipient)
//
// The cleartext header is bound to the ciphertext without a copy of it: the
// version and kind select the HKDF label (only version 1 pairwise exists),
// sender and recipient are the HKDF info, so any other header derives
// another key, and the nonce is authenticated by secretbox itself.
//
// A Pairwise has no mutable state and is safe for concurrent use.
type Pairwise struct {
	self, peer PublicKey
	send, recv [32]byte
}

// NewPairwise returns the channel between self and peer. It refuses a
// low-order peer key (ErrLowOrder) and our own public key (ErrSelfPeer).
func NewPairwise(self PrivateKey, peer PublicKey) (*Pairwise, error) {
	pub := self.Public()
	shared, err := self.SharedSecret(peer)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	if pub.Equal(peer) {
		return nil, ErrSelfPeer
	}
	p := &Pairwise{self: pub, peer: peer}
	if err := pairwiseKey(&p.send, shared, pub, peer); err != nil {
		return nil, err
	}
	if err := pairwiseKey(&p.recv, shared, peer, pub); err != nil {
		return nil, err
	}
	return p, nil
}

// pairwiseKey derives the key of the direction from sender to recipient.
func pairwiseKey(dst *[32]byte, shared []byte, sender, recipient PublicKey) error {
	lo, hi := sender, recipient
	if bytes.Compare(lo[:], hi[:]) > 0 {
		lo, hi = hi, lo
	}
	salt := append(lo[:], hi[:]...)
	info := "messagefs pairwise v1" + string(sender[:]) + string(recipient[:])
	k, err := hkdf.Key(sha256.New, shared, salt, info, len(dst))
	if err != nil {
		return fmt.Errorf("crypto: deriving pairwise key: %w", err)
	}
	copy(dst[:], k)
	clear(k)
	return nil
}

// Peer returns the public key of the peer.
func (p *Pairwise) Peer() PublicKey { return p.peer }

// Seal returns an envelope from us to the peer carrying h and body, with a
// nonce read from rand. body may be empty and at most MaxBody bytes long.
func (p *Pairwise) Seal(rand io.Reader, h Header, body []byte) ([]byte, error) {
	if !h.Type.valid() {
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, uint8(h.Type))
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: body of %d bytes, the limit is %d", ErrTooLarge, len(body), MaxBody)
	}
	ns, err := unixNano(h.Time)
	if err != nil {
		return nil, err
	}

	innerLen := pairwiseInnerSize + paddedLen(len(body), MaxBody)
	envLen := pairwiseOuterSize + secretbox.Overhead + innerLen
	// One allocation: the envelope, then the plaintext (wiped after use).
	buf := make([]byte, envLen+innerLen)
	env, inner := buf[:envLen:envLen], buf[envLen:]

	env[0], env[1] = formatVersion, kindPairwise
	copy(env[2:], p.self[:])
	copy(env[2+KeySize:], p.peer[:])
	nonce := (*[nonceSize]byte)(env[2+2*KeySize : pairwiseOuterSize])
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("crypto: reading random nonce: %w", err)
	}

	inner[0] = byte(h.Type)
	binary.BigEndian.PutUint64(inner[1:], h.Seq)
	copy(inner[9:], h.ID[:])
	binary.BigEndian.PutUint64(inner[25:], uint64(ns))
	binary.BigEndian.PutUint32(inner[33:], uint32(len(body)))
	copy(inner[pairwiseInnerSize:], body)

	secretbox.Seal(env[:pairwiseOuterSize], inner, nonce, &p.send)
	clear(inner)
	return env, nil
}

// unixNano returns t in Unix nanoseconds, or ErrMalformed when it does not
// fit an int64.
func unixNano(t time.Time) (int64, error) {
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) {
		return 0, fmt.Errorf("%w: time %v cannot be encoded as Unix nanoseconds", ErrMalformed, t)
	}
	return ns, nil
}

// Open authenticates and decrypts an envelope from the peer to us. It
// returns ErrReflected for one of our own envelopes sent back to us,
// ErrWrongRecipient or ErrWrongSender for an envelope of another channel,
// ErrAuth when authentication fails, and ErrMalformed or ErrVersion for
// anything that is not a well-formed envelope. The body is a new slice.
func (p *Pairwise) Open(env []byte) (Header, []byte, error) {
	o, err := parseOuter(env)
	if err != nil {
		return Header{}, nil, err
	}
	switch {
	case o.sender.Equal(p.self) && o.recipient.Equal(p.peer):
		return Header{}, nil, ErrReflected
	case !o.recipient.Equal(p.self):
		return Header{}, nil, ErrWrongRecipient
	case !o.sender.Equal(p.peer):
		return Header{}, nil, ErrWrongSender
	}
	inner, ok := secretbox.Open(nil, o.box, o.nonce, &p.recv)
	if !ok {
		return Header{}, nil, ErrAuth
	}

	// The plaintext is authentic: from here on, anything wrong is the
	// peer's bug, not an attack, but it is refused all the same.
	padded := len(inner) - pairwiseInnerSize
	h := Header{
		Type: MessageType(inner[0]),
		Seq:  binary.BigEndian.Uint64(inner[1:]),
		Time: time.Unix(0, int64(binary.BigEndian.Uint64(inner[25:]))).UTC(),
	}
	copy(h.ID[:], inner[9:25])
	n := int(binary.BigEndian.Uint32(inner[33:]))
	switch {
	case !h.Type.valid():
		return Header{}, nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, uint8(h.Type))
	case n > padded || paddedLen(n, MaxBody) != padded:
		return Header{}, nil, fmt.Errorf("%w: body length %d in an envelope of %d bytes", ErrMalformed, n, len(env))
	case !isZero(inner[pairwiseInnerSize+n:]):
		return Header{}, nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
	}
	return h, inner[pairwiseInnerSize : pairwiseInnerSize+n : pairwiseInnerSize+n], nil
}

// PeekSender returns the sender public key that a pairwise envelope claims,
// so that the receiver can find the channel to open it with. The claim is
// not authenticated: only Open proves it. PeekSender checks the envelope's
// version, kind and length as Open does.
func PeekSender(env []byte) (PublicKey, error) {
	o, err := parseOuter(env)
	if err != nil {
		return PublicKey{}, err
	}
	return o.sender, nil
}

type outer struct {
	sender, recipient PublicKey
	nonce             *[nonceSize]byte
	box               []byte
}

// parseOuter checks and splits the cleartext part of a pairwise envelope.
func parseOuter(env []byte) (outer, error) {
	if err := checkPrefix(env, kindPairwise, "pairwise envelope"); err != nil {
		return outer{}, err
	}
	if !isPaddedLen(len(env)-pairwiseOverhead, MaxBody) {
		return outer{}, fmt.Errorf("%w: pairwise envelope of %d bytes is not one of the padded sizes", ErrMalformed, len(env))
	}
	var o outer
	copy(o.sender[:], env[2:])
	copy(o.recipient[:], env[2+KeySize:])
	o.nonce = (*[nonceSize]byte)(env[2+2*KeySize : pairwiseOuterSize])
	o.box = env[pairwiseOuterSize:]
	return o, nil
}

// checkPrefix checks the version and kind bytes that start every format.
func checkPrefix(b []byte, kind byte, what string) error {
	switch {
	case len(b) < 2:
		return fmt.Errorf("%w: %s of %d bytes", ErrMalformed, what, len(b))
	case b[0] != formatVersion:
		return fmt.Errorf("%w: %s version %d, want %d", ErrVersion, what, b[0], formatVersion)
	case b[1] != kind:
		return fmt.Errorf("%w: kind %d, want %d (%s)", ErrMalformed, b[1], kind, what)
	}
	return nil
}
