package crypto

// Padding. Pairwise envelopes and group messages carry their body padded
// with zeros to the smallest bucket that holds it: 256 B, 1 KiB, 4 KiB,
// 16 KiB, 64 KiB or the format's maximum body. An observer of the network
// learns which of six sizes a message has, not its length. Buckets count
// body bytes, the real length travels inside the ciphertext, and each format
// adds a fixed overhead on top, so a body that fills its bucket exactly (a
// 1 KiB message) costs no padding at all.

// paddedLen returns the size of the smallest bucket that holds n bytes, for
// a format whose largest body is max. n must be in [0, max].
func paddedLen(n, max int) int {
	for b := 256; b <= 64<<10; b <<= 2 {
		if n <= b {
			return min(b, max)
		}
	}
	return max
}

// isPaddedLen reports whether n is a bucket size of a format whose largest
// body is max, that is a length a well-formed padded body can have.
func isPaddedLen(n, max int) bool {
	return n >= 0 && n <= max && paddedLen(n, max) == n
}

// isZero reports whether b holds only zero bytes. It only runs on
// authenticated plaintext, so its timing reveals nothing to an attacker.
func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
