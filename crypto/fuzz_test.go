package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets of the envelope, group message, distribution and chain state
// parsers. They must never panic, refuse anything they do not accept with
// one of the package's errors, and accept only what re-encodes to the same
// bytes. Seeds are valid inputs made from deterministic keys, so that the
// fuzzer starts from the accepting paths; they are also stored under
// testdata/fuzz (regenerate with MESSAGEFS_WRITE_FUZZ_SEEDS=1 go test -run
// TestWriteFuzzSeeds ./crypto/).

// pwFuzzSeeds returns the seeds of each fuzz target.
func pwFuzzSeeds(t testing.TB) map[string][][]byte {
	ab, ba := pwChannel(t, "alice", "bob"), pwChannel(t, "bob", "alice")
	envelopes := [][]byte{
		pwSeal(t, ab, pwHeader(1), nil),
		pwSeal(t, ab, pwHeader(2), []byte("hello bob")),
		pwSeal(t, ab, Header{Type: TypeAck, Seq: 7, Time: pwHeader(0).Time}, pwBody(300)),
		pwSeal(t, ba, pwHeader(1), []byte("reflected")),
	}

	c := skChain(t, "alice")
	r := skReceiver(t, c, 0)
	d, err := c.Distribution().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for i := range 4 {
		msgs = append(msgs, skSeal(t, c, pwBody(i*100)))
	}
	states := [][]byte{skState(t, c), skState(t, r)}
	if _, err := r.Open(msgs[3]); err != nil {
		t.Fatal(err)
	}
	states = append(states, skState(t, r))

	return map[string][][]byte{
		"FuzzPairwiseOpen":      envelopes,
		"FuzzPeekSender":        envelopes,
		"FuzzGroupHeader":       msgs,
		"FuzzReceiverOpen":      msgs,
		"FuzzParseDistribution": {d},
		"FuzzChainState":        states,
	}
}

func pwAddSeeds(f *testing.F, target string) {
	for _, s := range pwFuzzSeeds(f)[target] {
		f.Add(s)
	}
}

// TestWriteFuzzSeeds writes the seeds to testdata/fuzz when
// MESSAGEFS_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MESSAGEFS_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set MESSAGEFS_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz seeds")
	}
	for target, seeds := range pwFuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func FuzzPairwiseOpen(f *testing.F) {
	pwAddSeeds(f, "FuzzPairwiseOpen")
	ba := pwChannel(f, "bob", "alice")
	f.Fuzz(func(t *testing.T, env []byte) {
		h, body, err := ba.Open(env)
		if err != nil {
			if !pwIsOneOf(err, pwErrors) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !h.Type.valid() || len(body) > MaxBody || len(env) != paddedLen(len(body), MaxBody)+pairwiseOverhead {
			t.Fatalf("accepted an inconsistent envelope: %+v, body of %d bytes in %d", h, len(body), len(env))
		}
	})
}

func FuzzPeekSender(f *testing.F) {
	pwAddSeeds(f, "FuzzPeekSender")
	f.Fuzz(func(t *testing.T, env []byte) {
		sender, err := PeekSender(env)
		if err != nil {
			if !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(sender[:], env[2:2+KeySize]) || !isPaddedLen(len(env)-pairwiseOverhead, MaxBody) {
			t.Fatalf("accepted an envelope of %d bytes", len(env))
		}
	})
}

func FuzzGroupHeader(f *testing.F) {
	pwAddSeeds(f, "FuzzGroupHeader")
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := ParseGroupHeader(msg)
		if err != nil {
			if !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(h.Group[:], msg[2:18]) || !bytes.Equal(h.Chain[:], msg[18:50]) ||
			!isPaddedLen(len(msg)-groupOverhead, MaxGroupPlaintext) {
			t.Fatalf("header %+v does not match its %d bytes", h, len(msg))
		}
	})
}

func FuzzReceiverOpen(f *testing.F) {
	pwAddSeeds(f, "FuzzReceiverOpen")
	state := skState(f, skReceiver(f, skChain(f, "alice"), 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r ReceiverChain
		if err := r.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		pt, err := r.Open(msg)
		after := skState(t, &r)
		if err != nil {
			if !pwIsOneOf(err, skErrors) {
				t.Fatalf("unexpected error %v", err)
			}
			if !bytes.Equal(after, state) {
				t.Fatal("a refused message changed the chain")
			}
			return
		}
		if len(pt) > MaxGroupPlaintext || bytes.Equal(after, state) {
			t.Fatalf("accepted message of %d bytes left the chain unchanged", len(msg))
		}
		if _, err := r.Open(msg); !errors.Is(err, ErrReplay) {
			t.Fatalf("second open: %v, want ErrReplay", err)
		}
	})
}

func FuzzParseDistribution(f *testing.F) {
	pwAddSeeds(f, "FuzzParseDistribution")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseSenderKeyDistribution(b)
		if err != nil {
			if !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
		verr := d.Verify(d.Owner)
		_, nerr := NewReceiverChain(d, ReceiverOptions{})
		if (verr == nil) != (nerr == nil) {
			t.Fatalf("Verify says %v, NewReceiverChain says %v", verr, nerr)
		}
	})
}

func FuzzChainState(f *testing.F) {
	pwAddSeeds(f, "FuzzChainState")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SenderChain
		if err := s.UnmarshalBinary(b); err == nil {
			if again := skState(t, &s); !bytes.Equal(again, b) {
				t.Fatal("sender state re-encodes differently")
			}
		} else if !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
			t.Fatalf("unexpected error %v", err)
		}
		var r ReceiverChain
		if err := r.UnmarshalBinary(b); err == nil {
			if again := skState(t, &r); !bytes.Equal(again, b) {
				t.Fatal("receiver state re-encodes differently")
			}
		} else if !pwIsOneOf(err, []error{ErrMalformed, ErrVersion}) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
