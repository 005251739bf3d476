package crypto

import (
	crand "crypto/rand"
	"fmt"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/box"
)

// Benchmarks come in pairs with their baselines, so that one run shows the
// ratios of DESIGN.md's performance table:
//
//	BenchmarkPairwiseSealOpen   vs BenchmarkNaClBoxPrecomputed  (<= 1.3x)
//	BenchmarkGroupSealOpen      vs BenchmarkXChaCha20Poly1305
//	BenchmarkGroupSend50        vs BenchmarkPairwiseSeal50      (<= 0.4x / 0.1x)
//	                            and BenchmarkNaClBoxSeal50
//	BenchmarkRekey50                                            (<= 50 ms)
//
// Every baseline draws its random nonce from crypto/rand as the real thing
// does. 1025B shows the worst case of padding: one byte over a bucket.

var pwBenchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"1025B", 1<<10 + 1}, {"64KiB", 64 << 10}}

func BenchmarkPairwiseSealOpen(b *testing.B) {
	ab, ba := pwChannel(b, "alice", "bob"), pwChannel(b, "bob", "alice")
	for _, size := range pwBenchSizes {
		b.Run(size.name, func(b *testing.B) {
			body, h := pwBody(size.n), pwHeader(1)
			b.SetBytes(int64(size.n))
			for b.Loop() {
				env, err := ab.Seal(crand.Reader, h, body)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := ba.Open(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNaClBoxPrecomputed(b *testing.B) {
	_, priv, err := box.GenerateKey(crand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	peer, _, err := box.GenerateKey(crand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var shared [32]byte
	box.Precompute(&shared, peer, priv)
	for _, size := range pwBenchSizes {
		b.Run(size.name, func(b *testing.B) {
			msg := pwBody(size.n)
			b.SetBytes(int64(size.n))
			var nonce [24]byte
			for b.Loop() {
				if _, err := io.ReadFull(crand.Reader, nonce[:]); err != nil {
					b.Fatal(err)
				}
				sealed := box.SealAfterPrecomputation(nil, msg, &nonce, &shared)
				if _, ok := box.OpenAfterPrecomputation(nil, sealed, &nonce, &shared); !ok {
					b.Fatal("open failed")
				}
			}
		})
	}
}

func BenchmarkGroupSealOpen(b *testing.B) {
	c := skChain(b, "alice")
	r := skReceiver(b, c, 0)
	for _, size := range pwBenchSizes {
		b.Run(size.name, func(b *testing.B) {
			pt := pwBody(size.n)
			b.SetBytes(int64(size.n))
			for b.Loop() {
				msg, err := c.Seal(crand.Reader, pt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Open(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkXChaCha20Poly1305(b *testing.B) {
	aead, err := chacha20poly1305.NewX(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range pwBenchSizes {
		b.Run(size.name, func(b *testing.B) {
			pt := pwBody(size.n)
			b.SetBytes(int64(size.n))
			nonce := make([]byte, chacha20poly1305.NonceSizeX)
			for b.Loop() {
				if _, err := io.ReadFull(crand.Reader, nonce); err != nil {
					b.Fatal(err)
				}
				ct := aead.Seal(nil, nonce, pt, nil)
				if _, err := aead.Open(nil, nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pwBenchMembers returns the channels from alice to n members.
func pwBenchMembers(b *testing.B, n int) []*Pairwise {
	ps := make([]*Pairwise, n)
	for i := range ps {
		ps[i] = pwChannel(b, "alice", fmt.Sprint("member ", i))
	}
	return ps
}

var pwSendSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// BenchmarkGroupSend50 is the sender's CPU cost of a message to a group of
// 50: one encryption and one signature, whatever the number of members.
func BenchmarkGroupSend50(b *testing.B) {
	c := skChain(b, "alice")
	for _, size := range pwSendSizes {
		b.Run(size.name, func(b *testing.B) {
			pt := pwBody(size.n)
			for b.Loop() {
				if _, err := c.Seal(crand.Reader, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPairwiseSeal50 is the same message sealed pairwise to 50 members.
func BenchmarkPairwiseSeal50(b *testing.B) {
	members := pwBenchMembers(b, 50)
	for _, size := range pwSendSizes {
		b.Run(size.name, func(b *testing.B) {
			body, h := pwBody(size.n), pwHeader(1)
			for b.Loop() {
				for _, p := range members {
					if _, err := p.Seal(crand.Reader, h, body); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkNaClBoxSeal50 is the same message sealed with raw precomputed
// boxes to 50 members.
func BenchmarkNaClBoxSeal50(b *testing.B) {
	keys := make([][32]byte, 50)
	for i := range keys {
		if _, err := io.ReadFull(crand.Reader, keys[i][:]); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range pwSendSizes {
		b.Run(size.name, func(b *testing.B) {
			msg := pwBody(size.n)
			var nonce [24]byte
			for b.Loop() {
				for i := range keys {
					if _, err := io.ReadFull(crand.Reader, nonce[:]); err != nil {
						b.Fatal(err)
					}
					box.SealAfterPrecomputation(nil, msg, &nonce, &keys[i])
				}
			}
		})
	}
}

// BenchmarkRekey50 is a rotation in a group of 50: a new sending chain and
// its distribution sealed to each of the 50 members' channels.
func BenchmarkRekey50(b *testing.B) {
	members := pwBenchMembers(b, 50)
	owner := pwKey(b, "alice").Public()
	h := pwHeader(1)
	h.Type = TypeSenderKey
	for b.Loop() {
		c, err := NewSenderChain(crand.Reader, skGroup, owner)
		if err != nil {
			b.Fatal(err)
		}
		d, err := c.Distribution().MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range members {
			if _, err := p.Seal(crand.Reader, h, d); err != nil {
				b.Fatal(err)
			}
		}
	}
}
