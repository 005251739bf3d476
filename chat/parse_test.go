package chat

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	ts := time.Date(2026, 11, 26, 11, 33, 0, 0, time.UTC)
	tests := []struct {
		line string
		want Event
	}{
		{"2026-11-26T11:33:00Z msg alice alice hello there",
			Event{Time: ts, Kind: KindMsg, Where: "alice", From: "alice", Text: "hello there"}},
		{"2026-11-26T11:33:00Z msg team/.all me hi team",
			Event{Time: ts, Kind: KindMsg, Where: "team/.all", From: "me", Text: "hi team"}},
		{"2026-11-26T11:33:00Z msg .all bob ",
			Event{Time: ts, Kind: KindMsg, Where: ".all", From: "bob", Text: ""}},
		{`2026-11-26T11:33:00Z msg alice alice two\nlines\tand a \\ backslash`,
			Event{Time: ts, Kind: KindMsg, Where: "alice", From: "alice", Text: "two\nlines\tand a \\ backslash"}},
		{`2026-11-26T11:33:00Z msg alice alice \u{001B}[31mred\u{202E}`,
			Event{Time: ts, Kind: KindMsg, Where: "alice", From: "alice", Text: "\x1b[31mred\u202e"}},
		{"2026-11-26T11:33:00Z enter alice", Event{Time: ts, Kind: KindEnter, Alias: "alice"}},
		{"2026-11-26T11:33:00Z exit bob", Event{Time: ts, Kind: KindExit, Alias: "bob"}},
		{"2026-11-26T11:33:00Z pending k7f3q2m9x4c8v1bz age1xyz",
			Event{Time: ts, Kind: KindPending, Fingerprint: "k7f3q2m9x4c8v1bz", Key: "age1xyz"}},
		{"2026-11-26T11:33:00Z join team bob", Event{Time: ts, Kind: KindJoin, Group: "team", Alias: "bob"}},
		{"2026-11-26T11:33:00Z leave team bob", Event{Time: ts, Kind: KindLeave, Group: "team", Alias: "bob"}},
		{"2026-11-26T11:33:00Z invite team alice", Event{Time: ts, Kind: KindInvite, Group: "team", From: "alice"}},
		{"2026-11-26T11:33:00Z delivered 0123abcd", Event{Time: ts, Kind: KindDelivered, ID: "0123abcd"}},
		{`2026-11-26T11:33:00Z warn forged a message claiming to be \u{001B}bob`,
			Event{Time: ts, Kind: KindWarn, Warn: "forged", Text: "a message claiming to be \x1bbob"}},
		{"2026-11-26T11:33:00Z warn overflow", Event{Time: ts, Kind: KindWarn, Warn: "overflow"}},
		{"2026-11-26T11:33:00Z future some new fields", Event{Time: ts, Kind: "future"}},
		{"2026-11-26T11:33:00Z enter alice\n", Event{Time: ts, Kind: KindEnter, Alias: "alice"}},
	}
	for _, tt := range tests {
		got, err := ParseEvent(tt.line)
		if err != nil {
			t.Errorf("ParseEvent(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseEvent(%q) =\n %+v, want\n %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseEventMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"hello",
		"2026-11-26 msg alice alice hi",
		"2026-11-26T11:33:00Z",
		"2026-11-26T11:33:00Z msg alice",
		"2026-11-26T11:33:00Z msg",
		"2026-11-26T11:33:00Z enter",
		"2026-11-26T11:33:00Z pending fpr",
		"2026-11-26T11:33:00Z join team",
		"2026-11-26T11:33:00Z warn",
	} {
		if ev, err := ParseEvent(line); !errors.Is(err, ErrBadLine) {
			t.Errorf("ParseEvent(%q) = %+v, %v; want ErrBadLine", line, ev, err)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a\\b`, `a\b`},
		{`a\nb\tc`, "a\nb\tc"},
		{`\u{001B}[31m`, "\x1b[31m"},
		{`\u{7F}\u{0085}\u{202E}\u{1F600}`, "\x7f\u0085\u202e\U0001F600"},
		{`\\n`, `\n`},        // an escaped backslash, then a plain n
		{`\u{ZZ}`, `\u{ZZ}`}, // broken escapes stay as they are
		{`\u{110000}`, `\u{110000}`},
		{`\u{}`, `\u{}`},
		{`\u{1234567}`, `\u{1234567}`},
		{`\u001B`, `\u001B`},
		{`\x`, `\x`},
		{`end\`, `end\`},
	}
	for _, tt := range tests {
		if got := Unescape(tt.in); got != tt.want {
			t.Errorf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseLog(t *testing.T) {
	ts := time.Date(2026, 11, 26, 11, 33, 0, 0, time.UTC)
	ts2 := ts.Add(4 * time.Second)
	tests := []struct {
		name     string
		data     string
		want     []LogEntry
		consumed int
	}{
		{"empty", "", nil, 0},
		{"one", "2026-11-26T11:33:00Z alice hello there\n",
			[]LogEntry{{Time: ts, From: "alice", Text: "hello there"}}, 39},
		{"multi-line",
			"2026-11-26T11:33:00Z me first\n\tsecond\n\t\tindented third\n2026-11-26T11:33:04Z bob ok\n",
			[]LogEntry{{Time: ts, From: "me", Text: "first\nsecond\n\tindented third"}, {Time: ts2, From: "bob", Text: "ok"}}, 83},
		{"unterminated last line is left",
			"2026-11-26T11:33:00Z alice a\n2026-11-26T11:33:04Z bob b",
			[]LogEntry{{Time: ts, From: "alice", Text: "a"}}, 29},
		{"no newline at all", "2026-11-26T11:33:00Z alice a", nil, 0},
		{"empty text", "2026-11-26T11:33:00Z alice \n2026-11-26T11:33:00Z bob\n",
			[]LogEntry{{Time: ts, From: "alice"}, {Time: ts, From: "bob"}}, 53},
		{"starts with a continuation", "\tmore\n2026-11-26T11:33:04Z bob b\n",
			[]LogEntry{{Text: "more", Cont: true}, {Time: ts2, From: "bob", Text: "b"}}, 33},
		{"line without timestamp", "garbage line\n", []LogEntry{{Text: "garbage line"}}, 13},
		{"escapes are not log syntax", "2026-11-26T11:33:00Z alice a\\nb \x1b[31m\n",
			[]LogEntry{{Time: ts, From: "alice", Text: "a\\nb \x1b[31m"}}, 38},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := ParseLog([]byte(tt.data))
			if !reflect.DeepEqual(got, tt.want) || n != tt.consumed {
				t.Errorf("ParseLog(%q) =\n %+v, %d; want\n %+v, %d", tt.data, got, n, tt.want, tt.consumed)
			}
		})
	}
}

func TestParsePeers(t *testing.T) {
	data := "alice a1b2c3 online k7f3q2m9x4c8v1bz\nbob - offline abcdefghabcdefgh\n- zz9zz9 pending qqqqqqqqqqqqqqqq\nshort line\n\n"
	want := []Peer{
		{Alias: "alice", Name: "a1b2c3", State: "online", Fingerprint: "k7f3q2m9x4c8v1bz"},
		{Alias: "bob", State: "offline", Fingerprint: "abcdefghabcdefgh"},
		{Name: "zz9zz9", State: "pending", Fingerprint: "qqqqqqqqqqqqqqqq"},
	}
	if got := ParsePeers([]byte(data)); !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePeers = %+v, want %+v", got, want)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello, wörld 😀", "hello, wörld 😀"},
		{"\x1b[31mred", "\uFFFD[31mred"},
		{"a\tb", "a    b"},
		{"a\nb\rc\x00d\x07", "a\uFFFDb\uFFFDc\uFFFDd\uFFFD"},
		{"\u009b31m\x7f", "\uFFFD31m\uFFFD"},
		{"abc\u202edef\u2066\u200b\ufeff", "abc\uFFFDdef\uFFFD\uFFFD\uFFFD"},
		{"line\u2028sep", "line\uFFFDsep"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
