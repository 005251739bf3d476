package fs

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestLayout(t *testing.T) {
	m := startMount(t)
	m.ctl("invite team alice")

	if got, want := m.mustSh("ls -A"), ".all\n.events\n.outbox\n.peers\nalice\nbob\nkeys\nslow\nteam\n"; got != want {
		t.Errorf("ls -A =\n%s\nwant\n%s", got, want)
	}
	if got, want := m.mustSh("ls -A keys"), "alice.pub\nbob.pub\npending\nself.pub\nslow.pub\n"; got != want {
		t.Errorf("ls -A keys =\n%s\nwant\n%s", got, want)
	}
	if got, want := m.mustSh("ls -A team"), ".all\nalice\n"; got != want {
		t.Errorf("ls -A team =\n%s\nwant\n%s", got, want)
	}

	uid, gid := os.Getuid(), os.Getgid()
	for _, tc := range []struct {
		name string
		mode os.FileMode
	}{
		{".", os.ModeDir | 0o700},
		{".all", 0o600},
		{".events", 0o400},
		{".peers", 0o400},
		{".outbox", 0o400},
		{"alice", 0o600},
		{"keys", os.ModeDir | 0o700},
		{"keys/self.pub", 0o400},
		{"keys/alice.pub", 0o600},
		{"keys/pending", os.ModeDir | 0o700},
		{"team", os.ModeDir | 0o700},
		{"team/.all", 0o600},
		{"team/alice", 0o600},
	} {
		fi, err := os.Stat(m.path(tc.name))
		if err != nil {
			t.Errorf("stat %s: %v", tc.name, err)
			continue
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.name, fi.Mode(), tc.mode)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tc.name, st.Uid, st.Gid, uid, gid)
		}
	}

	// Unknown names, and dot names that are not ours, do not exist.
	for _, name := range []string{"carol", ".hidden", "keys/carol.pub", "keys/x", "team/bob", "keys/pending/x.pub"} {
		if _, err := os.Stat(m.path(name)); !os.IsNotExist(err) {
			t.Errorf("stat %s: %v, want ENOENT", name, err)
		}
	}

	self := m.readFile("keys/self.pub")
	if !strings.HasPrefix(self, "age1") || !strings.HasSuffix(self, "\n") {
		t.Errorf("self.pub = %q", self)
	}
	if peers := m.readFile(".peers"); !strings.Contains(peers, "alice - present") {
		t.Errorf(".peers = %q", peers)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil || st.Namelen != 255 {
		t.Errorf("statfs: %v, namelen %d", err, st.Namelen)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if !strings.Contains(string(mounts), "messagefs "+m.dir+" fuse.messagefs ") {
		t.Errorf("/proc/self/mounts has no 'messagefs %s fuse.messagefs' line", m.dir)
	}
}
