package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/chacha20poly1305"
	"pgregory.net/rapid"
)

var skGroup = GroupID{0: 0x67, 15: 0x01}

// skChain returns alice's deterministic sending chain in skGroup.
func skChain(t testing.TB, label string) *SenderChain {
	t.Helper()
	c, err := NewSenderChain(pwRand("chain "+label), skGroup, pwKey(t, label).Public())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// skReceiver returns a receiving chain for c, from its current iteration.
func skReceiver(t testing.TB, c *SenderChain, maxSkip int) *ReceiverChain {
	t.Helper()
	d := c.Distribution()
	if err := d.Verify(c.Owner()); err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiverChain(d, ReceiverOptions{MaxSkip: maxSkip})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func skSeal(t testing.TB, c *SenderChain, plaintext []byte) []byte {
	t.Helper()
	msg, err := c.Seal(pwRand(fmt.Sprint("nonce ", c.Iteration())), plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func skState(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// skErrors are every error ReceiverChain.Open may return.
var skErrors = []error{ErrMalformed, ErrVersion, ErrAuth, ErrBadSignature, ErrReplay, ErrTooFarAhead, ErrWrongGroup, ErrWrongChain}

func TestGroupRoundTrip(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	for i, tc := range []struct{ plaintext, msg int }{
		{0, 418}, {1, 418}, {256, 418}, {257, 1186}, {1024, 1186}, {1025, 4258},
		{16384, 16546}, {65536, 65698}, {65537, MaxGroupMessage}, {MaxGroupPlaintext, MaxGroupMessage},
	} {
		pt := pwBody(tc.plaintext)
		msg := skSeal(t, c, pt)
		if len(msg) != tc.msg || len(msg) > MaxBody {
			t.Errorf("plaintext of %d bytes: message of %d bytes, want %d", tc.plaintext, len(msg), tc.msg)
		}
		h, err := ParseGroupHeader(msg)
		if err != nil || h != (GroupHeader{skGroup, c.ID(), uint32(i)}) {
			t.Errorf("plaintext of %d bytes: header %+v, %v", tc.plaintext, h, err)
		}
		got, err := r.Open(msg)
		if err != nil {
			t.Fatalf("plaintext of %d bytes: %v", tc.plaintext, err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("plaintext of %d bytes: differs", tc.plaintext)
		}
		if r.Iteration() != uint32(i+1) || c.Iteration() != uint32(i+1) {
			t.Errorf("after message %d: sender at %d, receiver at %d", i, c.Iteration(), r.Iteration())
		}
	}
	if MaxGroupMessage != 65954 {
		t.Errorf("MaxGroupMessage = %d, the documented value is 65954", MaxGroupMessage)
	}
	if r.Group() != skGroup || r.Owner() != pwKey(t, "alice").Public() || r.ID() != c.ID() || c.Group() != skGroup {
		t.Error("receiver accessors disagree with the sender")
	}
	want := chainIDOf(c.Owner(), skGroup, c.signingPublic())
	if c.ID() != want {
		t.Error("chain id is not the hash of owner, group and signing key")
	}
}

func TestGroupChainsDiffer(t *testing.T) {
	a, b := skChain(t, "alice"), skChain(t, "alice")
	c, err := NewSenderChain(pwRand("another"), skGroup, a.Owner())
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != b.ID() {
		t.Fatal("deterministic chains differ")
	}
	if c.ID() == a.ID() || c.chainKey == a.chainKey {
		t.Error("two random chains share an id or a chain key")
	}
	other, err := NewSenderChain(pwRand("chain alice"), GroupID{1}, a.Owner())
	if err != nil {
		t.Fatal(err)
	}
	if other.ID() == a.ID() {
		t.Error("the chain id does not depend on the group")
	}
}

// TestGroupBitFlips flips every bit of every byte of a group message: each
// is rejected and leaves the receiver unchanged.
func TestGroupBitFlips(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	msg := skSeal(t, c, []byte("hello team"))
	before := skState(t, r)
	for i := range msg {
		for bit := range 8 {
			bad := slices.Clone(msg)
			bad[i] ^= 1 << bit
			if _, err := r.Open(bad); err == nil || !pwIsOneOf(err, skErrors) {
				t.Fatalf("byte %d bit %d flipped: Open error %v", i, bit, err)
			}
		}
	}
	if !bytes.Equal(skState(t, r), before) {
		t.Fatal("failed opens changed the receiver")
	}
	if got, err := r.Open(msg); err != nil || string(got) != "hello team" {
		t.Fatalf("the intact message after the flips: %q, %v", got, err)
	}
}

func TestGroupTruncation(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	msg := skSeal(t, c, pwBody(500))
	before := skState(t, r)
	for n := range len(msg) {
		want := ErrMalformed
		if n == 418 { // a legal size, but the signature is not there
			want = ErrBadSignature
		}
		if _, err := r.Open(msg[:n]); !errors.Is(err, want) {
			t.Fatalf("message truncated to %d bytes: %v, want %v", n, err, want)
		}
	}
	if _, err := r.Open(append(slices.Clone(msg), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("message extended by a byte: %v, want ErrMalformed", err)
	}
	if !bytes.Equal(skState(t, r), before) {
		t.Fatal("failed opens changed the receiver")
	}
}

func TestGroupPrefix(t *testing.T) {
	c := skChain(t, "alice")
	msg := skSeal(t, c, nil)
	for _, tc := range []struct {
		at   int
		val  byte
		want error
	}{{0, 0, ErrVersion}, {0, 2, ErrVersion}, {1, kindPairwise, ErrMalformed}, {1, 0, ErrMalformed}} {
		bad := slices.Clone(msg)
		bad[tc.at] = tc.val
		if _, err := ParseGroupHeader(bad); !errors.Is(err, tc.want) {
			t.Errorf("byte %d = %d: %v, want %v", tc.at, tc.val, err, tc.want)
		}
	}
	bad := slices.Clone(msg)
	copy(bad[50:54], []byte{0xff, 0xff, 0xff, 0xff})
	if _, err := ParseGroupHeader(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("iteration 2^32-1: %v, want ErrMalformed", err)
	}
}

// TestGroupSwappedIDs moves a message to another group or chain.
func TestGroupSwappedIDs(t *testing.T) {
	alice, bob := skChain(t, "alice"), skChain(t, "bob")
	ra, rb := skReceiver(t, alice, 0), skReceiver(t, bob, 0)
	msg := skSeal(t, alice, []byte("from alice"))

	otherGroup := slices.Clone(msg)
	otherGroup[2] ^= 0xff
	if _, err := ra.Open(otherGroup); !errors.Is(err, ErrWrongGroup) {
		t.Errorf("group id swapped: %v, want ErrWrongGroup", err)
	}
	// Bob's chain id on alice's message: bob's receiver finds its chain,
	// but bob's key does not verify alice's signature.
	bobs := slices.Clone(msg)
	id := bob.ID()
	copy(bobs[18:50], id[:])
	if _, err := ra.Open(bobs); !errors.Is(err, ErrWrongChain) {
		t.Errorf("chain id swapped, alice's receiver: %v, want ErrWrongChain", err)
	}
	if _, err := rb.Open(bobs); !errors.Is(err, ErrBadSignature) {
		t.Errorf("chain id swapped, bob's receiver: %v, want ErrBadSignature", err)
	}
	if _, err := rb.Open(msg); !errors.Is(err, ErrWrongChain) {
		t.Errorf("alice's message, bob's receiver: %v, want ErrWrongChain", err)
	}
	// A receiver of another group with alice's very chain id.
	d := alice.Distribution()
	d.Group = GroupID{9}
	if _, err := NewReceiverChain(d, ReceiverOptions{}); !errors.Is(err, ErrWrongChain) {
		t.Errorf("distribution moved to another group: %v, want ErrWrongChain", err)
	}
}

func TestGroupReplay(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	m0, m1, m2 := skSeal(t, c, []byte("0")), skSeal(t, c, []byte("1")), skSeal(t, c, []byte("2"))
	for _, step := range []struct {
		msg  []byte
		want error
	}{
		{m0, nil}, {m0, ErrReplay}, {m2, nil}, {m2, ErrReplay}, {m1, nil}, {m1, ErrReplay}, {m0, ErrReplay},
	} {
		before := skState(t, r)
		_, err := r.Open(step.msg)
		if !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
			t.Fatalf("open: %v, want %v", err, step.want)
		}
		if err != nil && !bytes.Equal(before, skState(t, r)) {
			t.Fatal("a refused message changed the receiver")
		}
	}
	if len(r.skipped) != 0 {
		t.Errorf("%d skipped keys left after every message was opened", len(r.skipped))
	}
}

func TestGroupOutOfOrder(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 5)
	var msgs [][]byte
	for i := range 12 {
		msgs = append(msgs, skSeal(t, c, []byte{byte(i)}))
	}
	open := func(i int, want error) {
		t.Helper()
		got, err := r.Open(msgs[i])
		if want != nil {
			if !errors.Is(err, want) {
				t.Fatalf("message %d: %v, want %v", i, err, want)
			}
			return
		}
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("message %d: %v, %v", i, got, err)
		}
	}
	open(6, ErrTooFarAhead) // 6 > 0 + 5
	open(5, nil)            // skips 0..4
	open(2, nil)
	open(0, nil)
	open(2, ErrReplay)
	open(11, nil) // skips 6..10: 1, 3, 4, 6..10 exceed 5 keys, the oldest go
	if r.Iteration() != 12 {
		t.Fatalf("receiver at %d, want 12", r.Iteration())
	}
	open(1, ErrReplay)
	open(3, ErrReplay)
	open(4, ErrReplay)
	for _, i := range []int{8, 6, 10, 7, 9} {
		open(i, nil)
	}
	if len(r.skipped) != 0 {
		t.Errorf("%d skipped keys left", len(r.skipped))
	}
}

// TestGroupForgery checks that a member who holds the chain key cannot
// write in another member's name.
func TestGroupForgery(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	msg := skSeal(t, c, []byte("genuine"))

	// Re-signed with another key.
	_, mallory, err := ed25519.GenerateKey(pwRand("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	resigned := slices.Clone(msg)
	sigAt := len(msg) - ed25519.SignatureSize
	copy(resigned[sigAt:], ed25519.Sign(mallory, msg[:sigAt]))
	if _, err := r.Open(resigned); !errors.Is(err, ErrBadSignature) {
		t.Errorf("re-signed message: %v, want ErrBadSignature", err)
	}

	// A member builds alice's chain from her distribution, with its own
	// signing key: valid encryption, wrong signature.
	d := c.Distribution()
	forger := newSenderChain(d.Group, d.Owner, d.Iteration, &d.ChainKey, mallory.Seed())
	forger.id = d.Chain
	forged := skSeal(t, forger, []byte("I am alice"))
	if _, err := r.Open(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged message: %v, want ErrBadSignature", err)
	}
	if _, err := r.Open(msg); err != nil {
		t.Errorf("the genuine message after the forgeries: %v", err)
	}
}

// TestGroupSignedGarbage checks the authentic but malformed cases: the
// owner signed a ciphertext that does not decrypt or whose content is bad.
func TestGroupSignedGarbage(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	resign := func(msg []byte) []byte {
		sigAt := len(msg) - ed25519.SignatureSize
		copy(msg[sigAt:], ed25519.Sign(c.signing, msg[:sigAt]))
		return msg
	}
	bad := skSeal(t, c, []byte("x"))
	bad[groupHeaderSize] ^= 1
	if _, err := r.Open(resign(bad)); !errors.Is(err, ErrAuth) {
		t.Errorf("signed ciphertext that does not decrypt: %v, want ErrAuth", err)
	}
	// Hand-made plaintexts under the right message keys.
	nonZero := make([]byte, 4+256)
	nonZero[3], nonZero[len(nonZero)-1] = 5, 1
	for _, tc := range []struct {
		name string
		pt   []byte
	}{
		{"length beyond the bucket", append([]byte{0, 0, 1, 1}, make([]byte, 256)...)},
		{"length of a smaller bucket", append([]byte{0, 0, 0, 10}, make([]byte, 1024)...)},
		{"huge length", append([]byte{0xff, 0xff, 0xff, 0xff}, make([]byte, 256)...)},
		{"non-zero padding", nonZero},
	} {
		before := skState(t, r)
		if _, err := r.Open(skSealRaw(c, tc.pt)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
		if !bytes.Equal(before, skState(t, r)) {
			t.Errorf("%s: refused message changed the receiver", tc.name)
		}
	}
	if got, err := r.Open(skSealRaw(c, append([]byte{0, 0, 0, 2, 'o', 'k'}, make([]byte, 254)...))); err != nil || string(got) != "ok" {
		t.Errorf("well-formed hand-made message: %q, %v", got, err)
	}
}

// skSealRaw seals an arbitrary inner plaintext (length prefix and padding
// included) as c's next message.
func skSealRaw(c *SenderChain, pt []byte) []byte {
	msg := []byte{formatVersion, kindGroup}
	msg = append(msg, c.group[:]...)
	msg = append(msg, c.id[:]...)
	msg = append(msg, byte(c.iteration>>24), byte(c.iteration>>16), byte(c.iteration>>8), byte(c.iteration))
	msg = append(msg, make([]byte, chacha20poly1305.NonceSizeX)...)
	mk, next := chainStep(&c.chainKey)
	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		panic(err)
	}
	msg = aead.Seal(msg, msg[54:], pt, msg)
	msg = append(msg, ed25519.Sign(c.signing, msg)...)
	c.chainKey, c.iteration = next, c.iteration+1
	return msg
}

func TestSenderChainRefuses(t *testing.T) {
	c := skChain(t, "alice")
	if _, err := c.Seal(pwRand("n"), make([]byte, MaxGroupPlaintext+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("plaintext too large: %v, want ErrTooLarge", err)
	}
	if _, err := c.Seal(iotest.ErrReader(io.ErrUnexpectedEOF), nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("failing rand: %v", err)
	}
	if c.Iteration() != 0 {
		t.Fatalf("failed seals advanced the chain to %d", c.Iteration())
	}
	if _, err := NewSenderChain(iotest.ErrReader(io.ErrUnexpectedEOF), skGroup, c.Owner()); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewSenderChain with failing rand: %v", err)
	}

	// The last iteration is 2^32-2; then the chain is exhausted.
	c.iteration = math.MaxUint32 - 1
	r := skReceiver(t, c, 0)
	last := skSeal(t, c, []byte("last"))
	if got, err := r.Open(last); err != nil || string(got) != "last" {
		t.Errorf("last iteration: %q, %v", got, err)
	}
	if _, err := c.Seal(pwRand("n"), nil); !errors.Is(err, ErrChainExhausted) {
		t.Errorf("exhausted chain: %v, want ErrChainExhausted", err)
	}
}

func TestDistribution(t *testing.T) {
	c := skChain(t, "alice")
	skSeal(t, c, nil)
	skSeal(t, c, nil)
	d := c.Distribution()
	if d.Iteration != 2 || d.Group != skGroup || d.Chain != c.ID() || d.Owner != c.Owner() || d.ChainKey != c.chainKey {
		t.Fatalf("distribution %+v does not describe the chain", d)
	}
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSenderKeyDistribution(b)
	if err != nil || !skEqualDistribution(got, d) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := got.Verify(c.Owner()); err != nil {
		t.Errorf("Verify from the owner's channel: %v", err)
	}
	if err := got.Verify(pwKey(t, "mallory").Public()); !errors.Is(err, ErrWrongOwner) {
		t.Errorf("Verify from another channel: %v, want ErrWrongOwner", err)
	}

	// Tampered fields: the chain id no longer matches.
	for name, tamper := range map[string]func(*SenderKeyDistribution){
		"chain":   func(d *SenderKeyDistribution) { d.Chain[0] ^= 1 },
		"group":   func(d *SenderKeyDistribution) { d.Group[0] ^= 1 },
		"signing": func(d *SenderKeyDistribution) { d.SigningPublic[0] ^= 1 },
		"owner": func(d *SenderKeyDistribution) {
			d.Owner = pwKey(t, "mallory").Public()
		},
	} {
		bad := c.Distribution()
		tamper(&bad)
		if err := bad.Verify(bad.Owner); !errors.Is(err, ErrWrongChain) {
			t.Errorf("%s tampered: Verify = %v, want ErrWrongChain", name, err)
		}
		if _, err := NewReceiverChain(bad, ReceiverOptions{}); !errors.Is(err, ErrWrongChain) {
			t.Errorf("%s tampered: NewReceiverChain = %v, want ErrWrongChain", name, err)
		}
	}
	short := c.Distribution()
	short.SigningPublic = short.SigningPublic[:31]
	if _, err := short.MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Errorf("short signing key: MarshalBinary = %v", err)
	}
	if err := short.Verify(short.Owner); !errors.Is(err, ErrMalformed) {
		t.Errorf("short signing key: Verify = %v", err)
	}

	// Parsing: every other length, version and kind.
	for n := range len(b) + 2 {
		buf := append(slices.Clone(b), 0, 0)[:n]
		if _, err := ParseSenderKeyDistribution(buf); (err == nil) != (n == len(b)) || err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("distribution of %d bytes: %v", n, err)
		}
	}
	for _, tc := range []struct {
		at   int
		val  byte
		want error
	}{{0, 2, ErrVersion}, {1, kindGroup, ErrMalformed}} {
		bad := slices.Clone(b)
		bad[tc.at] = tc.val
		if _, err := ParseSenderKeyDistribution(bad); !errors.Is(err, tc.want) {
			t.Errorf("byte %d = %d: %v, want %v", tc.at, tc.val, err, tc.want)
		}
	}

	for _, n := range []int{-1, MaxSkipLimit + 1} {
		if _, err := NewReceiverChain(d, ReceiverOptions{MaxSkip: n}); !errors.Is(err, ErrMalformed) {
			t.Errorf("MaxSkip %d: %v, want ErrMalformed", n, err)
		}
	}
}

// TestDistributionMidChain gives a member the chain at iteration 2: it
// opens what follows, not what came before.
func TestDistributionMidChain(t *testing.T) {
	c := skChain(t, "alice")
	old := [][]byte{skSeal(t, c, []byte("0")), skSeal(t, c, []byte("1"))}
	r := skReceiver(t, c, 0)
	m2 := skSeal(t, c, []byte("2"))
	for i, m := range old {
		if _, err := r.Open(m); !errors.Is(err, ErrReplay) {
			t.Errorf("message %d before the distribution: %v, want ErrReplay", i, err)
		}
	}
	if got, err := r.Open(m2); err != nil || string(got) != "2" {
		t.Errorf("message 2: %q, %v", got, err)
	}
}

func skEqualDistribution(a, b SenderKeyDistribution) bool {
	return a.Group == b.Group && a.Owner == b.Owner && a.Chain == b.Chain && a.Iteration == b.Iteration &&
		a.ChainKey == b.ChainKey && bytes.Equal(a.SigningPublic, b.SigningPublic)
}

func TestSenderChainState(t *testing.T) {
	c := skChain(t, "alice")
	skSeal(t, c, nil)
	b := skState(t, c)
	if len(b) != senderStateSize {
		t.Fatalf("state of %d bytes", len(b))
	}
	var restored SenderChain
	if err := restored.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if restored.ID() != c.ID() || restored.Iteration() != 1 || restored.Owner() != c.Owner() || restored.Group() != c.Group() {
		t.Fatal("restored chain differs")
	}
	// Both continue identically.
	if !bytes.Equal(skSeal(t, &restored, []byte("x")), skSeal(t, c, []byte("x"))) {
		t.Fatal("restored chain seals differently")
	}
	// Bad states leave the chain as it was.
	before := skState(t, c)
	for n := range len(b) + 2 {
		buf := append(slices.Clone(b), 0, 0)[:n]
		if n == len(b) {
			continue
		}
		if err := c.UnmarshalBinary(buf); !errors.Is(err, ErrMalformed) {
			t.Fatalf("state of %d bytes: %v", n, err)
		}
	}
	bad := slices.Clone(b)
	bad[0] = 9
	if err := c.UnmarshalBinary(bad); !errors.Is(err, ErrVersion) {
		t.Errorf("state version 9: %v", err)
	}
	if err := c.UnmarshalBinary(skState(t, skReceiver(t, c, 0))); !errors.Is(err, ErrMalformed) {
		t.Errorf("receiver state as sender state: %v", err)
	}
	if !bytes.Equal(before, skState(t, c)) {
		t.Fatal("failed UnmarshalBinary changed the chain")
	}
}

func TestReceiverChainState(t *testing.T) {
	c := skChain(t, "alice")
	r := skReceiver(t, c, 10)
	var msgs [][]byte
	for i := range 8 {
		msgs = append(msgs, skSeal(t, c, []byte{byte(i)}))
	}
	for _, i := range []int{5, 1} {
		if _, err := r.Open(msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	b := skState(t, r)
	if len(b) != receiverStateSize+4*skippedKeySize {
		t.Fatalf("state of %d bytes with skipped keys 0, 2, 3, 4", len(b))
	}
	var restored ReceiverChain
	if err := restored.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(skState(t, &restored), b) || restored.ID() != r.ID() {
		t.Fatal("state round trip differs")
	}
	for _, i := range []int{0, 2, 3, 4, 6, 7} {
		if got, err := restored.Open(msgs[i]); err != nil || got[0] != byte(i) {
			t.Fatalf("restored chain, message %d: %v", i, err)
		}
	}
	for _, i := range []int{1, 5} {
		if _, err := restored.Open(msgs[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("restored chain, message %d again: %v", i, err)
		}
	}

	// Bad states, each refused without changing r.
	before := skState(t, r)
	set32 := func(at int, v uint32) []byte {
		bad := slices.Clone(b)
		bad[at], bad[at+1], bad[at+2], bad[at+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		return bad
	}
	const skippedAt = receiverStateSize
	for name, bad := range map[string][]byte{
		"empty":              nil,
		"short":              b[:receiverStateSize-1],
		"truncated key":      b[:len(b)-1],
		"extra byte":         append(slices.Clone(b), 0),
		"version":            append([]byte{2}, b[1:]...),
		"kind":               append([]byte{1, kindSenderState}, b[2:]...),
		"max skip 0":         set32(118, 0),
		"max skip too large": set32(118, MaxSkipLimit+1),
		"count > max skip":   set32(118, 3),
		"count too large":    set32(122, 5),
		"count too small":    set32(122, 3),
		"keys out of order":  set32(skippedAt+2*skippedKeySize, 1),
		"key repeated":       set32(skippedAt+skippedKeySize, 0),
		"key not skipped":    set32(skippedAt+3*skippedKeySize, 6),
		"iteration too low":  set32(82, 4),
	} {
		if err := r.UnmarshalBinary(bad); !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !bytes.Equal(before, skState(t, r)) {
		t.Fatal("failed UnmarshalBinary changed the chain")
	}
}

// TestGroupDeliveryProperty delivers a random subset of messages in random
// order, with duplicates: each message opens exactly once while the window
// holds its key.
func TestGroupDeliveryProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 30).Draw(rt, "messages")
		c := skChain(t, "alice")
		r := skReceiver(t, c, n)
		var msgs [][]byte
		for i := range n {
			msgs = append(msgs, skSeal(t, c, []byte{byte(i)}))
		}
		order := rapid.SliceOfN(rapid.IntRange(0, n-1), 0, 3*n).Draw(rt, "order")
		opened := map[int]bool{}
		for _, i := range order {
			before := skState(t, r)
			got, err := r.Open(msgs[i])
			switch {
			case opened[i]:
				if !errors.Is(err, ErrReplay) {
					rt.Fatalf("message %d again: %v, want ErrReplay", i, err)
				}
				if !bytes.Equal(before, skState(t, r)) {
					rt.Fatalf("a replay changed the chain")
				}
			case err != nil || got[0] != byte(i):
				rt.Fatalf("message %d: %v", i, err)
			}
			opened[i] = true
			// The state survives a round trip at every step.
			var restored ReceiverChain
			if err := restored.UnmarshalBinary(skState(t, r)); err != nil {
				rt.Fatal(err)
			}
			r = &restored
		}
	})
}

func TestDistributionProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := SenderKeyDistribution{
			Group:         GroupID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "group")),
			Owner:         PublicKey(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "owner")),
			Chain:         ChainID(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "chain")),
			Iteration:     rapid.Uint32().Draw(t, "iteration"),
			ChainKey:      [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "chain key")),
			SigningPublic: rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "signing"),
		}
		b, err := d.MarshalBinary()
		if err != nil || len(b) != distributionSize {
			t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
		}
		got, err := ParseSenderKeyDistribution(b)
		if err != nil || !skEqualDistribution(got, d) {
			t.Fatalf("round trip: %+v, %v", got, err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatal("encoding is not deterministic")
		}
	})
}

func TestSenderChainStateProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ck := [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "chain key"))
		c := newSenderChain(
			GroupID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "group")),
			PublicKey(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "owner")),
			rapid.Uint32().Draw(t, "iteration"),
			&ck,
			rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed"))
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got SenderChain
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got.ID() != c.ID() || got.Iteration() != c.Iteration() || got.chainKey != c.chainKey || !got.signing.Equal(c.signing) {
			t.Fatal("round trip differs")
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatal("encoding is not deterministic")
		}
	})
}
