package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/messagefs/messagefs/crypto"
)

func TestDefaultIdentityPath(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	for _, tc := range []struct{ xdg, want string }{
		{"/xdg/config", "/xdg/config/messagefs/identity"},
		{"", "/home/tester/.config/messagefs/identity"},
		{"relative/config", "/home/tester/.config/messagefs/identity"}, // the XDG spec says to ignore it
	} {
		t.Setenv("XDG_CONFIG_HOME", tc.xdg)
		got, err := DefaultIdentityPath()
		if err != nil || got != tc.want {
			t.Errorf("XDG_CONFIG_HOME=%q: DefaultIdentityPath() = %q, %v; want %q", tc.xdg, got, err, tc.want)
		}
	}
}

func TestWriteIdentity(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "identity")
	k := newKey(t)
	data := crypto.MarshalIdentityFile(k, time.Now())
	if err := WriteIdentity(path, data); err != nil {
		t.Fatalf("WriteIdentity: %v", err)
	}
	for _, p := range []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", p, info.Mode(), err)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v, %v; want 0600", info.Mode(), err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatalf("identity content %q", got)
	}

	// Never overwritten.
	err = WriteIdentity(path, []byte("other"))
	if !errors.Is(err, ErrExists) || !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("second WriteIdentity = %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatalf("identity overwritten: %q", got)
	}
	got, err := LoadIdentity(path, nil)
	if err != nil || got != k {
		t.Fatalf("LoadIdentity: %v", err)
	}
}

func TestLoadIdentityPermissions(t *testing.T) {
	k := newKey(t)
	data := crypto.MarshalIdentityFile(k, time.Now())
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o644, false},
		{0o640, false},
		{0o604, false},
		{0o620, false},
		{0o602, false},
		{0o666, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadIdentity(path, nil)
			if tc.ok {
				if err != nil || got != k {
					t.Fatalf("LoadIdentity: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPermissions) {
				t.Fatalf("LoadIdentity = %v, want ErrPermissions", err)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

func TestLoadIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	missing := filepath.Join(dir, "missing")
	if _, err := LoadIdentity(missing, nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "mfs-keygen -o "+missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadIdentity(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	pubOnly := write("pub", []byte(k.Public().String()+"\n"))
	if _, err := LoadIdentity(pubOnly, nil); !errors.Is(err, crypto.ErrInvalidIdentity) || !strings.Contains(err.Error(), pubOnly) {
		t.Errorf("public key file: %v", err)
	}

	// Passphrase protected, as `age -p -a` writes it (with a small work
	// factor to keep the test fast).
	r, err := age.NewScryptRecipient("secret words")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(crypto.MarshalIdentityFile(k, time.Now()))
	w.Close()
	aw.Close()
	enc := write("enc", buf.Bytes())
	asked := 0
	got, err := LoadIdentity(enc, func() ([]byte, error) { asked++; return []byte("secret words"), nil })
	if err != nil || got != k || asked != 1 {
		t.Fatalf("encrypted identity: %v (asked %d times)", err, asked)
	}
	if _, err := LoadIdentity(enc, func() ([]byte, error) { return []byte("wrong"), nil }); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
