package keyring

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

func newKey(t testing.TB) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyFile(t *testing.T) {
	k := newKey(t)
	pub := k.Public().String()
	other := newKey(t).Public().String()
	lowOrder := crypto.PublicKey{}.String() // age1qqq...: the zero point
	for _, tc := range []struct {
		name    string
		content string
		kind    error  // nil if valid
		msg     string // in the error
	}{
		{"bare key", pub, nil, ""},
		{"key and newline", pub + "\n", nil, ""},
		{"mfs-keygen -y output", pub + "\n", nil, ""},
		{"comments and blanks", "# alice's laptop\n\n  " + pub + "  \r\n\n# end\n", nil, ""},
		{"our own format", string(MarshalKeyFile(k.Public(), time.Now())), nil, ""},
		{"empty", "", ErrBadKey, "holds no key"},
		{"only comments", "# nothing\n\n", ErrBadKey, "holds no key"},
		{"comment holding the key", "# public key: " + pub + "\n", ErrBadKey, "holds no key"},
		{"secret identity", k.String() + "\n", ErrSecretKey, "mfs-keygen -y FILE"},
		{"identity file", string(crypto.MarshalIdentityFile(k, time.Now())), ErrSecretKey, "share its output instead"},
		{"secret in lower case", strings.ToLower(k.String()), ErrSecretKey, "secret identity"},
		{"two keys", pub + "\n" + other + "\n", ErrBadKey, "more than one key"},
		{"same key twice", pub + "\n" + pub + "\n", ErrBadKey, "more than one key"},
		{"two keys on a line", pub + " " + other, ErrBadKey, "line 1"},
		{"garbage", "hello world\n", ErrBadKey, "line 1"},
		{"garbage after key", pub + "\nhello\n", ErrBadKey, "line 2"},
		{"binary", "\x00\xff\xfe", ErrBadKey, "line 1"},
		{"truncated key", pub[:40] + "\n", ErrBadKey, "copied completely"},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGsx me@host\n", ErrBadKey, "age1"},
		{"low-order", lowOrder + "\n", crypto.ErrLowOrder, "low-order"},
		{"too large", pub + "\n" + strings.Repeat("#\n", 3000), ErrBadKey, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeyFile([]byte(tc.content))
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("ParseKeyFile: %v", err)
				}
				if got != k.Public() {
					t.Fatalf("parsed another key")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKeyFile accepted %q", tc.content)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q does not match %v", err, tc.kind)
			}
			if tc.kind == crypto.ErrLowOrder && !errors.Is(err, ErrBadKey) {
				t.Errorf("error %q does not match ErrBadKey", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if secret := k.String(); strings.Contains(strings.ToUpper(err.Error()), secret[16:]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestMarshalKeyFile(t *testing.T) {
	k := newKey(t).Public()
	added := time.Date(2026, 11, 26, 11, 33, 0, 0, time.UTC)
	got := string(MarshalKeyFile(k, added))
	if want := "# added: 2026-11-26T11:33:00Z\n" + k.String() + "\n"; got != want {
		t.Fatalf("MarshalKeyFile = %q, want %q", got, want)
	}
	if at, ok := parseAdded([]byte(got)); !ok || !at.Equal(added) {
		t.Fatalf("parseAdded = %v, %v", at, ok)
	}
	if got := string(MarshalKeyFile(k, time.Time{})); got != k.String()+"\n" {
		t.Fatalf("MarshalKeyFile without time = %q", got)
	}
}

func FuzzParseKeyFile(f *testing.F) {
	k, _ := crypto.GenerateKey(rand.Reader)
	f.Add(MarshalKeyFile(k.Public(), time.Unix(0, 0)))
	f.Add([]byte(k.Public().String()))
	f.Add([]byte(k.String()))
	f.Add([]byte("# c\n\nage1\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		key, err := ParseKeyFile(content)
		if err != nil {
			if !errors.Is(err, ErrBadKey) && !errors.Is(err, ErrSecretKey) {
				t.Fatalf("error %v matches neither ErrBadKey nor ErrSecretKey", err)
			}
			return
		}
		if crypto.CheckPublic(key) != nil {
			t.Fatalf("accepted a low-order key")
		}
		again, err := ParseKeyFile(MarshalKeyFile(key, time.Now()))
		if err != nil || again != key {
			t.Fatalf("key does not survive MarshalKeyFile: %v", err)
		}
	})
}
