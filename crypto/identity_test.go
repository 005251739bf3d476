package crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"pgregory.net/rapid"
)

func idGenerate(t testing.TB) PrivateKey {
	t.Helper()
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// idEncode bech32-encodes data under hrp, for building bad keys.
func idEncode(t testing.TB, hrp string, data []byte) string {
	t.Helper()
	s, err := bech32Encode(hrp, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idTypo replaces character i of the bech32 string s by another one of the
// alphabet, keeping the case of s.
func idTypo(s string, i int) string {
	c := bech32Charset[(strings.IndexByte(bech32Charset, lowerASCII(s[i]))+1)%32]
	if strings.ToUpper(s) == s {
		return s[:i] + strings.ToUpper(string(c)) + s[i+1:]
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestIdentityInteropWithAge(t *testing.T) {
	for range 20 {
		// Ours, read by age.
		k := idGenerate(t)
		id, err := age.ParseX25519Identity(k.String())
		if err != nil {
			t.Fatalf("age cannot parse our identity: %v", err)
		}
		if id.String() != k.String() {
			t.Fatalf("age re-encodes our identity differently")
		}
		if got, want := id.Recipient().String(), k.Public().String(); got != want {
			t.Fatalf("age derives recipient %s, we derive %s", got, want)
		}
		if _, err := age.ParseX25519Recipient(k.Public().String()); err != nil {
			t.Fatalf("age cannot parse our recipient: %v", err)
		}

		// age's, read by us.
		aid, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseIdentity(aid.String())
		if err != nil {
			t.Fatalf("ParseIdentity(age identity): %v", err)
		}
		if k2.String() != aid.String() {
			t.Fatalf("our encoding of age's identity differs")
		}
		p, err := ParseRecipient(aid.Recipient().String())
		if err != nil {
			t.Fatalf("ParseRecipient(age recipient): %v", err)
		}
		if !p.Equal(k2.Public()) || p.String() != aid.Recipient().String() {
			t.Fatalf("age recipient %s, ours %s", aid.Recipient(), k2.Public())
		}
	}
}

func TestParseRecipient(t *testing.T) {
	k := idGenerate(t)
	good := k.Public().String()
	secret := k.String()
	for _, tc := range []struct {
		name     string
		in       string
		lowOrder bool   // also wraps ErrLowOrder
		msg      string // in the error; "" for success
	}{
		{"plain", good, false, ""},
		{"surrounding space", " \t" + good + "\r\n", false, ""},
		{"empty", "  \n", false, "empty"},
		{"secret key", secret, false, "mfs-keygen -y"},
		{"lower-case secret key", strings.ToLower(secret), false, "secret identity"},
		{"upper case", strings.ToUpper(good), false, "lower case"},
		{"post-quantum", "age1pq1" + strings.Repeat("q", 80), false, "post-quantum"},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGsx", false, "age1"},
		{"wrong HRP", idEncode(t, "agf", k[:]), false, "age1"},
		{"truncated", good[:len(good)-1], false, "copied completely"},
		{"typo", idTypo(good, 10), false, "checksum"},
		{"31 bytes", idEncode(t, "age", k[:31]), false, "31 bytes"},
		{"33 bytes", idEncode(t, "age", append(k[:], 0)), false, "33 bytes"},
		{"two keys", good + " " + good, false, "age"},
		{"zero key", idEncode(t, "age", make([]byte, 32)), true, "low-order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseRecipient(tc.in)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("ParseRecipient: %v", err)
				}
				if !p.Equal(k.Public()) {
					t.Fatalf("parsed a different key")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRecipient(%q) succeeded", tc.in)
			}
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Errorf("error %q does not wrap ErrInvalidRecipient", err)
			}
			if errors.Is(err, ErrLowOrder) != tc.lowOrder {
				t.Errorf("errors.Is(%q, ErrLowOrder) = %v", err, !tc.lowOrder)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), secret[16:]) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret[16:])) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestParseIdentity(t *testing.T) {
	k := idGenerate(t)
	good := k.String()
	for _, tc := range []struct {
		name string
		in   string
		msg  string // in the error; "" for success
	}{
		{"plain", good, ""},
		{"surrounding space", "  " + good + "\n", ""},
		{"empty", "", "empty"},
		{"lower case", strings.ToLower(good), "upper case"},
		{"recipient", k.Public().String(), "public key"},
		{"post-quantum", "AGE-SECRET-KEY-PQ-1" + strings.Repeat("Q", 60), "post-quantum"},
		{"other", "-----BEGIN OPENSSH PRIVATE KEY-----", "must start with"},
		{"typo", idTypo(good, 20), "checksum"},
		{"wrong HRP", idEncode(t, "AGE-SECRET-KEY-1X", k[:]), "AGE-SECRET-KEY-1"},
		{"16 bytes", idEncode(t, "AGE-SECRET-KEY-", k[:16]), "16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIdentity(tc.in)
			if tc.msg == "" {
				if err != nil || got != k {
					t.Fatalf("ParseIdentity: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseIdentity(%q) succeeded", tc.in)
			}
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("error %q does not wrap ErrInvalidIdentity", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if strings.Contains(strings.ToUpper(err.Error()), good[16:]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestRecipientRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var p PublicKey
		copy(p[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key"))
		s := p.String()
		if !strings.HasPrefix(s, "age1") || len(s) != 62 {
			t.Fatalf("String() = %q", s)
		}
		got, err := ParseRecipient(s)
		if CheckPublic(p) != nil {
			if !errors.Is(err, ErrLowOrder) {
				t.Fatalf("low-order key parsed: %v", err)
			}
			return
		}
		if err != nil || got != p {
			t.Fatalf("ParseRecipient(%q) = %x, %v; want %x", s, got, err, p)
		}
		if r, err := age.ParseX25519Recipient(s); err != nil || r.String() != s {
			t.Fatalf("age parses %q as %v, %v", s, r, err)
		}
	})
}

func TestIdentityRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var k PrivateKey
		copy(k[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "key"))
		s := k.String()
		if !strings.HasPrefix(s, "AGE-SECRET-KEY-1") || len(s) != 74 || strings.ToUpper(s) != s {
			t.Fatalf("String() = %q", s)
		}
		got, err := ParseIdentity(s)
		if err != nil || got != k {
			t.Fatalf("ParseIdentity round trip: %v", err)
		}
	})
}

func TestMarshalIdentityFile(t *testing.T) {
	k := idGenerate(t)
	created := time.Date(2026, 11, 26, 11, 33, 0, 0, time.FixedZone("CET", 3600))
	got := string(MarshalIdentityFile(k, created))
	want := "# created: 2026-11-26T11:33:00+01:00\n" +
		"# public key: " + k.Public().String() + "\n" +
		k.String() + "\n"
	if got != want {
		t.Fatalf("MarshalIdentityFile =\n%s\nwant\n%s", got, want)
	}
	if utc := string(MarshalIdentityFile(k, created.UTC())); !strings.HasPrefix(utc, "# created: 2026-11-26T10:33:00Z\n") {
		t.Errorf("UTC file starts %q", utc[:30])
	}
	ids, err := age.ParseIdentities(strings.NewReader(got))
	if err != nil || len(ids) != 1 {
		t.Fatalf("age.ParseIdentities: %v, %d identities", err, len(ids))
	}
	if r := ids[0].(*age.X25519Identity).Recipient().String(); r != k.Public().String() {
		t.Fatalf("age reads recipient %s, want %s", r, k.Public())
	}
	back, err := ParseIdentityFile([]byte(got), nil)
	if err != nil || back != k {
		t.Fatalf("ParseIdentityFile(MarshalIdentityFile): %v", err)
	}
}

func TestParseIdentityFile(t *testing.T) {
	k := idGenerate(t)
	k2 := idGenerate(t)
	file := string(MarshalIdentityFile(k, time.Now()))
	for _, tc := range []struct {
		name string
		in   string
		msg  string // in the error; "" for success
	}{
		{"age-keygen format", file, ""},
		{"bare identity", k.String(), ""},
		{"CRLF and blank lines", "\r\n# comment\r\n\r\n  " + k.String() + "  \r\n\r\n", ""},
		{"empty", "", "no identity"},
		{"only comments", "# created: now\n# public key: " + k.Public().String() + "\n", "no identity"},
		{"two identities", file + k2.String() + "\n", "2 identities"},
		{"same identity twice", k.String() + "\n" + k.String() + "\n", "2 identities"},
		{"recipient file", k.Public().String() + "\n", "public key"},
		{"garbage line", file + "hello\n", "line 4"},
		{"post-quantum", "AGE-SECRET-KEY-PQ-1" + strings.Repeat("Q", 60) + "\n", "post-quantum"},
		{"too large", strings.Repeat("#", 65<<10), "64 KiB"},
		{"binary", "\x00\x01\x02", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			got, err := ParseIdentityFile([]byte(tc.in), func() ([]byte, error) {
				called = true
				return []byte("x"), nil
			})
			if called {
				t.Errorf("passphrase asked for a plain file")
			}
			if tc.msg == "" {
				if err != nil || got != k {
					t.Fatalf("ParseIdentityFile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseIdentityFile succeeded")
			}
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("error %q does not wrap ErrInvalidIdentity", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// idAgeEncrypt encrypts plain with age to r, armored or not.
func idAgeEncrypt(t *testing.T, plain []byte, armored bool, r age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func idScryptRecipient(t *testing.T, pass string) *age.ScryptRecipient {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	return r
}

func TestParseIdentityFileEncrypted(t *testing.T) {
	k := idGenerate(t)
	plain := MarshalIdentityFile(k, time.Now())
	ours, err := encryptIdentityFile(plain, []byte("correct horse"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ours, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Fatalf("EncryptIdentityFile output is not armored: %.40q", ours)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pass := func(s string) func() ([]byte, error) {
		return func() ([]byte, error) { return []byte(s), nil }
	}
	errAsk := errors.New("no terminal")
	for _, tc := range []struct {
		name string
		data []byte
		pass func() ([]byte, error)
		want error // nil for success
		msg  string
	}{
		{"ours", ours, pass("correct horse"), nil, ""},
		{"ours with leading space", append([]byte("\n  \n"), ours...), pass("correct horse"), nil, ""},
		{"age -p binary", idAgeEncrypt(t, plain, false, idScryptRecipient(t, "pw")), pass("pw"), nil, ""},
		{"age -p -a", idAgeEncrypt(t, plain, true, idScryptRecipient(t, "pw")), pass("pw"), nil, ""},
		{"wrong passphrase", ours, pass("wrong"), ErrWrongPassphrase, "incorrect passphrase"},
		{"empty passphrase", ours, pass(""), ErrWrongPassphrase, "empty"},
		{"no passphrase function", ours, nil, ErrNoPassphrase, "passphrase protected"},
		{"passphrase error", ours, func() ([]byte, error) { return nil, errAsk }, errAsk, "no terminal"},
		{"encrypted to a key", idAgeEncrypt(t, plain, true, other.Recipient()), pass("pw"), ErrInvalidIdentity, "age -d"},
		{"damaged", ours[:len(ours)-60], pass("correct horse"), ErrInvalidIdentity, "damaged"},
		{"encrypted garbage", idAgeEncrypt(t, []byte("hello\n"), false, idScryptRecipient(t, "pw")), pass("pw"), ErrInvalidIdentity, "line 1"},
		{"encrypted twice", idAgeEncrypt(t, ours, false, idScryptRecipient(t, "pw")), pass("pw"), ErrInvalidIdentity, "encrypted again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIdentityFile(tc.data, tc.pass)
			if tc.want == nil {
				if err != nil || got != k {
					t.Fatalf("ParseIdentityFile: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// TestEncryptIdentityFileDefault checks EncryptIdentityFile with age's
// default work factor against age's own decryption.
func TestEncryptIdentityFileDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at age's default work factor takes a second")
	}
	k := idGenerate(t)
	plain := MarshalIdentityFile(k, time.Now())
	enc, err := EncryptIdentityFile(plain, []byte("pass phrase"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.NewScryptIdentity("pass phrase")
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(enc)), id)
	if err != nil {
		t.Fatalf("age cannot decrypt: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("age decrypts %q, %v", got, err)
	}
	if _, err := EncryptIdentityFile(plain, nil); err == nil {
		t.Errorf("EncryptIdentityFile accepted an empty passphrase")
	}
}

func FuzzParseRecipient(f *testing.F) {
	k, _ := GenerateKey(rand.Reader)
	f.Add(k.Public().String())
	f.Add("age1lvyvwawkr0mcnnnncaghunadrqkmuf9e6507x9y920xxpp866cnql7dp2z")
	f.Add(" age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq ")
	f.Add(k.String())
	f.Add("age1pq1")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRecipient(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Fatalf("error %v does not wrap ErrInvalidRecipient", err)
			}
			return
		}
		if CheckPublic(p) != nil {
			t.Fatalf("accepted a low-order key")
		}
		if p.String() != strings.TrimSpace(s) {
			t.Fatalf("parsed %q, prints as %q", s, p.String())
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	k, _ := GenerateKey(rand.Reader)
	f.Add(k.String())
	f.Add(strings.ToLower(k.String()))
	f.Add(k.Public().String())
	f.Add("AGE-SECRET-KEY-PQ-1")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseIdentity(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("error %v does not wrap ErrInvalidIdentity", err)
			}
			return
		}
		if k.String() != strings.TrimSpace(s) {
			t.Fatalf("parsed %q, prints as %q", s, k.String())
		}
	})
}

func FuzzParseIdentityFile(f *testing.F) {
	k, _ := GenerateKey(rand.Reader)
	plain := MarshalIdentityFile(k, time.Unix(0, 0).UTC())
	f.Add(plain)
	f.Add(append(plain, plain...))
	f.Add([]byte("# comment\n\n" + k.String()))
	if enc, err := encryptIdentityFile(plain, []byte("pw"), 1); err == nil {
		f.Add(enc)
	}
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAA 10\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseIdentityFile(data, func() ([]byte, error) {
			return nil, errors.New("no passphrase in fuzzing")
		})
		if err != nil {
			return
		}
		again, err := ParseIdentityFile(MarshalIdentityFile(k, time.Now()), nil)
		if err != nil || again != k {
			t.Fatalf("identity does not survive MarshalIdentityFile: %v", err)
		}
	})
}
