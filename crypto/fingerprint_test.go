package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	var alice PublicKey // the public key of RFC 7748, section 6.1
	hex.Decode(alice[:], []byte("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
	for _, tc := range []struct {
		name  string
		key   PublicKey
		want  string
		short string
	}{
		// Computed independently with Python's hashlib and base64.b32encode.
		{"RFC 7748 Alice", alice, "gagjzfqdxevewopn", "gagj-zfqd-xeve-wopn"},
		{"zero", PublicKey{}, "mzuhvlpymk6xo3ep", "mzuh-vlpy-mk6x-o3ep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.Fingerprint(); got != tc.want {
				t.Errorf("Fingerprint() = %q, want %q", got, tc.want)
			}
			if got := tc.key.ShortFingerprint(); got != tc.short {
				t.Errorf("ShortFingerprint() = %q, want %q", got, tc.short)
			}
		})
	}
}

func TestFingerprintProperties(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		p := idGenerate(t).Public()
		f := p.Fingerprint()
		if !ValidFingerprint(f) {
			t.Fatalf("Fingerprint() = %q is not valid", f)
		}
		if seen[f] {
			t.Fatalf("fingerprint %q repeated", f)
		}
		seen[f] = true
		// 16 characters are the first 80 bits of SHA-256.
		sum := sha256.Sum256(p[:])
		if f != strings.ToLower(fingerprintEncoding.EncodeToString(sum[:]))[:16] {
			t.Fatalf("Fingerprint() = %q is not a prefix of the hash", f)
		}
		if got := strings.ReplaceAll(p.ShortFingerprint(), "-", ""); got != f {
			t.Fatalf("ShortFingerprint() = %q does not group %q", p.ShortFingerprint(), f)
		}
	}
}

func TestValidFingerprint(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"gagjzfqdxevewopn", true},
		{"abcdefghijklmnop", true},
		{"qrstuvwxyz234567", true},
		{"GAGJZFQDXEVEWOPN", false},
		{"gagjzfqdxevewop", false},
		{"gagjzfqdxevewopnq", false},
		{"gagjzfqdxevewop1", false},
		{"gagjzfqdxevewop8", false},
		{"gagj-zfqd-xeve-w", false},
		{"../../etc/passwd", false},
		{"", false},
	} {
		if got := ValidFingerprint(tc.s); got != tc.want {
			t.Errorf("ValidFingerprint(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
