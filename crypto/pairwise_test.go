package crypto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
	"pgregory.net/rapid"
)

// pwRand returns a deterministic random stream named by label, so that
// tests and fuzz seeds are reproducible.
func pwRand(label string) io.Reader {
	return rand.NewChaCha8(sha256.Sum256([]byte(label)))
}

// pwKey returns the deterministic private key named by label.
func pwKey(t testing.TB, label string) PrivateKey {
	t.Helper()
	k, err := GenerateKey(pwRand("key " + label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pwChannel returns the channel of self's key to peer's key.
func pwChannel(t testing.TB, self, peer string) *Pairwise {
	t.Helper()
	p, err := NewPairwise(pwKey(t, self), pwKey(t, peer).Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pwHeader returns a header with every field set.
func pwHeader(seq uint64) Header {
	return Header{
		Type: TypeMessage,
		Seq:  seq,
		ID:   MessageID{0: 0xa5, 7: byte(seq), 15: 0x5a},
		Time: time.Unix(1_800_000_000, 123_456_789).UTC(),
	}
}

// pwBody returns n deterministic non-zero-ish bytes.
func pwBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func pwSeal(t testing.TB, p *Pairwise, h Header, body []byte) []byte {
	t.Helper()
	env, err := p.Seal(pwRand("nonce"), h, body)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func pwSameHeader(a, b Header) bool {
	return a.Type == b.Type && a.Seq == b.Seq && a.ID == b.ID && a.Time.Equal(b.Time)
}

// pwErrors are every error an envelope parser may return.
var pwErrors = []error{ErrMalformed, ErrVersion, ErrAuth, ErrWrongRecipient, ErrWrongSender, ErrReflected}

func pwIsOneOf(err error, targets []error) bool {
	for _, e := range targets {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func TestPairwiseRoundTrip(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	for _, tc := range []struct {
		body, envelope int
	}{
		{0, 399}, {1, 399}, {256, 399}, {257, 1167}, {1024, 1167}, {1025, 4239},
		{4096, 4239}, {16384, 16527}, {16385, 65679}, {65536, 65679},
		{65537, MaxEnvelope}, {MaxBody, MaxEnvelope},
	} {
		for _, typ := range []MessageType{TypeMessage, TypeGroupRelay} {
			h := pwHeader(uint64(tc.body) + 1)
			h.Type = typ
			body := pwBody(tc.body)
			env := pwSeal(t, ab, h, body)
			if len(env) != tc.envelope {
				t.Errorf("body of %d bytes: envelope of %d bytes, want %d", tc.body, len(env), tc.envelope)
			}
			sender, err := PeekSender(env)
			if err != nil || sender != pwKey(t, "alice").Public() {
				t.Errorf("body of %d bytes: PeekSender = %x, %v; want alice", tc.body, sender, err)
			}
			got, gotBody, err := ba.Open(env)
			if err != nil {
				t.Fatalf("body of %d bytes: Open: %v", tc.body, err)
			}
			if !pwSameHeader(got, h) || got.Time.Location() != time.UTC {
				t.Errorf("body of %d bytes: header %+v, want %+v", tc.body, got, h)
			}
			if !bytes.Equal(gotBody, body) {
				t.Errorf("body of %d bytes: body differs", tc.body)
			}
		}
	}
	if MaxEnvelope != 66703 {
		t.Errorf("MaxEnvelope = %d, the documented value is 66703", MaxEnvelope)
	}
	if MaxEnvelope > 66<<10+512 {
		t.Errorf("MaxEnvelope = %d exceeds the mesh frame budget", MaxEnvelope)
	}
}

func TestPairwiseNonceIsRandom(t *testing.T) {
	ab := pwChannel(t, "alice", "bob")
	a, err := ab.Seal(pwRand("one"), pwHeader(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ab.Seal(pwRand("two"), pwHeader(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[66:90], b[66:90]) || bytes.Equal(a[90:], b[90:]) {
		t.Error("two seals of the same message share nonce or ciphertext")
	}
}

// TestPairwiseBitFlips flips every bit of every byte of envelopes: each
// must be rejected.
func TestPairwiseBitFlips(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	for _, n := range []int{0, 300} {
		env := pwSeal(t, ab, pwHeader(1), pwBody(n))
		for i := range env {
			for bit := range 8 {
				bad := slices.Clone(env)
				bad[i] ^= 1 << bit
				_, _, err := ba.Open(bad)
				if err == nil || !pwIsOneOf(err, pwErrors) {
					t.Fatalf("envelope of %d bytes, byte %d bit %d flipped: Open error %v", len(env), i, bit, err)
				}
			}
		}
	}
}

func TestPairwiseTruncation(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	env := pwSeal(t, ab, pwHeader(1), pwBody(1000))
	if len(env) != 1167 {
		t.Fatalf("envelope of %d bytes, want 1167", len(env))
	}
	// Every shorter length is malformed, except 399, a legal size of which
	// this is not an envelope: the box fails.
	for n := range len(env) {
		want := ErrMalformed
		if n == 399 {
			want = ErrAuth
		}
		if _, _, err := ba.Open(env[:n]); !errors.Is(err, want) {
			t.Fatalf("envelope truncated to %d bytes: Open error %v, want %v", n, err, want)
		}
		if _, err := PeekSender(env[:n]); (err == nil) != (n == 399) {
			t.Fatalf("envelope truncated to %d bytes: PeekSender error %v", n, err)
		}
	}
	for _, tc := range []struct {
		extra int
		want  error
	}{{1, ErrMalformed}, {100, ErrMalformed}, {4239 - 1167, ErrAuth}} {
		if _, _, err := ba.Open(append(slices.Clone(env), make([]byte, tc.extra)...)); !errors.Is(err, tc.want) {
			t.Errorf("envelope extended by %d bytes: Open error %v, want %v", tc.extra, err, tc.want)
		}
	}
}

func TestPairwisePrefix(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	env := pwSeal(t, ab, pwHeader(1), nil)
	for _, tc := range []struct {
		at   int
		val  byte
		want error
	}{
		{0, 0, ErrVersion}, {0, 2, ErrVersion}, {0, 0xff, ErrVersion},
		{1, 0, ErrMalformed}, {1, kindGroup, ErrMalformed}, {1, 0xff, ErrMalformed},
	} {
		bad := slices.Clone(env)
		bad[tc.at] = tc.val
		if _, _, err := ba.Open(bad); !errors.Is(err, tc.want) {
			t.Errorf("byte %d = %d: Open error %v, want %v", tc.at, tc.val, err, tc.want)
		}
		if _, err := PeekSender(bad); !errors.Is(err, tc.want) {
			t.Errorf("byte %d = %d: PeekSender error %v, want %v", tc.at, tc.val, err, tc.want)
		}
	}
}

// TestPairwiseWrongChannel opens envelopes with channels they are not for.
func TestPairwiseWrongChannel(t *testing.T) {
	ab := pwChannel(t, "alice", "bob")
	env := pwSeal(t, ab, pwHeader(1), []byte("hi bob"))
	carol := pwKey(t, "carol").Public()

	// Carol's channel with alice: addressed to bob, not carol.
	if _, _, err := pwChannel(t, "carol", "alice").Open(env); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("carol opens alice->bob: %v, want ErrWrongRecipient", err)
	}
	// Carol rewrites the recipient to herself: another key, the box fails.
	bad := slices.Clone(env)
	copy(bad[2+KeySize:], carol[:])
	if _, _, err := pwChannel(t, "carol", "alice").Open(bad); !errors.Is(err, ErrAuth) {
		t.Errorf("carol opens alice->bob readdressed to her: %v, want ErrAuth", err)
	}
	// Bob's channel with carol: not from carol.
	if _, _, err := pwChannel(t, "bob", "carol").Open(env); !errors.Is(err, ErrWrongSender) {
		t.Errorf("bob/carol opens alice->bob: %v, want ErrWrongSender", err)
	}
	// Carol claims to be alice: sealed with carol->bob's key.
	cb := pwChannel(t, "carol", "bob")
	forged := pwSeal(t, cb, pwHeader(1), []byte("I am alice"))
	alice := pwKey(t, "alice").Public()
	copy(forged[2:], alice[:])
	if _, _, err := pwChannel(t, "bob", "alice").Open(forged); !errors.Is(err, ErrAuth) {
		t.Errorf("carol's envelope claiming alice: %v, want ErrAuth", err)
	}
	// Bob with another private key for the same public one is impossible,
	// but a wrong direction key must fail: swap the keys of a channel.
	ba := pwChannel(t, "bob", "alice")
	swapped := *ba
	swapped.send, swapped.recv = ba.recv, ba.send
	if _, _, err := swapped.Open(env); !errors.Is(err, ErrAuth) {
		t.Errorf("open with the send key: %v, want ErrAuth", err)
	}
}

// TestPairwiseReflection sends alice's envelope back to alice.
func TestPairwiseReflection(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	if ab.send == ab.recv {
		t.Fatal("both directions share a key")
	}
	if ab.send != ba.recv || ab.recv != ba.send {
		t.Fatal("the two ends disagree on the direction keys")
	}
	env := pwSeal(t, ab, pwHeader(1), []byte("hi bob"))
	if _, _, err := ab.Open(env); !errors.Is(err, ErrReflected) {
		t.Errorf("reflected envelope: %v, want ErrReflected", err)
	}
	// The attacker swaps sender and recipient so the header looks like
	// bob -> alice: alice opens with bob->alice's key, which differs.
	bad := slices.Clone(env)
	copy(bad[2:], env[2+KeySize:2+2*KeySize])
	copy(bad[2+KeySize:], env[2:2+KeySize])
	if _, _, err := ab.Open(bad); !errors.Is(err, ErrAuth) {
		t.Errorf("reflected envelope with swapped header: %v, want ErrAuth", err)
	}
}

// pwLowOrderPoints are the Curve25519 points of order 1, 2, 4 and 8 in their
// canonical encodings, the non-canonical ones (p, p+1) and every one again
// with the ignored top bit set.
func pwLowOrderPoints(t testing.TB) []PublicKey {
	t.Helper()
	var pts []PublicKey
	for _, s := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0, order 4
		"0100000000000000000000000000000000000000000000000000000000000000", // 1, order 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1, order 2
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p = 0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1 = 1
	} {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		p := PublicKey(b)
		pts = append(pts, p)
		p[31] |= 0x80
		pts = append(pts, p)
	}
	return pts
}

func TestNewPairwiseRefuses(t *testing.T) {
	k := pwKey(t, "alice")
	for _, p := range pwLowOrderPoints(t) {
		if _, err := NewPairwise(k, p); !errors.Is(err, ErrLowOrder) {
			t.Errorf("NewPairwise(low-order %x) = %v, want ErrLowOrder", p, err)
		}
	}
	if _, err := NewPairwise(k, k.Public()); !errors.Is(err, ErrSelfPeer) {
		t.Errorf("NewPairwise(own key) = %v, want ErrSelfPeer", err)
	}
	if p := pwChannel(t, "alice", "bob"); p.Peer() != pwKey(t, "bob").Public() {
		t.Error("Peer() is not the peer's key")
	}
}

func TestPairwiseSealRefuses(t *testing.T) {
	ab := pwChannel(t, "alice", "bob")
	for _, tc := range []struct {
		name string
		rand io.Reader
		h    func(*Header)
		body int
		want error
	}{
		{"type 0", nil, func(h *Header) { h.Type = 0 }, 0, ErrMalformed},
		{"type 7", nil, func(h *Header) { h.Type = TypeGroupRelay + 1 }, 0, ErrMalformed},
		{"type 255", nil, func(h *Header) { h.Type = 255 }, 0, ErrMalformed},
		{"zero time", nil, func(h *Header) { h.Time = time.Time{} }, 0, ErrMalformed},
		{"year 2300", nil, func(h *Header) { h.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, 0, ErrMalformed},
		{"body too large", nil, func(*Header) {}, MaxBody + 1, ErrTooLarge},
		{"rand fails", iotest.ErrReader(io.ErrUnexpectedEOF), func(*Header) {}, 0, io.ErrUnexpectedEOF},
	} {
		h := pwHeader(1)
		tc.h(&h)
		r := tc.rand
		if r == nil {
			r = pwRand("nonce")
		}
		env, err := ab.Seal(r, h, make([]byte, tc.body))
		if !errors.Is(err, tc.want) || env != nil {
			t.Errorf("%s: Seal = %d bytes, %v; want %v", tc.name, len(env), err, tc.want)
		}
	}
	// The extreme representable times travel.
	ba := pwChannel(t, "bob", "alice")
	for _, ns := range []int64{math.MinInt64, -1, 0, math.MaxInt64} {
		h := pwHeader(1)
		h.Time = time.Unix(0, ns)
		got, _, err := ba.Open(pwSeal(t, ab, h, nil))
		if err != nil || !got.Time.Equal(h.Time) {
			t.Errorf("time %d ns: got %v, %v", ns, got.Time, err)
		}
	}
}

// pwSealInner seals an arbitrary inner plaintext with a channel's key, to
// test what Open does with authentic but malformed content.
func pwSealInner(p *Pairwise, inner []byte) []byte {
	env := []byte{formatVersion, kindPairwise}
	env = append(env, p.self[:]...)
	env = append(env, p.peer[:]...)
	var nonce [nonceSize]byte
	env = append(env, nonce[:]...)
	return secretbox.Seal(env, inner, &nonce, &p.send)
}

func TestPairwiseAuthenticMalformed(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	inner := func(typ byte, length uint32, padded int) []byte {
		b := make([]byte, pairwiseInnerSize+padded)
		b[0] = typ
		b[33], b[34], b[35], b[36] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
		return b
	}
	good := inner(byte(TypeAck), 5, 256)
	if _, _, err := ba.Open(pwSealInner(ab, good)); err != nil {
		t.Fatalf("well-formed hand-made envelope: %v", err)
	}
	nonZero := inner(byte(TypeAck), 5, 256)
	nonZero[len(nonZero)-1] = 1
	for _, tc := range []struct {
		name  string
		inner []byte
	}{
		{"type 0", inner(0, 5, 256)},
		{"type 7", inner(7, 5, 256)},
		{"length beyond the bucket", inner(byte(TypeAck), 257, 256)},
		{"length of a smaller bucket", inner(byte(TypeAck), 10, 1024)},
		{"huge length", inner(byte(TypeAck), math.MaxUint32, 256)},
		{"non-zero padding", nonZero},
	} {
		if _, _, err := ba.Open(pwSealInner(ab, tc.inner)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Open error %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestMessageID(t *testing.T) {
	r := pwRand("ids")
	a, err := NewMessageID(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMessageID(r)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two random message ids are equal")
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a.String()) {
		t.Errorf("MessageID.String() = %q, want 32 lower-case hex digits", a)
	}
	if got := (MessageID{0: 0xab, 15: 0x01}).String(); got != "ab000000000000000000000000000001" {
		t.Errorf("MessageID.String() = %q", got)
	}
	if _, err := NewMessageID(iotest.ErrReader(io.ErrUnexpectedEOF)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewMessageID with a failing reader: %v", err)
	}
}

func TestMessageTypeString(t *testing.T) {
	want := []string{"message", "ack", "membership", "sender-key", "receipt", "group-relay"}
	for i, w := range want {
		if got := (TypeMessage + MessageType(i)).String(); got != w {
			t.Errorf("MessageType(%d) = %q, want %q", i+1, got, w)
		}
	}
	if got := MessageType(0).String(); got != "MessageType(0)" {
		t.Errorf("MessageType(0) = %q", got)
	}
}

// TestPairwiseProperty round-trips random headers and bodies.
func TestPairwiseProperty(t *testing.T) {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	rapid.Check(t, func(t *rapid.T) {
		h := Header{
			Type: MessageType(rapid.IntRange(int(TypeMessage), int(TypeGroupRelay)).Draw(t, "type")),
			Seq:  rapid.Uint64().Draw(t, "seq"),
			ID:   MessageID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id")),
			Time: time.Unix(0, rapid.Int64().Draw(t, "time")),
		}
		body := rapid.SliceOfN(rapid.Byte(), 0, 5000).Draw(t, "body")
		if rapid.Bool().Draw(t, "large") {
			body = pwBody(rapid.IntRange(0, MaxBody).Draw(t, "large size"))
		}
		env, err := ab.Seal(pwRand("nonce"), h, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := paddedLen(len(body), MaxBody) + pairwiseOverhead; len(env) != want || len(env) > MaxEnvelope {
			t.Fatalf("envelope of %d bytes for a body of %d, want %d", len(env), len(body), want)
		}
		got, gotBody, err := ba.Open(env)
		if err != nil {
			t.Fatal(err)
		}
		if !pwSameHeader(got, h) || !bytes.Equal(gotBody, body) {
			t.Fatalf("round trip: %+v, want %+v", got, h)
		}
	})
}
