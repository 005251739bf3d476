package fs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
)

func newKey(t *testing.T) (recipient, secret string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String(), id.String()
}

// gone waits until name has disappeared (a key file that never became
// valid goes with its last handle, and release is asynchronous).
func (m *testMount) gone(t *testing.T, name string) {
	t.Helper()
	eventually(t, name+" to disappear", func() bool {
		_, err := os.Stat(m.path(name))
		return os.IsNotExist(err)
	})
}

func TestKeyFilesFromShell(t *testing.T) {
	m := startMount(t)
	carol, _ := newKey(t)
	_, secret := newKey(t)
	other, _ := newKey(t)
	k1, _ := newKey(t)
	k2, _ := newKey(t)
	aliceKey := strings.TrimSpace(m.readFile("keys/alice.pub"))

	for _, tc := range []struct {
		name    string
		script  string
		fails   string // a substring of the shell's error, "" if it succeeds
		present []string
		absent  []string
	}{
		{"trust", "echo " + carol + " > keys/carol.pub", "", []string{"carol", "keys/carol.pub"}, nil},
		{"same key again", "echo " + carol + " > keys/carol.pub", "", []string{"carol"}, nil},
		{"with comments", "printf '# created: now\\n# public key: %s\\n%s\\n' " + other + " " + other + " > keys/dave.pub", "", []string{"dave"}, nil},
		{"secret key", "echo " + secret + " > keys/x.pub", "Invalid argument", nil, []string{"keys/x.pub", "x"}},
		{"garbage", "echo not-a-key > keys/y.pub", "Invalid argument", nil, []string{"keys/y.pub", "y"}},
		{"two keys", "printf '%s\\n%s\\n' " + k1 + " " + k2 + " > keys/z.pub", "Invalid argument", nil, []string{"keys/z.pub"}},
		{"different key over alice", "echo " + carol + " > keys/alice.pub", "File exists", []string{"alice"}, nil},
		{"key trusted as another alias", "echo " + aliceKey + " > keys/alice2.pub", "File exists", nil, []string{"keys/alice2.pub"}},
		{"not .pub", "echo " + carol + " > keys/carol.key", "Invalid argument", nil, []string{"keys/carol.key"}},
		{"bad alias", "echo " + carol + " > keys/Carol.pub", "Invalid argument", nil, []string{"keys/Carol.pub"}},
		{"reserved alias", "echo " + carol + " > keys/keys.pub", "Invalid argument", nil, []string{"keys/keys.pub"}},
		{"write self.pub", "echo " + carol + " > keys/self.pub", "Permission denied", nil, nil},
		{"append self.pub", "echo " + carol + " >> keys/self.pub", "Permission denied", nil, nil},
		{"touch self.pub", "touch keys/self.pub", "Permission denied", nil, nil},
		{"rm self.pub", "rm -f keys/self.pub", "Permission denied", []string{"keys/self.pub"}, nil},
		{"mv self.pub", "mv keys/self.pub keys/me.pub", "Permission denied", []string{"keys/self.pub"}, nil},
		{"self.pub not writable", "test -w keys/self.pub || { echo not writable >&2; exit 1; }", "not writable", nil, nil},
		{"rename", "mv keys/carol.pub keys/carla.pub", "", []string{"carla", "keys/carla.pub"}, []string{"carol", "keys/carol.pub"}},
		{"rename onto taken alias", "mv keys/carla.pub keys/bob.pub", "File exists", []string{"carla", "bob"}, nil},
		{"revoke", "rm keys/carla.pub", "", nil, []string{"carla", "keys/carla.pub"}},
		{"touch makes nothing", "touch keys/empty.pub", "", nil, []string{"keys/empty.pub", "empty"}},
		{"cp a key file in", "f=$(mktemp) && echo " + k1 + " > $f && cp $f keys/ivan.pub; rc=$?; rm -f $f; exit $rc", "", []string{"ivan"}, nil},
		{"mv a key file in", "d=$(mktemp -d) && echo " + k2 + " > $d/judy.pub && chmod 644 $d/judy.pub && mv $d/judy.pub keys/; rc=$?; rm -rf $d; exit $rc", "", []string{"judy"}, nil},
		{"mv a bad key file in", "d=$(mktemp -d) && echo " + secret + " > $d/kim.pub && mv $d/kim.pub keys/; rc=$?; rm -rf $d; exit $rc", "Invalid argument", nil, []string{"keys/kim.pub", "kim"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m.sh(tc.script)
			switch {
			case tc.fails == "" && r.code != 0:
				t.Fatalf("%s: exit %d: %s", tc.script, r.code, r.stderr)
			case tc.fails != "" && (r.code == 0 || !strings.Contains(r.stderr, tc.fails)):
				t.Fatalf("%s: exit %d, stderr %q; want a failure with %q", tc.script, r.code, r.stderr, tc.fails)
			}
			for _, name := range tc.present {
				if _, err := os.Stat(m.path(name)); err != nil {
					t.Errorf("%s missing: %v", name, err)
				}
			}
			for _, name := range tc.absent {
				m.gone(t, name)
			}
		})
	}
	if got := m.readFile("keys/dave.pub"); got != other+"\n" {
		t.Errorf("keys/dave.pub = %q", got)
	}
	if got := strings.TrimSpace(m.readFile("keys/alice.pub")); got != aliceKey {
		t.Errorf("alice's key changed to %q", got)
	}
}

// TestKeyFileInPieces writes key files the way programs may: several
// write(2)s, a comment first, the key in two pieces, the newline last.
func TestKeyFileInPieces(t *testing.T) {
	m := startMount(t)
	key, _ := newKey(t)
	f, err := os.OpenFile(m.path("keys/erin.pub"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := os.Stat(m.path("keys/erin.pub"))
	if err != nil || fi.Size() != 0 || fi.Mode() != 0o600 {
		t.Fatalf("a key file being written: %v %v, want an empty 0600 file", fi, err)
	}
	for _, piece := range []string{"# bob's key\n", "# ", "comment\n", key[:20], key[20:], "\n"} {
		if _, err := f.WriteString(piece); err != nil {
			t.Fatalf("write %q: %v", piece, err)
		}
	}
	// A second key line makes the content invalid: that write fails.
	key2, _ := newKey(t)
	if _, err := f.WriteString(key2 + "\n"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("write of a second key: %v, want EINVAL", err)
	}
	if _, err := os.Stat(m.path("erin")); err == nil {
		t.Fatalf("erin trusted before close")
	}
	// An open on which a write failed trusts nothing.
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	m.gone(t, "keys/erin.pub")
	if _, err := os.Stat(m.path("erin")); err == nil {
		t.Fatalf("erin trusted after a failed write")
	}

	// The same pieces without the bad line: trusted at close.
	f, err = os.OpenFile(m.path("keys/erin.pub"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []string{"# bob's key\n", key[:20], key[20:], "\n"} {
		if _, err := f.WriteString(piece); err != nil {
			t.Fatalf("write %q: %v", piece, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := m.readFile("keys/erin.pub"); got != key+"\n" {
		t.Errorf("keys/erin.pub = %q", got)
	}
	m.mustSh("echo hi > erin")

	// A key without a newline is checked at close.
	m.mustSh("printf %s " + key2 + " > keys/fred.pub")
	if _, err := os.Stat(m.path("fred")); err != nil {
		t.Errorf("fred not trusted after close: %v", err)
	}
	// and content without a key fails close(2).
	g, err := os.Create(m.path("keys/gina.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteString("# only a comment"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := g.Close(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("close of a key file without a key: %v, want EINVAL", err)
	}
	m.gone(t, "keys/gina.pub")
}

func TestPendingKeys(t *testing.T) {
	m := startMount(t)
	fpr, rcpt, _ := strings.Cut(m.ctl("pending"), " ")
	name := "keys/pending/" + fpr + ".pub"
	if got := m.mustSh("ls keys/pending"); got != fpr+".pub\n" {
		t.Fatalf("ls keys/pending = %q", got)
	}
	fi, err := os.Stat(m.path(name))
	if err != nil || fi.Mode() != 0o400 {
		t.Fatalf("stat %s: %v %v, want 0400", name, fi, err)
	}
	if got := m.readFile(name); got != rcpt+"\n" {
		t.Errorf("%s = %q", name, got)
	}
	for _, script := range []string{
		"echo x > " + name,
		"rm -f " + name,
		"touch " + name,
		"echo x > keys/pending/new.pub",
		"mv " + name + " keys/pending/other.pub",
		"mv " + name + " keys/alice.pub", // taken
		"mv " + name + " keys/Bad.pub",
	} {
		if r := m.sh(script); r.code == 0 {
			t.Errorf("%s succeeded", script)
		}
	}
	m.mustSh("mv " + name + " keys/henry.pub")
	if got := m.readFile("keys/henry.pub"); got != rcpt+"\n" {
		t.Errorf("keys/henry.pub = %q", got)
	}
	if got := m.mustSh("ls keys/pending"); got != "" {
		t.Errorf("ls keys/pending = %q after trusting", got)
	}
	m.mustSh("echo hi > henry")
}
