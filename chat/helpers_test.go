package chat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func TestMain(m *testing.M) {
	// Plain output: with no styling at all, any escape sequence in a View
	// came from the content, which is what the tests look for.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// standIn builds a directory shaped like a mount, with regular files: the
// model reads and writes real files, only the node behind them is absent.
func standIn(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		".all":                              "2026-11-26T11:30:00Z bob morning all\n",
		".events":                           "",
		".peers":                            "alice a1b2c3 online k7f3q2m9x4c8v1bz\nbob - offline abcdefghabcdefgh\n- zz9zz9 pending qqqqqqqqqqqqqqqq\n",
		".outbox":                           "",
		"alice":                             "2026-11-26T11:33:00Z alice hello there\n2026-11-26T11:33:04Z me hi alice\n\tsecond line\n",
		"bob":                               "",
		"keys/self.pub":                     "age1self\n",
		"keys/alice.pub":                    "age1alice\n",
		"keys/bob.pub":                      "age1bob\n",
		"keys/pending/qqqqqqqqqqqqqqqq.pub": "# announced by zz9zz9\nage1pending\n",
		"team/.all":                         "2026-11-26T11:31:00Z alice team meeting at noon\n",
		"team/alice":                        "",
	}
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// appendFile appends to a file of the stand-in mount, as the node would.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// harness drives a Model the way a tea.Program does, running commands
// synchronously and feeding their messages back.
type harness struct {
	t    *testing.T
	m    Model
	quit bool
}

// newHarness starts a model on dir showing open, in a 100×30 window.
func newHarness(t *testing.T, dir, open string) *harness {
	t.Helper()
	h := &harness{t: t, m: New(Config{Dir: dir, Open: open})}
	h.run(h.m.Init(), 0)
	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	return h
}

// send gives msg to Update and runs the resulting commands.
func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	m, cmd := h.m.Update(msg)
	h.m = m.(Model)
	h.run(cmd, 0)
}

func (h *harness) run(cmd tea.Cmd, depth int) {
	h.t.Helper()
	if cmd == nil {
		return
	}
	if depth > 20 {
		h.t.Fatal("commands keep producing commands")
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("a command blocked for 5s")
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c, depth+1)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		m, next := h.m.Update(msg)
		h.m = m.(Model)
		h.run(next, depth+1)
	}
}

// key presses one key: "tab", "shift+tab", "ctrl+n", "ctrl+p", "enter",
// "pgup", "esc", "ctrl+c".
func (h *harness) key(k string) {
	h.t.Helper()
	types := map[string]tea.KeyType{
		"tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "ctrl+n": tea.KeyCtrlN,
		"ctrl+p": tea.KeyCtrlP, "enter": tea.KeyEnter, "pgup": tea.KeyPgUp,
		"pgdown": tea.KeyPgDown, "esc": tea.KeyEsc, "ctrl+c": tea.KeyCtrlC,
	}
	typ, ok := types[k]
	if !ok {
		h.t.Fatalf("unknown key %q", k)
	}
	h.send(tea.KeyMsg{Type: typ})
}

// line types s and presses Enter.
func (h *harness) line(s string) {
	h.t.Helper()
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
	h.key("enter")
}

// event feeds one .events line.
func (h *harness) event(line string) {
	h.t.Helper()
	ev, err := ParseEvent(line)
	if err != nil {
		h.t.Fatal(err)
	}
	h.send(eventMsg{ev: ev})
}

// view returns the screen, checking that it fits the window.
func (h *harness) view() string {
	h.t.Helper()
	v := h.m.View()
	checkFits(h.t, v, h.m.width, h.m.height)
	return v
}

// checkFits fails unless view has at most height lines of at most width
// columns.
func checkFits(t *testing.T, view string, width, height int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) > height {
		t.Errorf("view has %d lines, the window %d", len(lines), height)
	}
	for i, l := range lines {
		if w := lipgloss.Width(l); w > width {
			t.Errorf("line %d is %d columns wide, the window %d: %q", i, w, width, l)
		}
	}
}
