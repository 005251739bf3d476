package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// trio starts alice, bob and carol, all trusting each other, and makes
// alice create group team with bob and carol as members.
func trio(t *testing.T) (alice, bob, carol *Node) {
	t.Helper()
	RequireFUSE(t)
	alice, bob, carol = NewNode(t, "alice"), NewNode(t, "bob"), NewNode(t, "carol")
	bob.Connect(alice)
	carol.Connect(alice, bob)
	alice.Start()
	bob.Start()
	carol.Start()
	trust(t, alice, bob)
	trust(t, alice, carol)
	trust(t, bob, carol)

	if err := os.Mkdir(alice.Path("team"), 0o700); err != nil {
		t.Fatalf("mkdir team: %v", err)
	}
	for _, m := range []string{"bob", "carol"} {
		run(t, "touch", alice.Path("team", m))
	}
	for _, n := range []*Node{bob, carol} {
		Eventually(t, 15*time.Second, func() error {
			members, err := os.ReadDir(n.Path("team"))
			if err != nil {
				return err
			}
			var names []string
			for _, m := range members {
				names = append(names, m.Name())
			}
			if len(names) < 2 {
				return fmt.Errorf("%s sees team members %v", n.Name, names)
			}
			return nil
		})
	}
	return alice, bob, carol
}

func TestGroupMessagesReachEveryMemberOnce(t *testing.T) {
	alice, bob, carol := trio(t)
	for _, n := range []*Node{alice, bob, carol} {
		if err := os.WriteFile(n.Path("team", ".all"), []byte("hi from "+n.Name+"\n"), 0o600); err != nil {
			t.Fatalf("%s writes team/.all: %v", n.Name, err)
		}
		// Wait for each message everywhere so the order is the same on all.
		for _, r := range []*Node{alice, bob, carol} {
			from := n.Name
			if r == n {
				from = "me"
			}
			want := from + ": hi from " + n.Name
			Eventually(t, 15*time.Second, func() error {
				for _, l := range logTexts(t, r.Path("team", ".all")) {
					if l == want {
						return nil
					}
				}
				return fmt.Errorf("%s/team/.all lacks %q: %q", r.Name, want, logTexts(t, r.Path("team", ".all")))
			})
		}
	}
	time.Sleep(2 * time.Second) // relays that were in flight must not duplicate
	for _, r := range []*Node{alice, bob, carol} {
		if got := logTexts(t, r.Path("team", ".all")); len(got) != 3 {
			t.Errorf("%s/team/.all has %d messages, want 3: %q", r.Name, len(got), got)
		}
	}
}

func TestGroupMemberDownGetsItLater(t *testing.T) {
	alice, bob, carol := trio(t)
	if err := os.WriteFile(alice.Path("team", ".all"), []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, carol.Path("team", ".all"), []string{"alice: first"})
	carol.Stop()
	if err := os.WriteFile(alice.Path("team", ".all"), []byte("while you were out\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, bob.Path("team", ".all"), []string{"alice: first", "alice: while you were out"})
	carol.Start()
	waitLog(t, carol.Path("team", ".all"), []string{"alice: first", "alice: while you were out"})
}

func TestRemovedMemberCannotRead(t *testing.T) {
	alice, bob, carol := trio(t)
	if err := os.WriteFile(alice.Path("team", ".all"), []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, carol.Path("team", ".all"), []string{"alice: before"})

	run(t, "rm", alice.Path("team", "carol"))
	Eventually(t, 15*time.Second, func() error {
		if _, err := os.Stat(carol.Path("team")); err == nil {
			return fmt.Errorf("carol still has team/")
		}
		if _, err := os.Stat(bob.Path("team", "carol")); err == nil {
			return fmt.Errorf("bob still lists carol in team/")
		}
		return nil
	})
	if err := os.WriteFile(alice.Path("team", ".all"), []byte("after\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, bob.Path("team", ".all"), []string{"alice: before", "alice: after"})
	time.Sleep(2 * time.Second)
	if strings.Contains(carol.Log(), "rotated") {
		t.Log("carol's log mentions a rotation; that is her own chain")
	}
	events, _ := os.ReadFile(carol.Path(".all"))
	if strings.Contains(string(events), "after") {
		t.Errorf("carol shows a message sent after her removal")
	}
	if !strings.Contains(alice.Log(), "rotated sending chain") {
		t.Errorf("alice did not rotate her chain after removing carol:\n%s", alice.Log())
	}
}

func TestEveryoneAll(t *testing.T) {
	alice, bob := pair(t)
	if err := os.WriteFile(alice.Path(".all"), []byte("to everyone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, bob.Path(".all"), []string{"alice: to everyone"})
	waitLog(t, alice.Path(".all"), []string{"me: to everyone"})
}
