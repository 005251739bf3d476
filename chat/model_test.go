package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSwitchConversations(t *testing.T) {
	dir := standIn(t)
	// Side-list order: everyone, alice, bob, team.
	tests := []struct {
		name   string
		start  string
		keys   []string // keys, or lines to type when they start with "/"
		want   string   // the open log
		shows  string   // text the screen must show
		status string   // text the status line must show
	}{
		{"default is everyone", "", nil, ".all", "morning all", ""},
		{"tab", "", []string{"tab"}, "alice", "hello there", ""},
		{"tab tab", "", []string{"tab", "tab"}, "bob", "", ""},
		{"tab wraps around", "", []string{"tab", "tab", "tab", "tab"}, ".all", "morning all", ""},
		{"shift+tab wraps back", "", []string{"shift+tab"}, "team/.all", "team meeting", ""},
		{"ctrl+n", "alice", []string{"ctrl+n"}, "bob", "", ""},
		{"ctrl+p", "alice", []string{"ctrl+p"}, ".all", "morning all", ""},
		{"start on a peer", "alice", nil, "alice", "second line", ""},
		{"start on a group", "team", nil, "team/.all", "team meeting", ""},
		{"start on an unknown peer", "carol", nil, ".all", "morning all", "carol is not trusted yet"},
		{"/open peer", "", []string{"/open bob"}, "bob", "", ""},
		{"/open group", "", []string{"/open team"}, "team/.all", "team meeting", ""},
		{"/open group log", "", []string{"/open team/.all"}, "team/.all", "team meeting", ""},
		{"/open everyone", "alice", []string{"/open .all"}, ".all", "morning all", ""},
		{"/open everyone by name", "alice", []string{"/open everyone"}, ".all", "morning all", ""},
		{"/open unknown keeps the conversation", "alice", []string{"/open carol"}, "alice", "hello there",
			"carol is not trusted yet: add their key with /trust carol age1..."},
		{"/open outside the mount", "alice", []string{"/open ../etc"}, "alice", "hello there", "not a peer or group name"},
		{"/open without a name", "alice", []string{"/open"}, "alice", "hello there", "usage: /open NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dir, tt.start)
			for _, k := range tt.keys {
				if strings.HasPrefix(k, "/") {
					h.line(k)
				} else {
					h.key(k)
				}
			}
			if h.m.cur != tt.want {
				t.Errorf("open log = %q, want %q", h.m.cur, tt.want)
			}
			v := h.view()
			if tt.shows != "" && !strings.Contains(v, tt.shows) {
				t.Errorf("screen does not show %q:\n%s", tt.shows, v)
			}
			if !strings.Contains(v, "mfs-chat · "+label(tt.want)) {
				t.Errorf("title does not name %s:\n%s", label(tt.want), v)
			}
			if tt.status != "" && !strings.Contains(h.m.status, tt.status) {
				t.Errorf("status = %q, want it to contain %q", h.m.status, tt.status)
			}
			if tt.status == "" && h.m.statusErr {
				t.Errorf("unexpected error: %s", h.m.status)
			}
		})
	}
}

func TestSwitchShowsMultiLineMessages(t *testing.T) {
	h := newHarness(t, standIn(t), "alice")
	v := h.view()
	first, second := -1, -1
	for i, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "me: hi alice") {
			first = i
		}
		if strings.Contains(l, "second line") && !strings.Contains(l, "me:") {
			second = i
		}
	}
	if first < 0 || second != first+1 {
		t.Errorf("a multi-line message is not shown on consecutive lines (%d, %d):\n%s", first, second, v)
	}
}

func TestUnreadCounts(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "alice")
	steps := []struct {
		event string
		bob   int
		team  int
	}{
		{"2026-11-26T11:40:00Z msg bob bob hi", 1, 0},
		{"2026-11-26T11:40:01Z msg bob bob are you there", 2, 0},
		{"2026-11-26T11:40:02Z msg bob me sent from a shell", 2, 0}, // own messages are not unread
		{"2026-11-26T11:40:03Z msg team/.all bob to the team", 2, 1},
		{"2026-11-26T11:40:04Z msg alice alice in the open one", 2, 1}, // shown, not unread
		{"2026-11-26T11:40:05Z enter bob", 2, 1},
	}
	for _, s := range steps {
		if strings.Contains(s.event, "msg alice") {
			appendFile(t, filepath.Join(dir, "alice"), "2026-11-26T11:40:04Z alice in the open one\n")
		}
		h.event(s.event)
		if h.m.unread["bob"] != s.bob || h.m.unread["team/.all"] != s.team || h.m.unread["alice"] != 0 {
			t.Fatalf("after %q: unread = %v, want bob %d team %d", s.event, h.m.unread, s.bob, s.team)
		}
	}
	v := h.view()
	for _, want := range []string{"+ bob (2)", "# team (1)", "+ alice"} {
		if !strings.Contains(v, want) {
			t.Errorf("side list does not show %q:\n%s", want, v)
		}
	}
	h.key("ctrl+n") // alice -> bob
	if h.m.cur != "bob" || h.m.unread["bob"] != 0 {
		t.Fatalf("after opening bob: cur %q, unread %v", h.m.cur, h.m.unread)
	}
	if v := h.view(); strings.Contains(v, "+ bob (") || !strings.Contains(v, "# team (1)") {
		t.Errorf("opening bob did not reset only its counter:\n%s", v)
	}
	h.line("/open team")
	if h.m.unread["team/.all"] != 0 || strings.Contains(h.view(), "(1)") {
		t.Errorf("opening team did not reset its counter: %v", h.m.unread)
	}
}

func TestLiveAppendReadsOnlyTheTail(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "alice")
	before := h.m.offset
	appendFile(t, filepath.Join(dir, "alice"), "2026-11-26T11:40:00Z alice news\n\tcontinued\n")
	h.event(`2026-11-26T11:40:00Z msg alice alice news\ncontinued`)
	// A second event for a message already shown adds nothing.
	h.event(`2026-11-26T11:40:00Z msg alice alice news\ncontinued`)
	v := h.view()
	if n := strings.Count(v, "news"); n != 1 {
		t.Errorf("the new message is shown %d times:\n%s", n, v)
	}
	if !strings.Contains(v, "alice: news") || !strings.Contains(v, "continued") {
		t.Errorf("the new message is not shown:\n%s", v)
	}
	if got, want := h.m.offset, before+int64(len("2026-11-26T11:40:00Z alice news\n\tcontinued\n")); got != want {
		t.Errorf("offset = %d, want %d", got, want)
	}
	if len(h.m.items) != 3 {
		t.Errorf("%d items, want 3", len(h.m.items))
	}
	// Events for other conversations do not touch the pane.
	appendFile(t, filepath.Join(dir, "bob"), "2026-11-26T11:41:00Z bob elsewhere\n")
	h.event("2026-11-26T11:41:00Z msg bob bob elsewhere")
	if strings.Contains(h.view(), "elsewhere") {
		t.Error("a message to bob is shown in alice's pane")
	}
}

func TestDeletedHistoryIsReloaded(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "alice")
	// rm MOUNT/alice: the log starts again, shorter than what was shown.
	if err := os.WriteFile(filepath.Join(dir, "alice"), []byte("2026-11-26T12:00:00Z alice fresh start\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.event("2026-11-26T12:00:00Z msg alice alice fresh start")
	v := h.view()
	if !strings.Contains(v, "alice: fresh start") || strings.Contains(v, "hello there") {
		t.Errorf("the pane was not reloaded after the history was deleted:\n%s", v)
	}
	if h.m.cur != "alice" {
		t.Errorf("cur = %q", h.m.cur)
	}
}

func TestSendWritesOneMessage(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "bob")
	h.line("hello bob")
	h.line("//slash at the start")
	data, err := os.ReadFile(filepath.Join(dir, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	// The stand-in is a plain file, so the second write (at offset 0, as
	// every open is fresh) overwrites the first: each send is its own
	// open, write and close.
	if got := string(data); got != "/slash at the start\n" {
		t.Errorf("bob = %q", got)
	}
	if h.m.input.Value() != "" || h.m.statusErr {
		t.Errorf("input %q, status %q after sending", h.m.input.Value(), h.m.status)
	}
	h.line("   ")
	if data2, _ := os.ReadFile(filepath.Join(dir, "bob")); string(data2) != string(data) {
		t.Error("an empty line was sent")
	}
}

func TestErrorDisplay(t *testing.T) {
	errno := func(e syscall.Errno) error { return &os.PathError{Op: "write", Path: "/mnt/x", Err: e} }
	tests := []struct {
		name string
		msg  any // a message for Update
		want string
	}{
		{"send ENOENT", sentMsg{where: "alice", text: "x", err: errno(syscall.ENOENT)},
			"alice is not trusted yet: add their key with /trust alice age1..."},
		{"send ENOENT group", sentMsg{where: "team/.all", text: "x", err: errno(syscall.ENOENT)}, "group team is gone"},
		{"send EMSGSIZE", sentMsg{where: "alice", text: "x", err: errno(syscall.EMSGSIZE)}, "message too long (64 KiB max)"},
		{"send EINVAL", sentMsg{where: "alice", text: "x", err: errno(syscall.EINVAL)}, "not valid UTF-8"},
		{"send EACCES", sentMsg{where: ".peers", text: "x", err: errno(syscall.EACCES)}, ".peers is read-only"},
		{"send ENOTCONN", sentMsg{where: "alice", text: "x", err: errno(syscall.ENOTCONN)}, "the node serving the mount is gone"},
		{"send ENOSPC", sentMsg{where: "alice", text: "x", err: errno(syscall.ENOSPC)}, "disk is full"},
		{"send EIO", sentMsg{where: "alice", text: "x", err: errno(syscall.EIO)}, "see the node's log"},
		{"send other", sentMsg{where: "alice", text: "x", err: errno(syscall.EROFS)}, "sending to alice failed: read-only file system"},
		{"trust EEXIST", resultMsg{fail: explainTrust("alice", "age1x", errno(syscall.EEXIST))},
			"alice is already used by another key: remove keys/alice.pub first"},
		{"trust EINVAL", resultMsg{fail: explainTrust("alice", "age1x", errno(syscall.EINVAL))}, "age1x is not a valid public key"},
		{"trust EACCES", resultMsg{fail: explainTrust("self", "age1x", errno(syscall.EACCES))}, "keys/self.pub cannot be written"},
		{"trust secret", resultMsg{fail: explainTrust("alice", "id.txt", &keySourceError{"id.txt", ErrSecretKey})},
			"id.txt is a secret identity, not a public key"},
		{"trust missing file", resultMsg{fail: explainTrust("alice", "nope", &keySourceError{"nope", os.ErrNotExist})},
			"nope is not an age1... key, a key file or a pending fingerprint"},
		{"trust bad name", resultMsg{fail: explainTrust("A/B", "age1x", ErrBadName)}, "is not a valid name"},
		{"group EEXIST", resultMsg{fail: explainGroup("alice", errno(syscall.EEXIST))}, "alice already exists"},
		{"group EINVAL", resultMsg{fail: explainGroup(".x", errno(syscall.EINVAL))}, "not a valid group name"},
		{"add ENOENT", resultMsg{fail: explainAdd("team", "carol", errno(syscall.ENOENT))},
			"cannot add carol to team: no such group, or carol is not trusted yet"},
		{"add EINVAL", resultMsg{fail: explainAdd("team", ".x", errno(syscall.EINVAL))}, ".x is not a trusted peer"},
		{"leave ENOENT", resultMsg{fail: explainLeave("nope", errno(syscall.ENOENT))}, "no group nope here"},
		{"leave ENOTDIR", resultMsg{fail: explainLeave("alice", errno(syscall.ENOTDIR))}, "alice is a peer, not a group"},
		{"open EACCES", openedMsg{seq: 1, name: "x", err: errno(syscall.EACCES)}, "x cannot be read"},
		{"read ENOENT", tailMsg{seq: 1, where: "alice", err: errno(syscall.ENOENT)}, "alice is gone (key revoked or group left)"},
		{"pending", pendingMsg{err: errno(syscall.EIO)}, "see the node's log"},
		{"events end", eventsEndMsg{}, "live updates stopped"},
		{"warn event", eventMsg{Event{Kind: KindWarn, Warn: "forged", Text: "from zz9zz9"}}, "warning (forged): from zz9zz9"},
	}
	dir := standIn(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dir, "alice")
			h.m.seq = 1 // so that openedMsg and tailMsg above are current
			h.m.tailBusy = false
			h.send(tt.msg)
			if !h.m.statusErr {
				t.Errorf("status %q is not an error", h.m.status)
			}
			if v := h.view(); !strings.Contains(v, tt.want) {
				t.Errorf("screen does not show %q:\n%s", tt.want, v)
			}
		})
	}
}

func TestSendErrorKeepsTheText(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "bob")
	// bob is revoked behind the chat's back: the file is gone.
	if err := os.Remove(filepath.Join(dir, "bob")); err != nil {
		t.Fatal(err)
	}
	h.line("are you there")
	if !strings.Contains(h.m.status, "bob is not trusted yet: add their key with /trust bob age1...") {
		t.Errorf("status = %q", h.m.status)
	}
	if h.m.input.Value() != "are you there" {
		t.Errorf("the unsent text was lost: input = %q", h.m.input.Value())
	}
	h.key("esc")
	if h.m.status != "" {
		t.Errorf("esc did not clear the status: %q", h.m.status)
	}
}

func TestCommands(t *testing.T) {
	dir := standIn(t)
	keyFile := filepath.Join(t.TempDir(), "dave key.pub")
	if err := os.WriteFile(keyFile, []byte("# public key of dave\nage1dave\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "identity")
	if err := os.WriteFile(secret, []byte("# public key: age1x\nAGE-SECRET-KEY-1XYZ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "<" + errors.Unwrap(err).Error() + ">"
		}
		return string(data)
	}
	tests := []struct {
		line    string
		status  string // status line, error or info
		isErr   bool
		file    string // a file to check afterwards
		content string
	}{
		{"/trust carol age1carol", "carol is trusted now", false, "keys/carol.pub", "age1carol\n"},
		{"/trust dave " + keyFile, "dave is trusted now", false, "keys/dave.pub", "# public key of dave\nage1dave\n"},
		{"/trust zed qqqqqqqqqqqqqqqq", "zed is trusted now", false, "keys/zed.pub", "# announced by zz9zz9\nage1pending\n"},
		{"/trust eve " + secret, "is a secret identity, not a public key", true, "keys/eve.pub", "<no such file or directory>"},
		{"/trust eve /no/such/file", "is not an age1... key, a key file or a pending fingerprint", true, "keys/eve.pub", "<no such file or directory>"},
		{"/trust ../x age1x", "is not a valid name", true, "x.pub", "<no such file or directory>"},
		{"/trust carol", "usage: /trust NAME KEYFILE|age1...", true, "", ""},
		{"/group friends", "group friends created", false, "friends", "<is a directory>"},
		{"/group team", "team already exists", true, "", ""},
		{"/add team bob", "bob added to team", false, "team/bob", ""},
		{"/add nogroup bob", "cannot add bob to nogroup: no such group", true, "nogroup/bob", "<no such file or directory>"},
		{"/leave empty", "you left empty", false, "empty", "<no such file or directory>"},
		{"/leave nogroup", "no group nogroup here", true, "", ""},
		{"/leave bob", "bob is a peer, not a group", true, "bob", ""},
		{"/frobnicate", "unknown command /frobnicate", true, "", ""},
		{"/", "empty command", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			h := newHarness(t, dir, "alice")
			h.line(tt.line)
			if !strings.Contains(h.m.status, tt.status) || h.m.statusErr != tt.isErr {
				t.Errorf("status = %q (error %v), want %q (error %v)", h.m.status, h.m.statusErr, tt.status, tt.isErr)
			}
			if tt.file != "" {
				if got := read(tt.file); got != tt.content {
					t.Errorf("%s = %q, want %q", tt.file, got, tt.content)
				}
			}
			h.view()
		})
	}
	// The side list follows: carol, dave and zed would be files made by
	// the node; the stand-in has the groups.
	h := newHarness(t, dir, "alice")
	if v := h.view(); !strings.Contains(v, "# friends") || strings.Contains(v, "# empty") {
		t.Errorf("side list does not show the groups:\n%s", v)
	}
}

func TestLeaveOpenGroupShowsEveryone(t *testing.T) {
	dir := standIn(t)
	if err := os.Mkdir(filepath.Join(dir, "club"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "club", ".all"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dir, "club")
	if h.m.cur != "club/.all" {
		t.Fatalf("cur = %q", h.m.cur)
	}
	// The stand-in cannot remove a non-empty directory the way the node
	// does; remove the log the way the node would, then leave.
	os.Remove(filepath.Join(dir, "club", ".all"))
	h.line("/leave club")
	if h.m.cur != ".all" {
		t.Errorf("after leaving the open group, cur = %q", h.m.cur)
	}
}

func TestPendingAndHelp(t *testing.T) {
	h := newHarness(t, standIn(t), "alice")
	h.line("/pending")
	v := h.view()
	if !strings.Contains(v, "qqqqqqqqqqqqqqqq  age1pending") {
		t.Errorf("/pending does not list the key:\n%s", v)
	}
	if !strings.Contains(v, "1 key(s) pending") {
		t.Errorf("side list does not count pending keys:\n%s", v)
	}
	h.line("/help")
	if v := h.view(); !strings.Contains(v, "/trust NAME KEY") {
		t.Errorf("/help does not list commands:\n%s", v)
	}
	h.line("/quit")
	if !h.quit {
		t.Error("/quit did not quit")
	}
}

func TestEventsUpdateTheSideList(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "alice")
	if v := h.view(); !strings.Contains(v, "- bob") {
		t.Fatalf("bob is not offline:\n%s", v)
	}
	h.event("2026-11-26T11:40:00Z enter bob")
	h.event("2026-11-26T11:40:00Z exit alice")
	if v := h.view(); !strings.Contains(v, "+ bob") || !strings.Contains(v, "- alice") {
		t.Errorf("enter/exit not shown:\n%s", v)
	}
	// An invitation: the node made the directory; the event relists.
	if err := os.MkdirAll(filepath.Join(dir, "club"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.event("2026-11-26T11:40:01Z invite club bob")
	if v := h.view(); !strings.Contains(v, "# club") || !strings.Contains(v, "bob added you to group club") {
		t.Errorf("invite not shown:\n%s", v)
	}
	h.line("/open team")
	h.event("2026-11-26T11:40:02Z join team bob")
	if v := h.view(); !strings.Contains(v, "-- bob joined team") {
		t.Errorf("join not shown in the group pane:\n%s", v)
	}
}

func TestEscapeSequencesAreNeverRendered(t *testing.T) {
	dir := standIn(t)
	h := newHarness(t, dir, "alice")
	// The stand-in is not sanitized the way the node's files are: raw
	// escapes reach the chat from the log too.
	appendFile(t, filepath.Join(dir, "alice"),
		"2026-11-26T11:40:00Z alice \x1b[31mred\x1b[0m \x1b]0;title\x07 \u009b2J \u202egnp.exe\r\n\t\x1b[2Jcleared\n")
	events := []string{
		`2026-11-26T11:40:00Z msg alice alice \u{001B}[31mred\u{001B}[0m`,
		"2026-11-26T11:40:00Z msg bob bob raw \x1b[31m escape",
		`2026-11-26T11:40:00Z msg b\u{001B}[31mob b\u{001B}ob x`,
		`2026-11-26T11:40:01Z warn forged \u{001B}]0;owned\u{0007} \u{009B}31m \u{202E}`,
		"2026-11-26T11:40:02Z invite te\x1b[31mam ev\x1bil",
	}
	for _, e := range events {
		h.event(e)
		checkClean(t, h.view())
	}
	h.event("2026-11-26T11:40:03Z pending fp\x1b[31mr age1\x1bkey")
	checkClean(t, h.view())
	h.line("/open bob")
	checkClean(t, h.view())
	h.line("/open alice")
	v := h.view()
	checkClean(t, v)
	if !strings.Contains(v, "[31mred") || !strings.Contains(v, "cleared") {
		t.Errorf("the text around the escapes is not shown:\n%s", v)
	}
}

// checkClean fails if view holds anything that could act on a terminal.
func checkClean(t *testing.T, view string) {
	t.Helper()
	for _, r := range view {
		if r != '\n' && unsafeRune(r) && r != replacement {
			t.Fatalf("the screen holds %U:\n%q", r, view)
		}
	}
}
