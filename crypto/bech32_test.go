package crypto

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"pgregory.net/rapid"
)

// TestBech32ValidVectors checks the valid checksums of BIP-173.
func TestBech32ValidVectors(t *testing.T) {
	for _, s := range []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"11" + strings.Repeat("q", 82) + "c8247j",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	} {
		t.Run(s, func(t *testing.T) {
			hrp, _, err := bech32DecodeGroups(s)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if want := s[:strings.LastIndexByte(s, '1')]; hrp != want {
				t.Errorf("hrp = %q, want %q", hrp, want)
			}
			// Flipping the case of a letter of the HRP gives mixed case,
			// and changing a data character breaks the checksum.
			last := len(s) - 1
			c := bech32Charset[(strings.IndexByte(bech32Charset, lowerASCII(s[last]))+1)%32]
			if s[last] >= 'A' && s[last] <= 'Z' && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			if _, _, err := bech32DecodeGroups(s[:last] + string(c)); err == nil {
				t.Errorf("decoded %q with its last character changed", s)
			}
		})
	}
}

// TestBech32InvalidVectors checks the invalid strings of BIP-173, and a few
// more.
func TestBech32InvalidVectors(t *testing.T) {
	for _, tc := range []struct{ s, why string }{
		{"\x201nwldj5", "HRP character out of range"},
		{"\x7f1axkwrx", "HRP character out of range"},
		{"\x801eym55h", "HRP character out of range"},
		{"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", "overall max length exceeded"},
		{"pzry9x0s0muk", "no separator character"},
		{"1pzry9x0s0muk", "empty HRP"},
		{"x1b4n0q5v", "invalid data character"},
		{"li1dgmt3", "too short checksum"},
		{"de1lg7wt\xff", "invalid character in checksum"},
		{"A1G7SGD8", "checksum calculated with uppercase form of HRP"},
		{"10a06t8", "empty HRP"},
		{"1qzzfhee", "empty HRP"},
		{"a12UEL5L", "mixed case"},
		{"", "empty"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			if hrp, _, err := bech32DecodeGroups(tc.s); err == nil {
				t.Fatalf("decoded %q (hrp %q); want error: %s", tc.s, hrp, tc.why)
			} else if !errors.Is(err, errBech32) {
				t.Errorf("error %v does not wrap errBech32", err)
			}
		})
	}
}

// TestBech32Padding checks the rules for the leftover bits of the 5-to-8-bit
// conversion.
func TestBech32Padding(t *testing.T) {
	mustEncodeGroups := func(hrp string, groups []byte) string {
		mod := bech32Polymod(hrp, append(append([]byte(nil), groups...), 0, 0, 0, 0, 0, 0)) ^ 1
		s := hrp + "1"
		for _, g := range groups {
			s += string(bech32Charset[g])
		}
		for i := range 6 {
			s += string(bech32Charset[mod>>(5*(5-i))&31])
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		groups []byte
		ok     bool
	}{
		{"one byte, zero padding", []byte{31, 28}, true},      // 8 bits + 2 zero bits
		{"one byte, non-zero padding", []byte{31, 29}, false}, // 8 bits + 2 bits "01"
		{"five bits of padding", []byte{31, 28, 0}, false},    // a whole extra group
		{"empty", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustEncodeGroups("x", tc.groups)
			_, _, err := bech32Decode(s)
			if (err == nil) != tc.ok {
				t.Fatalf("decode(%q) error = %v, want ok = %v", s, err, tc.ok)
			}
		})
	}
}

// TestBech32Encode checks encoding errors and the case rule.
func TestBech32Encode(t *testing.T) {
	for _, tc := range []struct {
		hrp  string
		data []byte
		want string // "" for an error
	}{
		{"a", nil, "a12uel5l"},
		{"A", nil, "A12UEL5L"},
		{"?", nil, "?1ezyfcl"},
		{"", nil, ""},
		{"Ab", nil, ""},
		{"a b", nil, ""},
		{"a", make([]byte, 60), ""}, // over 90 characters
	} {
		got, err := bech32Encode(tc.hrp, tc.data)
		if tc.want == "" {
			if err == nil {
				t.Errorf("bech32Encode(%q, %d bytes) = %q, want an error", tc.hrp, len(tc.data), got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("bech32Encode(%q) = %q, %v; want %q", tc.hrp, got, err, tc.want)
		}
	}
}

// TestBech32MatchesAge checks the codec against the encodings age produces.
func TestBech32MatchesAge(t *testing.T) {
	for range 50 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{id.String(), id.Recipient().String()} {
			hrp, data, err := bech32Decode(s)
			if err != nil {
				t.Fatalf("decoding age's %.8s...: %v", s, err)
			}
			if len(data) != 32 {
				t.Fatalf("age's %.8s... decodes to %d bytes", s, len(data))
			}
			again, err := bech32Encode(hrp, data)
			if err != nil || again != s {
				t.Fatalf("re-encoding age's %.8s... gave %q, %v", s, again, err)
			}
		}
	}
}

func TestBech32RoundTripProperty(t *testing.T) {
	hrpChar := rapid.ByteRange(33, 126).Filter(func(c byte) bool { return c < 'A' || c > 'Z' })
	rapid.Check(t, func(t *rapid.T) {
		hrp := string(rapid.SliceOfN(hrpChar, 1, 16).Draw(t, "hrp"))
		data := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "data")
		upper := rapid.Bool().Draw(t, "upper")
		if upper {
			hrp = strings.ToUpper(hrp)
		}
		// The output is upper case only when the HRP has letters, all upper.
		upper = upper && strings.ToLower(hrp) != hrp
		s, err := bech32Encode(hrp, data)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if len(s) > bech32MaxLen {
			t.Fatalf("encoding is %d characters", len(s))
		}
		if upper && strings.ToUpper(s) != s || !upper && strings.ToLower(s) != s {
			t.Fatalf("encoding %q has the wrong case (upper = %v)", s, upper)
		}
		gotHRP, got, err := bech32Decode(s)
		if err != nil {
			t.Fatalf("decode(%q): %v", s, err)
		}
		if gotHRP != hrp || !bytes.Equal(got, data) {
			t.Fatalf("decode(%q) = %q, %x; want %q, %x", s, gotHRP, got, hrp, data)
		}
		// Any single substituted character in the data part is detected.
		sep := strings.LastIndexByte(s, '1')
		i := rapid.IntRange(sep+1, len(s)-1).Draw(t, "pos")
		shift := rapid.IntRange(1, 31).Draw(t, "shift")
		c := bech32Charset[(strings.IndexByte(bech32Charset, lowerASCII(s[i]))+shift)%32]
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		bad := s[:i] + string(c) + s[i+1:]
		if _, _, err := bech32Decode(bad); err == nil {
			t.Fatalf("decode accepted %q, a corruption of %q", bad, s)
		}
	})
}

func FuzzBech32Decode(f *testing.F) {
	f.Add("a12uel5l")
	f.Add("A12UEL5L")
	f.Add("?1ezyfcl")
	f.Add("age1lvyvwawkr0mcnnnncaghunadrqkmuf9e6507x9y920xxpp866cnql7dp2z")
	f.Add("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
	f.Add("split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w")
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := bech32Decode(s)
		if err != nil {
			return
		}
		again, err := bech32Encode(hrp, data)
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode: %v", s, err)
		}
		if !strings.EqualFold(again, s) {
			t.Fatalf("decoded %q, re-encoded as %q", s, again)
		}
	})
}
