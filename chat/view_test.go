package chat

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

func TestResizeKeepsTheLayout(t *testing.T) {
	dir := standIn(t)
	// Long words, wide characters and many lines, to be wrapped.
	appendFile(t, filepath.Join(dir, "alice"),
		"2026-11-26T11:40:00Z alice "+strings.Repeat("x", 300)+"\n"+
			"2026-11-26T11:40:01Z alice "+strings.Repeat("漢字😀 ", 40)+"\n")
	for i := range 40 {
		appendFile(t, filepath.Join(dir, "alice"), fmt.Sprintf("2026-11-26T11:41:%02dZ me line %d\n", i, i))
	}
	h := newHarness(t, dir, "alice")
	h.event("2026-11-26T11:41:00Z msg bob bob unread")
	sizes := []struct{ w, h int }{
		{100, 30}, {60, 15}, {48, 8}, {47, 7}, {40, 10}, {20, 5}, {120, 8}, {200, 50},
		{10, 3}, {1, 1}, {3, 2}, {80, 24},
	}
	for _, s := range sizes {
		t.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(t *testing.T) {
			h.t = t
			h.send(tea.WindowSizeMsg{Width: s.w, Height: s.h})
			v := h.view() // checks width and height
			lines := strings.Split(v, "\n")
			l := h.m.layout()
			if len(lines) != s.h && s.h >= 2 {
				t.Errorf("%d lines, want %d", len(lines), s.h)
			}
			if s.h >= 2 && !strings.HasPrefix(lines[len(lines)-1-b2i(l.help)], "> ") {
				t.Errorf("the input line is not where it belongs:\n%s", v)
			}
			if l.help && !strings.HasPrefix(lines[len(lines)-1], "Enter send") {
				t.Errorf("the help line is not last:\n%s", v)
			}
			if l.title && !strings.Contains(lines[0], "mfs-chat") {
				t.Errorf("the title is not first:\n%s", v)
			}
			if l.side > 0 {
				for i := b2i(l.title); i < b2i(l.title)+l.body; i++ {
					if col := strings.Index(lines[i], "│"); lipgloss.Width(lines[i][:max(col, 0)]) != l.side {
						t.Errorf("line %d: the separator is not at column %d:\n%s", i, l.side, v)
					}
				}
				if !strings.Contains(v, "bob (1)") {
					t.Errorf("the unread count is not shown:\n%s", v)
				}
			}
			if l.body >= 3 && !strings.Contains(v, "line 39") {
				t.Errorf("the pane does not follow the end of the conversation:\n%s", v)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestScrolling(t *testing.T) {
	dir := standIn(t)
	for i := range 60 {
		appendFile(t, filepath.Join(dir, "alice"), fmt.Sprintf("2026-11-26T11:41:%02dZ me line %d\n", i, i))
	}
	h := newHarness(t, dir, "alice")
	if !strings.Contains(h.view(), "line 59") {
		t.Fatal("not at the end")
	}
	h.key("pgup")
	h.key("pgup")
	if v := h.view(); strings.Contains(v, "line 59") {
		t.Errorf("pgup did not scroll:\n%s", v)
	}
	// New messages do not yank a reader who scrolled up...
	appendFile(t, filepath.Join(dir, "alice"), "2026-11-26T11:42:00Z alice brand new\n")
	h.event("2026-11-26T11:42:00Z msg alice alice brand new")
	if strings.Contains(h.view(), "brand new") {
		t.Error("the pane jumped to the end while scrolled up")
	}
	// ...and scrolling down reaches them.
	for range 5 {
		h.key("pgdown")
	}
	if v := h.view(); !strings.Contains(v, "brand new") {
		t.Errorf("pgdown did not reach the end:\n%s", v)
	}
}
