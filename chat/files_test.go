package chat

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

func TestCheckMount(t *testing.T) {
	empty := t.TempDir()
	err := CheckMount(empty)
	if !errors.Is(err, ErrNotMounted) {
		t.Fatalf("CheckMount(empty dir) = %v", err)
	}
	want := "nothing is mounted at " + empty + ": start a node with `messagefs " + empty + "` (see README)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := CheckMount(standIn(t)); err != nil {
		t.Errorf("CheckMount(stand-in) = %v", err)
	}
	if err := CheckMount(filepath.Join(empty, "missing")); !errors.Is(err, ErrNotMounted) {
		t.Errorf("CheckMount(missing) = %v", err)
	}
}

func TestMountType(t *testing.T) {
	procMounts := `proc /proc proc rw,nosuid 0 0
messagefs /home/al/messagefs fuse.messagefs rw,nosuid,nodev,user_id=1000 0 0
messagefs /home/al/my\040chat fuse.messagefs rw 0 0
tmpfs /tmp/x tmpfs rw 0 0
messagefs /tmp/x fuse.messagefs rw 0 0
`
	tests := map[string]string{
		"/home/al/messagefs": "fuse.messagefs",
		"/home/al/my chat":   "fuse.messagefs",
		"/tmp/x":             "fuse.messagefs", // the last mount wins
		"/proc":              "proc",
		"/home/al":           "",
	}
	for dir, want := range tests {
		if got := mountType([]byte(procMounts), dir); got != want {
			t.Errorf("mountType(%q) = %q, want %q", dir, got, want)
		}
	}
}

func TestReadEvents(t *testing.T) {
	in := "2026-11-26T11:33:00Z enter alice\nnot an event\n" +
		`2026-11-26T11:33:01Z msg alice alice hi\nthere` + "\n" +
		"2026-11-26T11:33:02Z exit alice" // no final newline
	var got []tea.Msg
	readEvents(strings.NewReader(in), func(m tea.Msg) { got = append(got, m) })
	if len(got) != 4 {
		t.Fatalf("got %d messages: %+v", len(got), got)
	}
	if e := got[1].(eventMsg).ev; e.Kind != KindMsg || e.Text != "hi\nthere" {
		t.Errorf("second event = %+v", e)
	}
	if e := got[2].(eventMsg).ev; e.Kind != KindExit {
		t.Errorf("third event = %+v", e)
	}
	if end, ok := got[3].(eventsEndMsg); !ok || end.err != nil {
		t.Errorf("last message = %+v", got[3])
	}
}

// TestReadEventsEndsOnClose checks what Run relies on at quit: closing a
// stream whose read is blocked ends the reader (a pipe stands in for the
// polled .events file).
func TestReadEventsEndsOnClose(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	msgs := make(chan tea.Msg, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		readEvents(r, func(m tea.Msg) { msgs <- m })
	}()
	io.WriteString(w, "2026-11-26T11:33:00Z enter alice\n")
	select {
	case m := <-msgs:
		if e, ok := m.(eventMsg); !ok || e.ev.Alias != "alice" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	r.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not end within 5s of Close")
	}
	if m := <-msgs; m.(eventsEndMsg).err == nil {
		t.Error("a closed stream ended without an error")
	}
}

func TestResolveConversation(t *testing.T) {
	dir := standIn(t)
	tests := []struct {
		name, want string
		err        error
	}{
		{"alice", "alice", nil},
		{".all", ".all", nil},
		{"everyone", ".all", nil},
		{"team", "team/.all", nil},
		{"team/.all", "team/.all", nil},
		{"alice/.all", "", syscall.ENOTDIR},
		{"carol", "", syscall.ENOENT},
		{"..", "", ErrBadName},
		{"a/b", "", ErrBadName},
		{"", "", ErrBadName},
	}
	for _, tt := range tests {
		got, err := resolveConversation(dir, tt.name)
		if got != tt.want || (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("resolveConversation(%q) = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestWriteOnceErrors(t *testing.T) {
	dir := t.TempDir()
	err := sendMessage(dir, "carol", "hi")
	if errnoOf(err) != syscall.ENOENT {
		t.Errorf("sending to a missing file: %v", err)
	}
	if got := explainSend("carol", err); got != "carol is not trusted yet: add their key with /trust carol age1..." {
		t.Errorf("explained as %q", got)
	}
	if err := sendMessage(dir, ".", "hi"); errnoOf(err) != syscall.EISDIR {
		t.Errorf("sending to a directory: %v", err)
	}
}
