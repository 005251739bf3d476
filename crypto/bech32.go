package crypto

import (
	"errors"
	"fmt"
	"strings"
)

// This file is a small BIP-173 bech32 codec, the encoding of age recipients
// (HRP "age") and identities (HRP "AGE-SECRET-KEY-", upper case). age keeps
// its own codec internal, so this one is tested against age's output.

// bech32Charset maps 5-bit groups to characters.
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32MaxLen is the longest string BIP-173 allows, HRP and checksum
// included. Recipients are 62 characters and identities 74.
const bech32MaxLen = 90

// bech32ChecksumLen is the number of 5-bit groups in the checksum.
const bech32ChecksumLen = 6

// errBech32 is wrapped by every bech32 decoding error.
var errBech32 = errors.New("bech32")

var bech32Generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func bech32Polymod(hrp string, data []byte) uint32 {
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i, g := range bech32Generator {
			if top>>i&1 == 1 {
				chk ^= g
			}
		}
	}
	// The HRP is expanded to its high bits, a zero, then its low bits; it
	// is always folded to lower case first.
	for i := 0; i < len(hrp); i++ {
		step(lowerASCII(hrp[i]) >> 5)
	}
	step(0)
	for i := 0; i < len(hrp); i++ {
		step(lowerASCII(hrp[i]) & 31)
	}
	for _, v := range data {
		step(v)
	}
	return chk
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// convertBits regroups data from groups of from bits to groups of to bits.
// With pad, a final partial group is zero-padded; without it, at most from-1
// zero bits may be left over (the rule BIP-173 decoders apply).
func convertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	out := make([]byte, 0, (len(data)*int(from)+int(to)-1)/int(to))
	for i, v := range data {
		if uint32(v)>>from != 0 {
			return nil, fmt.Errorf("%w: value %d at index %d does not fit in %d bits", errBech32, v, i, from)
		}
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	switch {
	case pad:
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	case bits >= from:
		return nil, fmt.Errorf("%w: too much padding", errBech32)
	case acc<<(to-bits)&maxv != 0:
		return nil, fmt.Errorf("%w: non-zero padding", errBech32)
	}
	return out, nil
}

// bech32Encode encodes data (8-bit bytes) under hrp. The output is upper case
// when hrp is upper case and lower case otherwise.
func bech32Encode(hrp string, data []byte) (string, error) {
	if hrp == "" {
		return "", fmt.Errorf("%w: empty human-readable part", errBech32)
	}
	for i := 0; i < len(hrp); i++ {
		if c := hrp[i]; c < 33 || c > 126 {
			return "", fmt.Errorf("%w: character %d of the human-readable part is out of range", errBech32, i)
		}
	}
	lower, upper := strings.ToLower(hrp), strings.ToUpper(hrp)
	if hrp != lower && hrp != upper {
		return "", fmt.Errorf("%w: mixed-case human-readable part %q", errBech32, hrp)
	}
	values, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	if n := len(hrp) + 1 + len(values) + bech32ChecksumLen; n > bech32MaxLen {
		return "", fmt.Errorf("%w: encoding would be %d characters, over the limit of %d", errBech32, n, bech32MaxLen)
	}
	mod := bech32Polymod(hrp, append(values, 0, 0, 0, 0, 0, 0)) ^ 1
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + bech32ChecksumLen)
	b.WriteString(lower)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := range bech32ChecksumLen {
		b.WriteByte(bech32Charset[mod>>(5*(5-i))&31])
	}
	if hrp == upper && hrp != lower {
		return strings.ToUpper(b.String()), nil
	}
	return b.String(), nil
}

// bech32DecodeGroups checks a bech32 string and returns its human-readable
// part (in the case it was written in) and its data as 5-bit groups, without
// the checksum.
func bech32DecodeGroups(s string) (hrp string, groups []byte, err error) {
	if len(s) > bech32MaxLen {
		return "", nil, fmt.Errorf("%w: %d characters, over the limit of %d", errBech32, len(s), bech32MaxLen)
	}
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, fmt.Errorf("%w: mixes upper and lower case", errBech32)
	}
	pos := strings.LastIndexByte(s, '1')
	switch {
	case pos < 0:
		return "", nil, fmt.Errorf("%w: no separator '1'", errBech32)
	case pos == 0:
		return "", nil, fmt.Errorf("%w: empty human-readable part", errBech32)
	case len(s)-pos-1 < bech32ChecksumLen:
		return "", nil, fmt.Errorf("%w: too short for a checksum", errBech32)
	}
	hrp = s[:pos]
	for i := 0; i < len(hrp); i++ {
		if c := hrp[i]; c < 33 || c > 126 {
			return "", nil, fmt.Errorf("%w: character %d is not printable ASCII", errBech32, i)
		}
	}
	groups = make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, lowerASCII(s[i]))
		if d < 0 {
			return "", nil, fmt.Errorf("%w: character %d is not in the bech32 alphabet", errBech32, i)
		}
		groups = append(groups, byte(d))
	}
	if bech32Polymod(hrp, groups) != 1 {
		return "", nil, fmt.Errorf("%w: checksum mismatch", errBech32)
	}
	return hrp, groups[:len(groups)-bech32ChecksumLen], nil
}

// bech32Decode decodes a bech32 string into its human-readable part (in the
// case it was written in) and its data as 8-bit bytes.
func bech32Decode(s string) (hrp string, data []byte, err error) {
	hrp, groups, err := bech32DecodeGroups(s)
	if err != nil {
		return "", nil, err
	}
	data, err = convertBits(groups, 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
