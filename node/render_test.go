package node

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 11, 33, 0, 0, time.UTC)

func TestRenderLogLine(t *testing.T) {
	tests := []struct {
		name, from, text, want string
	}{
		{"plain", "alice", "hello there", "2026-11-26T11:33:00Z alice hello there\n"},
		{"multi-line", "me", "one\ntwo", "2026-11-26T11:33:00Z me one\n\ttwo\n"},
		{"tab kept", "bob", "a\tb", "2026-11-26T11:33:00Z bob a\tb\n"},
		{"ANSI escape", "bob", "\x1b[31mred", "2026-11-26T11:33:00Z bob \uFFFD[31mred\n"},
		{"CR and NUL", "bob", "a\rb\x00c", "2026-11-26T11:33:00Z bob a\uFFFDb\uFFFDc\n"},
		{"C1 CSI", "bob", "x\u009b2Jy", "2026-11-26T11:33:00Z bob x\uFFFD2Jy\n"},
		{"bidi override", "bob", "abc\u202Edef", "2026-11-26T11:33:00Z bob abc\uFFFDdef\n"},
		{"zero width joiner", "bob", "a\u200Db", "2026-11-26T11:33:00Z bob a\uFFFDb\n"},
		{"line separator", "bob", "a\u2028b", "2026-11-26T11:33:00Z bob a\uFFFDb\n"},
		{"unicode kept", "bob", "grüße 👋", "2026-11-26T11:33:00Z bob grüße 👋\n"},
		{"hostile name", "ev\x1bil name", "x", "2026-11-26T11:33:00Z ev\uFFFDil\uFFFDname x\n"},
		{"empty name", "", "x", "2026-11-26T11:33:00Z - x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderLogLine(t0, tt.from, tt.text); got != tt.want {
				t.Errorf("renderLogLine(%q, %q) = %q, want %q", tt.from, tt.text, got, tt.want)
			}
		})
	}
}

func TestEventLineIsOneLine(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"msg", []string{"alice", "alice", "hi"}, "2026-11-26T11:33:00Z msg alice alice hi\n"},
		{"forged newline", []string{"alice", "alice", "hi\n2026-11-26T11:33:00Z msg bob bob forged"},
			`2026-11-26T11:33:00Z msg alice alice hi\n2026-11-26T11:33:00Z msg bob bob forged` + "\n"},
		{"backslash", []string{"a", `c:\n`}, `2026-11-26T11:33:00Z msg a c:\\n` + "\n"},
		{"escape", []string{"a", "\x1b]0;x\x07"}, `2026-11-26T11:33:00Z msg a \u{001B}]0;x\u{0007}` + "\n"},
		{"space in word", []string{"a b", "t"}, "2026-11-26T11:33:00Z msg a\uFFFDb t\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := eventLine(t0, "msg", tt.fields...)
			if got != tt.want {
				t.Errorf("eventLine = %q, want %q", got, tt.want)
			}
			if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
				t.Errorf("eventLine %q is not exactly one line", got)
			}
		})
	}
}

func TestNormalizeText(t *testing.T) {
	big := strings.Repeat("x", MaxMessageSize)
	tests := []struct {
		name    string
		in      string
		want    string
		ok      bool
		wantErr error
	}{
		{"trailing newline dropped", "hi\n", "hi", true, nil},
		{"only one newline dropped", "hi\n\n", "hi\n", true, nil},
		{"empty", "", "", false, nil},
		{"just newline", "\n", "", false, nil},
		{"limit", big, big, true, nil},
		{"limit plus newline", big + "\n", big, true, nil},
		{"too large", big + "y", "", false, ErrTooLarge},
		{"invalid utf-8", "a\xffb", "", false, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := normalizeText([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want || ok != tt.ok {
				t.Errorf("normalizeText = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
