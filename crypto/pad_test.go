package crypto

import (
	"testing"

	"pgregory.net/rapid"
)

func TestPaddedLen(t *testing.T) {
	for _, tc := range []struct{ n, max, want int }{
		{0, MaxBody, 256},
		{1, MaxBody, 256},
		{256, MaxBody, 256},
		{257, MaxBody, 1024},
		{1024, MaxBody, 1024},
		{1025, MaxBody, 4096},
		{4096, MaxBody, 4096},
		{4097, MaxBody, 16384},
		{16384, MaxBody, 16384},
		{16385, MaxBody, 65536},
		{65536, MaxBody, 65536},
		{65537, MaxBody, MaxBody},
		{MaxBody, MaxBody, MaxBody},
		{65537, MaxGroupPlaintext, MaxGroupPlaintext},
		{100, 200, 200}, // a maximum below a bucket caps it
	} {
		if got := paddedLen(tc.n, tc.max); got != tc.want {
			t.Errorf("paddedLen(%d, %d) = %d, want %d", tc.n, tc.max, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int
		want bool
	}{{-1, false}, {0, false}, {255, false}, {256, true}, {257, false}, {1024, true}, {65536, true}, {MaxBody, true}, {MaxBody + 1, false}} {
		if got := isPaddedLen(tc.n, MaxBody); got != tc.want {
			t.Errorf("isPaddedLen(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	if !isZero(nil) || !isZero(make([]byte, 9)) || isZero([]byte{0, 0, 0x80}) {
		t.Error("isZero is wrong")
	}
}

// TestPaddedLenProperty checks that paddedLen picks the smallest bucket
// that holds n, among six.
func TestPaddedLenProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.SampledFrom([]int{MaxBody, MaxGroupPlaintext}).Draw(t, "max")
		n := rapid.IntRange(0, max).Draw(t, "n")
		m := rapid.IntRange(n, max).Draw(t, "m")
		p := paddedLen(n, max)
		switch {
		case p < n || p > max:
			t.Fatalf("paddedLen(%d) = %d, outside [n, %d]", n, p, max)
		case !isPaddedLen(p, max) || paddedLen(p, max) != p:
			t.Fatalf("paddedLen(%d) = %d, which is not a bucket", n, p)
		case paddedLen(m, max) < p:
			t.Fatalf("paddedLen not monotonic: %d -> %d, %d -> %d", n, p, m, paddedLen(m, max))
		case n > 0 && p > n && isPaddedLen(n, max):
			t.Fatalf("bucket %d padded to %d", n, p)
		}
		// No smaller bucket holds n.
		for b := n; b < p; b++ {
			if isPaddedLen(b, max) {
				t.Fatalf("paddedLen(%d) = %d but %d is a bucket", n, p, b)
			}
		}
	})
	sizes := map[int]bool{}
	for n := 0; n <= MaxBody; n++ {
		sizes[paddedLen(n, MaxBody)] = true
	}
	if len(sizes) != 6 {
		t.Errorf("%d buckets, want 6", len(sizes))
	}
}
