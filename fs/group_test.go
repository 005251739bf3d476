package fs

import (
	"os"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	m := startMount(t)
	steps := []struct {
		name   string
		script string
		fails  string // substring of the error, "" if it succeeds
		check  func(t *testing.T)
	}{
		{"mkdir creates", "mkdir team", "", func(t *testing.T) {
			if got := m.mustSh("ls -A team"); got != ".all\n" {
				t.Errorf("ls -A team = %q", got)
			}
		}},
		{"mkdir over a peer", "mkdir alice", "File exists", nil},
		{"mkdir over a group", "mkdir team", "File exists", nil},
		{"mkdir dot name", "mkdir .x", "Invalid argument", nil},
		{"touch adds a member", "touch team/alice", "", func(t *testing.T) {
			if got := m.mustSh("ls team"); got != "alice\n" {
				t.Errorf("ls team = %q", got)
			}
		}},
		{"touch a member again", "touch team/alice", "", nil},
		{"touch an unknown peer", "touch team/carol", "Permission denied", nil},
		{"write the group", "echo hello team > team/.all", "", func(t *testing.T) {
			if got := messages(m.readFile("team/.all")); !slicesEqual(got, []string{"me hello team"}) {
				t.Errorf("team/.all = %q", got)
			}
		}},
		{"member file is the conversation", "echo psst > team/alice", "", func(t *testing.T) {
			a, ta := m.readFile("alice"), m.readFile("team/alice")
			if a != ta || !strings.Contains(a, " me psst\n") {
				t.Errorf("alice = %q, team/alice = %q", a, ta)
			}
		}},
		{"mkdir inside a group", "mkdir team/sub", "Operation not permitted", nil},
		{"mv a member", "mv team/alice team/bob", "Operation not permitted", nil},
		{"rm a member", "rm team/alice", "", func(t *testing.T) {
			if got := m.mustSh("ls team"); got != "" {
				t.Errorf("ls team = %q", got)
			}
			if _, err := os.Stat(m.path("alice")); err != nil {
				t.Errorf("alice gone with the membership: %v", err)
			}
		}},
		{"rm .all deletes history", "rm team/.all", "", func(t *testing.T) {
			if fi, err := os.Stat(m.path("team/.all")); err != nil || fi.Size() != 0 {
				t.Errorf("team/.all after rm: %v %v", fi, err)
			}
		}},
		{"rmdir leaves", "rmdir team", "", func(t *testing.T) {
			if _, err := os.Stat(m.path("team")); !os.IsNotExist(err) {
				t.Errorf("team after rmdir: %v", err)
			}
		}},
		{"rmdir keys", "rmdir keys", "Permission denied", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := m.sh(st.script)
			switch {
			case st.fails == "" && r.code != 0:
				t.Fatalf("%s: exit %d: %s", st.script, r.code, r.stderr)
			case st.fails != "" && (r.code == 0 || !strings.Contains(r.stderr, st.fails)):
				t.Fatalf("%s: exit %d, stderr %q; want a failure with %q", st.script, r.code, r.stderr, st.fails)
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}

	// An invitation makes a directory appear.
	m.ctl("invite club alice bob")
	if got := m.mustSh("ls -A club"); got != ".all\nalice\nbob\n" {
		t.Errorf("ls -A club = %q", got)
	}
	m.ctl("recv club/.all bob hi all")
	if got := messages(m.readFile("club/.all")); !slicesEqual(got, []string{"bob hi all"}) {
		t.Errorf("club/.all = %q", got)
	}
}
