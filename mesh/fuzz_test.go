package mesh

import (
	"bytes"
	"testing"
)

// FuzzParseFrame: the ZRE frame parser never panics, and whatever it
// accepts re-encodes to exactly the input bytes. Seeds: testdata/fuzz.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0xAA, 0xA1, 6, 2, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseFrame(b)
		if err != nil {
			return
		}
		out, err := m.appendFrame(nil)
		if err != nil {
			t.Fatalf("accepted % X but cannot re-encode %+v: %v", b, m, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n% X\nfrom\n% X", out, b)
		}
		// A HELLO's endpoint goes through the endpoint parser next.
		if m.Type == msgHello {
			if ap, err := parseEndpoint(m.Endpoint); err == nil && formatEndpoint(ap) != m.Endpoint {
				t.Fatalf("endpoint %q round-trips to %q", m.Endpoint, formatEndpoint(ap))
			}
		}
	})
}

// FuzzParseBeacon: the beacon parser never panics, accepts only 22-byte
// inputs and round-trips them.
func FuzzParseBeacon(f *testing.F) {
	f.Add([]byte("ZRE\x01\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\xc0\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bc, err := parseBeacon(b)
		if err != nil {
			return
		}
		if len(b) != beaconLen {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if out := bc.marshal(); !bytes.Equal(out[:], b) {
			t.Fatalf("round trip % X -> % X", b, out)
		}
	})
}
