package crypto

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sender Keys, as in Signal's group protocol. Each member of a group owns a
// sending chain: a chain key advanced by HMAC-SHA256 at every message and
// an Ed25519 signing key. It hands the chain key and the signing public key
// to each member over their pairwise channel (a SenderKeyDistribution);
// then one encryption and one signature per message reach every member.
// Group members can decrypt each other's messages but cannot forge them:
// only the owner holds the signing key.

// Errors of the group protocol, besides ErrMalformed, ErrVersion, ErrAuth
// and ErrTooLarge.
var (
	// ErrBadSignature reports a group message whose signature does not
	// verify with the chain's signing key.
	ErrBadSignature = errors.New("crypto: bad group message signature")
	// ErrReplay reports a group message whose iteration was already opened
	// or whose key is no longer held (it predates the distribution, or
	// fell out of the window of skipped keys).
	ErrReplay = errors.New("crypto: group message iteration already used")
	// ErrTooFarAhead reports a group message more than MaxSkip iterations
	// ahead of the chain.
	ErrTooFarAhead = errors.New("crypto: group message too far ahead of its chain")
	// ErrWrongGroup reports a group message for another group than the
	// chain's.
	ErrWrongGroup = errors.New("crypto: group message for another group")
	// ErrWrongChain reports a group message for another chain, or a
	// distribution whose chain id does not match its contents.
	ErrWrongChain = errors.New("crypto: wrong sender key chain")
	// ErrWrongOwner reports a distribution received over the channel of
	// another peer than the chain's owner.
	ErrWrongOwner = errors.New("crypto: sender key distribution not from its owner")
	// ErrChainExhausted reports a sending chain that used all its
	// iterations; rotate it.
	ErrChainExhausted = errors.New("crypto: sending chain exhausted")
)

// GroupID is the random 128-bit identifier of a group.
type GroupID [16]byte

// ChainID identifies a sending chain: SHA-256 of "messagefs chain id v1",
// the owner's public key, the group id and the signing public key.
type ChainID [32]byte

// Sizes and limits of the group protocol.
const (
	// MaxGroupPlaintext is the largest plaintext of a group message: 64 KiB
	// of text and 256 bytes for a header the caller adds.
	MaxGroupPlaintext = 64<<10 + 256
	// MaxGroupMessage is the size of the largest group message, 65954
	// bytes. It fits in a pairwise envelope (MaxBody), for relays.
	MaxGroupMessage = MaxGroupPlaintext + groupOverhead

	// DefaultMaxSkip is the ReceiverOptions.MaxSkip used when it is zero.
	DefaultMaxSkip = 1000
	// MaxSkipLimit is the largest ReceiverOptions.MaxSkip.
	MaxSkipLimit = 1 << 14

	// header: version, kind, group id, chain id, iteration, nonce.
	groupHeaderSize = 2 + 16 + 32 + 4 + chacha20poly1305.NonceSizeX
	groupOverhead   = groupHeaderSize + 4 + chacha20poly1305.Overhead + ed25519.SignatureSize
)

// A relayed group message must fit in a pairwise envelope.
const _ uint = MaxBody - MaxGroupMessage

// GroupHeader is the cleartext header of a group message.
type GroupHeader struct {
	Group     GroupID
	Chain     ChainID
	Iteration uint32
}

// ParseGroupHeader returns the cleartext header of a group message, so that
// the receiver can find the chain to open it with. It checks the message's
// version, kind and length but not its signature: only
// ReceiverChain.Open does.
func ParseGroupHeader(msg []byte) (GroupHeader, error) {
	if err := checkPrefix(msg, kindGroup, "group message"); err != nil {
		return GroupHeader{}, err
	}
	if !isPaddedLen(len(msg)-groupOverhead, MaxGroupPlaintext) {
		return GroupHeader{}, fmt.Errorf("%w: group message of %d bytes is not one of the padded sizes", ErrMalformed, len(msg))
	}
	var h GroupHeader
	copy(h.Group[:], msg[2:18])
	copy(h.Chain[:], msg[18:50])
	h.Iteration = binary.BigEndian.Uint32(msg[50:54])
	if h.Iteration == math.MaxUint32 {
		// A chain stops one short of the last iteration, so that the
		// next one is always representable.
		return GroupHeader{}, fmt.Errorf("%w: iteration %d", ErrMalformed, h.Iteration)
	}
	return h, nil
}

func chainIDOf(owner PublicKey, group GroupID, signing ed25519.PublicKey) ChainID {
	h := sha256.New()
	h.Write([]byte("messagefs chain id v1"))
	h.Write(owner[:])
	h.Write(group[:])
	h.Write(signing)
	return ChainID(h.Sum(nil))
}

// chainStep returns the message key of the iteration whose chain key is ck,
// and the chain key of the next iteration.
func chainStep(ck *[32]byte) (mk, next [32]byte) {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{0x01})
	m.Sum(mk[:0])
	m.Reset()
	m.Write([]byte{0x02})
	m.Sum(next[:0])
	return mk, next
}

// A SenderChain is our sending chain in one group.
//
// A group message is
//
//	version (1) | kind = 2 (1) | group id (16) | chain id (32) |
//	iteration (4) | nonce (24) |
//	XChaCha20-Poly1305(plaintext length (4) | plaintext | zero padding) |
//	Ed25519 signature (64)
//
// with integers big-endian and the plaintext padded to a size bucket (see
// MaxGroupMessage). The AEAD key is the iteration's message key, its
// associated data the 78 header bytes before the ciphertext, and the
// signature covers everything before it.
//
// Seal advances the chain: persist MarshalBinary's state after Seal and
// before sending, so that a crash never reuses an iteration. A SenderChain
// is not safe for concurrent use.
type SenderChain struct {
	group     GroupID
	owner     PublicKey
	id        ChainID
	iteration uint32
	chainKey  [32]byte
	signing   ed25519.PrivateKey
}

// NewSenderChain returns a new sending chain of owner in group, at
// iteration 0, with a random chain key and signing key read from rand.
func NewSenderChain(rand io.Reader, group GroupID, owner PublicKey) (*SenderChain, error) {
	var secrets [32 + ed25519.SeedSize]byte
	if _, err := io.ReadFull(rand, secrets[:]); err != nil {
		return nil, fmt.Errorf("crypto: reading random chain keys: %w", err)
	}
	defer clear(secrets[:])
	return newSenderChain(group, owner, 0, (*[32]byte)(secrets[:32]), secrets[32:]), nil
}

func newSenderChain(group GroupID, owner PublicKey, iteration uint32, chainKey *[32]byte, seed []byte) *SenderChain {
	c := &SenderChain{
		group:     group,
		owner:     owner,
		iteration: iteration,
		chainKey:  *chainKey,
		signing:   ed25519.NewKeyFromSeed(seed),
	}
	c.id = chainIDOf(owner, group, c.signingPublic())
	return c
}

func (c *SenderChain) signingPublic() ed25519.PublicKey {
	return ed25519.PublicKey(c.signing[ed25519.SeedSize:])
}

// Group returns the group of the chain.
func (c *SenderChain) Group() GroupID { return c.group }

// Owner returns the public key of the chain's owner.
func (c *SenderChain) Owner() PublicKey { return c.owner }

// ID returns the chain id.
func (c *SenderChain) ID() ChainID { return c.id }

// Iteration returns the iteration of the next message Seal produces, that is
// the number of messages sealed since the chain was created.
func (c *SenderChain) Iteration() uint32 { return c.iteration }

// Seal returns a group message carrying plaintext (at most
// MaxGroupPlaintext bytes), with a nonce read from rand, and advances the
// chain by one iteration. On error the chain does not change.
func (c *SenderChain) Seal(rand io.Reader, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxGroupPlaintext {
		return nil, fmt.Errorf("%w: group plaintext of %d bytes, the limit is %d", ErrTooLarge, len(plaintext), MaxGroupPlaintext)
	}
	if c.iteration == math.MaxUint32 {
		return nil, ErrChainExhausted
	}

	padded := paddedLen(len(plaintext), MaxGroupPlaintext)
	msg := make([]byte, groupOverhead+padded)
	msg[0], msg[1] = formatVersion, kindGroup
	copy(msg[2:], c.group[:])
	copy(msg[18:], c.id[:])
	binary.BigEndian.PutUint32(msg[50:], c.iteration)
	nonce := msg[54:groupHeaderSize]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("crypto: reading random nonce: %w", err)
	}

	pt := msg[groupHeaderSize : groupHeaderSize+4+padded]
	binary.BigEndian.PutUint32(pt, uint32(len(plaintext)))
	copy(pt[4:], plaintext)

	mk, next := chainStep(&c.chainKey)
	defer clear(mk[:])
	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: group cipher: %w", err)
	}
	aead.Seal(pt[:0], nonce, pt, msg[:groupHeaderSize])
	sigAt := len(msg) - ed25519.SignatureSize
	copy(msg[sigAt:], ed25519.Sign(c.signing, msg[:sigAt]))

	c.chainKey = next
	c.iteration++
	return msg, nil
}

// Distribution returns what a member needs to open the chain's messages
// from the current iteration on. It holds the chain key: send it only over
// the pairwise channel of a member.
func (c *SenderChain) Distribution() SenderKeyDistribution {
	return SenderKeyDistribution{
		Group:         c.group,
		Owner:         c.owner,
		Chain:         c.id,
		Iteration:     c.iteration,
		ChainKey:      c.chainKey,
		SigningPublic: slices.Clone(c.signingPublic()),
	}
}

const senderStateSize = 2 + 16 + KeySize + 4 + 32 + ed25519.SeedSize

// MarshalBinary returns the chain's state, secrets included, for the store
// to keep encrypted:
//
//	version (1) | kind = 4 (1) | group id (16) | owner (32) |
//	iteration (4) | chain key (32) | signing key seed (32)
func (c *SenderChain) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, senderStateSize)
	b = append(b, formatVersion, kindSenderState)
	b = append(b, c.group[:]...)
	b = append(b, c.owner[:]...)
	b = binary.BigEndian.AppendUint32(b, c.iteration)
	b = append(b, c.chainKey[:]...)
	b = append(b, c.signing.Seed()...)
	return b, nil
}

// UnmarshalBinary restores a state written by MarshalBinary into c. On
// error c does not change.
func (c *SenderChain) UnmarshalBinary(b []byte) error {
	if err := checkPrefix(b, kindSenderState, "sender chain state"); err != nil {
		return err
	}
	if len(b) != senderStateSize {
		return fmt.Errorf("%w: sender chain state of %d bytes, want %d", ErrMalformed, len(b), senderStateSize)
	}
	var (
		group GroupID
		owner PublicKey
	)
	copy(group[:], b[2:18])
	copy(owner[:], b[18:50])
	iteration := binary.BigEndian.Uint32(b[50:54])
	*c = *newSenderChain(group, owner, iteration, (*[32]byte)(b[54:86]), b[86:])
	return nil
}

// SenderKeyDistribution hands a sending chain to a group member. It is sent
// over the pairwise channel of the member, which authenticates it: the
// receiver must call Verify with the channel's peer before using it.
type SenderKeyDistribution struct {
	Group     GroupID
	Owner     PublicKey
	Chain     ChainID
	Iteration uint32
	// ChainKey is the chain key of Iteration. It is secret.
	ChainKey      [32]byte
	SigningPublic ed25519.PublicKey
}

const distributionSize = 2 + 16 + KeySize + 32 + 4 + 32 + ed25519.PublicKeySize

// Verify checks that d came over the pairwise channel of its owner
// (ErrWrongOwner otherwise) and that its chain id is the one of its owner,
// group and signing key (ErrWrongChain otherwise).
func (d SenderKeyDistribution) Verify(channelPeer PublicKey) error {
	if !d.Owner.Equal(channelPeer) {
		return ErrWrongOwner
	}
	return d.check()
}

func (d SenderKeyDistribution) check() error {
	if len(d.SigningPublic) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: signing public key of %d bytes", ErrMalformed, len(d.SigningPublic))
	}
	if chainIDOf(d.Owner, d.Group, d.SigningPublic) != d.Chain {
		return ErrWrongChain
	}
	return nil
}

// MarshalBinary encodes d:
//
//	version (1) | kind = 3 (1) | group id (16) | owner (32) | chain id (32) |
//	iteration (4) | chain key (32) | signing public key (32)
func (d SenderKeyDistribution) MarshalBinary() ([]byte, error) {
	if len(d.SigningPublic) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: signing public key of %d bytes", ErrMalformed, len(d.SigningPublic))
	}
	b := make([]byte, 0, distributionSize)
	b = append(b, formatVersion, kindDistribution)
	b = append(b, d.Group[:]...)
	b = append(b, d.Owner[:]...)
	b = append(b, d.Chain[:]...)
	b = binary.BigEndian.AppendUint32(b, d.Iteration)
	b = append(b, d.ChainKey[:]...)
	b = append(b, d.SigningPublic...)
	return b, nil
}

// ParseSenderKeyDistribution decodes a distribution written by
// MarshalBinary. It checks the format only: call Verify.
func ParseSenderKeyDistribution(b []byte) (SenderKeyDistribution, error) {
	if err := checkPrefix(b, kindDistribution, "sender key distribution"); err != nil {
		return SenderKeyDistribution{}, err
	}
	if len(b) != distributionSize {
		return SenderKeyDistribution{}, fmt.Errorf("%w: sender key distribution of %d bytes, want %d", ErrMalformed, len(b), distributionSize)
	}
	var d SenderKeyDistribution
	copy(d.Group[:], b[2:18])
	copy(d.Owner[:], b[18:50])
	copy(d.Chain[:], b[50:82])
	d.Iteration = binary.BigEndian.Uint32(b[82:86])
	copy(d.ChainKey[:], b[86:118])
	d.SigningPublic = slices.Clone(b[118:150])
	return d, nil
}

// ReceiverOptions configures a ReceiverChain.
type ReceiverOptions struct {
	// MaxSkip bounds how far ahead of the chain a message may be, and how
	// many skipped message keys are kept for messages that arrive out of
	// order (the oldest go first). Zero means DefaultMaxSkip; at most
	// MaxSkipLimit.
	MaxSkip int
}

// A ReceiverChain opens the group messages of another member's chain. It
// is not safe for concurrent use.
type ReceiverChain struct {
	group   GroupID
	owner   PublicKey
	id      ChainID
	signing ed25519.PublicKey
	// iteration is the iteration of chainKey, the next one not yet seen.
	iteration uint32
	chainKey  [32]byte
	maxSkip   int
	// skipped holds the message keys of iterations below iteration not
	// yet opened, in increasing order of iteration, at most maxSkip.
	skipped []skippedKey
}

type skippedKey struct {
	iteration uint32
	key       [32]byte
}

// NewReceiverChain returns a chain that opens messages from d.Iteration
// on. d must have passed Verify; NewReceiverChain checks its chain id again
// (ErrWrongChain).
func NewReceiverChain(d SenderKeyDistribution, opts ReceiverOptions) (*ReceiverChain, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	maxSkip := opts.MaxSkip
	if maxSkip == 0 {
		maxSkip = DefaultMaxSkip
	}
	if maxSkip < 0 || maxSkip > MaxSkipLimit {
		return nil, fmt.Errorf("%w: MaxSkip %d outside [0, %d]", ErrMalformed, opts.MaxSkip, MaxSkipLimit)
	}
	return &ReceiverChain{
		group:     d.Group,
		owner:     d.Owner,
		id:        d.Chain,
		signing:   slices.Clone(d.SigningPublic),
		iteration: d.Iteration,
		chainKey:  d.ChainKey,
		maxSkip:   maxSkip,
	}, nil
}

// Group returns the group of the chain.
func (r *ReceiverChain) Group() GroupID { return r.group }

// Owner returns the public key of the chain's owner.
func (r *ReceiverChain) Owner() PublicKey { return r.owner }

// ID returns the chain id.
func (r *ReceiverChain) ID() ChainID { return r.id }

// Iteration returns the lowest iteration not yet opened, except for
// skipped ones that are still held.
func (r *ReceiverChain) Iteration() uint32 { return r.iteration }

// Open verifies and decrypts a group message of the chain and returns its
// plaintext. It checks the group (ErrWrongGroup) and chain (ErrWrongChain),
// then verifies the signature (ErrBadSignature) before it looks at the
// iteration or decrypts anything. It refuses an iteration already opened
// (ErrReplay) or more than MaxSkip ahead (ErrTooFarAhead), and opens a
// message that arrives out of order with the skipped key kept for it, which
// it then deletes. On error the chain does not change.
func (r *ReceiverChain) Open(msg []byte) ([]byte, error) {
	h, err := ParseGroupHeader(msg)
	if err != nil {
		return nil, err
	}
	if h.Group != r.group {
		return nil, ErrWrongGroup
	}
	if h.Chain != r.id {
		return nil, ErrWrongChain
	}
	sigAt := len(msg) - ed25519.SignatureSize
	if !ed25519.Verify(r.signing, msg[:sigAt], msg[sigAt:]) {
		return nil, ErrBadSignature
	}

	var (
		mk, next  [32]byte
		skipIndex = -1
		skipped   []skippedKey
	)
	switch {
	case h.Iteration < r.iteration:
		i, ok := slices.BinarySearchFunc(r.skipped, h.Iteration, func(s skippedKey, it uint32) int {
			return cmpUint32(s.iteration, it)
		})
		if !ok {
			return nil, fmt.Errorf("%w: iteration %d, the chain is at %d", ErrReplay, h.Iteration, r.iteration)
		}
		mk, skipIndex = r.skipped[i].key, i
	case uint64(h.Iteration) > uint64(r.iteration)+uint64(r.maxSkip):
		return nil, fmt.Errorf("%w: iteration %d, the chain is at %d", ErrTooFarAhead, h.Iteration, r.iteration)
	default:
		ck := r.chainKey
		for it := r.iteration; it < h.Iteration; it++ {
			var k [32]byte
			k, ck = chainStep(&ck)
			skipped = append(skipped, skippedKey{it, k})
		}
		mk, next = chainStep(&ck)
		clear(ck[:])
	}
	defer clear(mk[:])

	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: group cipher: %w", err)
	}
	pt, err := aead.Open(nil, msg[54:groupHeaderSize], msg[groupHeaderSize:sigAt], msg[:groupHeaderSize])
	if err != nil {
		// The owner signed a message that does not decrypt: its bug.
		return nil, ErrAuth
	}
	padded := len(pt) - 4
	n := int(binary.BigEndian.Uint32(pt))
	if n > padded || paddedLen(n, MaxGroupPlaintext) != padded || !isZero(pt[4+n:]) {
		return nil, fmt.Errorf("%w: group plaintext of %d bytes in %d", ErrMalformed, n, padded)
	}

	// Success: commit.
	if skipIndex >= 0 {
		r.skipped = slices.Delete(r.skipped, skipIndex, skipIndex+1)
	} else {
		r.skipped = append(r.skipped, skipped...)
		if drop := len(r.skipped) - r.maxSkip; drop > 0 {
			clear(r.skipped[:drop])
			r.skipped = slices.Delete(r.skipped, 0, drop)
		}
		r.chainKey = next
		r.iteration = h.Iteration + 1
	}
	return pt[4 : 4+n : 4+n], nil
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

const (
	receiverStateSize = 2 + 16 + KeySize + ed25519.PublicKeySize + 4 + 32 + 4 + 4
	skippedKeySize    = 4 + 32
)

// MarshalBinary returns the chain's state, secrets included, for the store
// to keep encrypted:
//
//	version (1) | kind = 5 (1) | group id (16) | owner (32) |
//	signing public key (32) | iteration (4) | chain key (32) | max skip (4) |
//	skipped count (4) | count × (iteration (4) | message key (32))
//
// with skipped keys in increasing order of iteration.
func (r *ReceiverChain) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, receiverStateSize+len(r.skipped)*skippedKeySize)
	b = append(b, formatVersion, kindReceiverState)
	b = append(b, r.group[:]...)
	b = append(b, r.owner[:]...)
	b = append(b, r.signing...)
	b = binary.BigEndian.AppendUint32(b, r.iteration)
	b = append(b, r.chainKey[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(r.maxSkip))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.skipped)))
	for _, s := range r.skipped {
		b = binary.BigEndian.AppendUint32(b, s.iteration)
		b = append(b, s.key[:]...)
	}
	return b, nil
}

// UnmarshalBinary restores a state written by MarshalBinary into r. On
// error r does not change.
func (r *ReceiverChain) UnmarshalBinary(b []byte) error {
	if err := checkPrefix(b, kindReceiverState, "receiver chain state"); err != nil {
		return err
	}
	if len(b) < receiverStateSize {
		return fmt.Errorf("%w: receiver chain state of %d bytes", ErrMalformed, len(b))
	}
	s := ReceiverChain{signing: slices.Clone(b[50:82])}
	copy(s.group[:], b[2:18])
	copy(s.owner[:], b[18:50])
	s.iteration = binary.BigEndian.Uint32(b[82:86])
	copy(s.chainKey[:], b[86:118])
	maxSkip := binary.BigEndian.Uint32(b[118:122])
	count := binary.BigEndian.Uint32(b[122:126])
	if maxSkip < 1 || maxSkip > MaxSkipLimit || count > maxSkip {
		return fmt.Errorf("%w: receiver chain state with max skip %d and %d skipped keys", ErrMalformed, maxSkip, count)
	}
	s.maxSkip = int(maxSkip)
	if len(b) != receiverStateSize+int(count)*skippedKeySize {
		return fmt.Errorf("%w: receiver chain state of %d bytes with %d skipped keys", ErrMalformed, len(b), count)
	}
	s.skipped = make([]skippedKey, count)
	rest := b[receiverStateSize:]
	for i := range s.skipped {
		k := &s.skipped[i]
		k.iteration = binary.BigEndian.Uint32(rest)
		copy(k.key[:], rest[4:skippedKeySize])
		rest = rest[skippedKeySize:]
		if k.iteration >= s.iteration || i > 0 && k.iteration <= s.skipped[i-1].iteration {
			return fmt.Errorf("%w: receiver chain state with skipped iteration %d out of order", ErrMalformed, k.iteration)
		}
	}
	s.id = chainIDOf(s.owner, s.group, s.signing)
	*r = s
	return nil
}
