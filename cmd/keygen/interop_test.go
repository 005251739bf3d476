package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
)

// These tests check interoperability with the real age tools (Debian
// package age).

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package age): cannot test interoperability with it", name)
	}
	return p
}

// TestAgeDecryptsWithOurIdentity: age encrypts to the recipient mfs-keygen
// printed, and `age -d -i` decrypts with the identity mfs-keygen wrote.
func TestAgeDecryptsWithOurIdentity(t *testing.T) {
	age := needTool(t, "age")
	env, home := testEnv(t)
	id := filepath.Join(home, "id")
	pub := stderrKey(t, mustRun(t, env, "", binary, "-o", id).stderr)
	plain := filepath.Join(home, "plain")
	os.WriteFile(plain, []byte("hello from age\n"), 0o600)
	ct := filepath.Join(home, "ct.age")
	mustRun(t, env, "", age, "-r", pub.String(), "-o", ct, plain)
	out := filepath.Join(home, "out")
	mustRun(t, env, "", age, "-d", "-i", id, "-o", out, ct)
	if got, _ := os.ReadFile(out); string(got) != "hello from age\n" {
		t.Fatalf("age decrypted %q", got)
	}
	// And age agrees on the recipient of our identity file.
	if r := mustRun(t, env, "", needTool(t, "age-keygen"), "-y", id); strings.TrimSpace(r.stdout) != pub.String() {
		t.Fatalf("age-keygen -y says %q, mfs-keygen printed %s", r.stdout, pub)
	}
}

// TestAgeKeygenIdentity: an identity from age-keygen loads with
// crypto.ParseIdentityFile, keyring.LoadIdentity and mfs-keygen -y, all
// giving the recipient `age-keygen -y` gives.
func TestAgeKeygenIdentity(t *testing.T) {
	ageKeygen := needTool(t, "age-keygen")
	env, home := testEnv(t)
	id := filepath.Join(home, "age-id")
	mustRun(t, env, "", ageKeygen, "-o", id)
	want := strings.TrimSpace(mustRun(t, env, "", ageKeygen, "-y", id).stdout)

	data, err := os.ReadFile(id)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseIdentityFile(data, nil)
	if err != nil {
		t.Fatalf("ParseIdentityFile(age-keygen file): %v", err)
	}
	if k.Public().String() != want {
		t.Fatalf("ParseIdentityFile gives %s, age-keygen -y %s", k.Public(), want)
	}
	if k2, err := keyring.LoadIdentity(id, nil); err != nil || k2 != k {
		t.Fatalf("keyring.LoadIdentity(age-keygen file): %v", err)
	}
	if got := strings.TrimSpace(mustRun(t, env, "", binary, "-y", id).stdout); got != want {
		t.Fatalf("mfs-keygen -y gives %s, age-keygen -y %s", got, want)
	}
	// And `age-keygen -y` output is a valid key file for keys/.
	if p, err := keyring.ParseKeyFile([]byte(want + "\n")); err != nil || p != k.Public() {
		t.Fatalf("keyring.ParseKeyFile(age-keygen -y): %v", err)
	}
}

// TestAgeDecryptsPassphraseIdentity: `age -d` decrypts a --passphrase
// identity given the passphrase on a terminal (age 1.x reads passphrases
// only from the terminal; it has no environment variable for them), and
// `age -d -i` uses it as an encrypted identity file.
func TestAgeDecryptsPassphraseIdentity(t *testing.T) {
	age := needTool(t, "age")
	const pass = "interop passphrase"
	env, home := testEnv(t, "MFS_PASSPHRASE="+pass)
	id := filepath.Join(home, "id.age")
	pub := stderrKey(t, mustRun(t, env, "", binary, "--passphrase", "-o", id).stderr)
	if got := strings.TrimSpace(mustRun(t, env, "", binary, "-y", id).stdout); got != pub.String() {
		t.Fatalf("mfs-keygen -y gives %s, generation printed %s", got, pub)
	}

	// age -d with the passphrase typed on a terminal.
	plainID := filepath.Join(home, "id.txt")
	s := startPTY(t, env, fmt.Sprintf("%s -d -o '%s' '%s'", age, plainID, id))
	s.answer(0, "passphrase", pass)
	if code := s.wait(); code != 0 {
		t.Fatalf("age -d: exit %d, output %q", code, s.output())
	}
	data, err := os.ReadFile(plainID)
	if err != nil {
		t.Fatal(err)
	}
	if k := checkIdentityFile(t, data); k.Public() != pub {
		t.Fatalf("age decrypted an identity of %s, want %s", k.Public(), pub)
	}

	// age -d -i with our protected file as the identity.
	plain := filepath.Join(home, "plain")
	os.WriteFile(plain, []byte("secret message\n"), 0o600)
	ct := filepath.Join(home, "ct.age")
	mustRun(t, env, "", age, "-r", pub.String(), "-o", ct, plain)
	out := filepath.Join(home, "out")
	s = startPTY(t, env, fmt.Sprintf("%s -d -i '%s' -o '%s' '%s'", age, id, out, ct))
	s.answer(0, "passphrase", pass)
	if code := s.wait(); code != 0 {
		t.Fatalf("age -d -i: exit %d, output %q", code, s.output())
	}
	if got, _ := os.ReadFile(out); string(got) != "secret message\n" {
		t.Fatalf("age -d -i decrypted %q", got)
	}
}

// TestAgePassphraseFileLoads: a file protected by `age -p` (binary, as age
// writes by default) loads as an identity.
func TestAgePassphraseFileLoads(t *testing.T) {
	age := needTool(t, "age")
	env, home := testEnv(t)
	k, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(home, "id.txt")
	os.WriteFile(plain, crypto.MarshalIdentityFile(k, time.Now()), 0o600)
	enc := filepath.Join(home, "id.age")
	s := startPTY(t, env, fmt.Sprintf("%s -p -o '%s' '%s'", age, enc, plain))
	at := s.answer(0, "passphrase", "pw from age")
	s.answer(at, "Confirm", "pw from age")
	if code := s.wait(); code != 0 {
		t.Fatalf("age -p: exit %d, output %q", code, s.output())
	}
	os.Chmod(enc, 0o600)
	got, err := keyring.LoadIdentity(enc, func() ([]byte, error) { return []byte("pw from age"), nil })
	if err != nil || got != k {
		t.Fatalf("LoadIdentity(age -p file): %v", err)
	}
	envPass, _ := testEnv(t, "MFS_PASSPHRASE=pw from age")
	if r := mustRun(t, envPass, "", binary, "-y", enc); strings.TrimSpace(r.stdout) != k.Public().String() {
		t.Fatalf("mfs-keygen -y on an age -p file: %q", r.stdout)
	}
}
