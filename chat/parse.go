package chat

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadLine is wrapped by the errors of ParseEvent for a line that is not
// a well-formed event.
var ErrBadLine = errors.New("malformed line")

// timeLayout is the timestamp of log and event lines (RFC 3339, UTC).
const timeLayout = time.RFC3339

// LogEntry is one message of a conversation log.
type LogEntry struct {
	Time time.Time // zero when the line has no timestamp
	From string    // sender alias, or "me"
	Text string    // may span several lines, joined by "\n"
	// Cont is true for an entry made only of continuation lines (a chunk
	// that starts in the middle of a message): its Text continues the
	// previous entry.
	Cont bool
}

// ParseLog parses the complete lines at the start of data, a piece of a
// conversation log (lines "TS FROM TEXT", continued by lines that start
// with a tab). It returns the entries and the number of bytes consumed,
// which ends after the last newline: an unterminated last line is left for
// the next read. A line that has no timestamp is kept whole as the text of
// an entry without time and sender.
func ParseLog(data []byte) (entries []LogEntry, consumed int) {
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil, 0
	}
	for line := range strings.SplitSeq(string(data[:end]), "\n") {
		if rest, ok := strings.CutPrefix(line, "\t"); ok {
			if n := len(entries); n > 0 {
				entries[n-1].Text += "\n" + rest
			} else {
				entries = append(entries, LogEntry{Text: rest, Cont: true})
			}
			continue
		}
		entries = append(entries, parseLogLine(line))
	}
	return entries, end + 1
}

// parseLogLine parses "TS FROM TEXT".
func parseLogLine(line string) LogEntry {
	ts, rest, ok := strings.Cut(line, " ")
	t, err := time.Parse(timeLayout, ts)
	if !ok || err != nil {
		return LogEntry{Text: line}
	}
	from, text, _ := strings.Cut(rest, " ")
	return LogEntry{Time: t, From: from, Text: text}
}

// Event kinds, as they appear in .events lines.
const (
	KindMsg       = "msg"
	KindEnter     = "enter"
	KindExit      = "exit"
	KindPending   = "pending"
	KindJoin      = "join"
	KindLeave     = "leave"
	KindInvite    = "invite"
	KindDelivered = "delivered"
	KindWarn      = "warn"
)

// Event is one line of MOUNT/.events. Which fields are set depends on Kind:
//
//	msg        Where, From, Text
//	enter/exit Alias
//	pending    Fingerprint, Key
//	join/leave Group, Alias
//	invite     Group, From
//	delivered  ID
//	warn       Warn, Text
//
// Text is unescaped (see Unescape) and may contain any character: it must
// be passed through Sanitize before it is shown.
type Event struct {
	Time        time.Time
	Kind        string
	Where       string // log path relative to the mount: "alice", ".all", "team/.all"
	From        string // sender alias or "me"; the inviter of an invite
	Text        string
	Alias       string
	Group       string
	Fingerprint string
	Key         string // "age1..."
	ID          string
	Warn        string // warn kind: forged, replay, undeliverable, overflow, ...
}

// ParseEvent parses one line of MOUNT/.events (without its newline). Lines
// of unknown kinds parse, with only Time and Kind set, so that a newer node
// does not break an older chat.
func ParseEvent(line string) (Event, error) {
	line = strings.TrimSuffix(line, "\n")
	ts, rest, _ := strings.Cut(line, " ")
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return Event{}, fmt.Errorf("%w: event %q has no RFC 3339 timestamp", ErrBadLine, line)
	}
	kind, rest, _ := strings.Cut(rest, " ")
	if kind == "" {
		return Event{}, fmt.Errorf("%w: event %q has no kind", ErrBadLine, line)
	}
	e := Event{Time: t, Kind: kind}
	// words splits rest into n space-separated fields, the last one free.
	words := func(n int) ([]string, error) {
		f := strings.SplitN(rest, " ", n)
		if len(f) < n || rest == "" {
			return nil, fmt.Errorf("%w: %s event %q needs %d fields", ErrBadLine, kind, line, n)
		}
		return f, nil
	}
	var f []string
	switch kind {
	case KindMsg:
		// The text may be empty ("TS msg alice bob "), but not missing.
		if f, err = words(3); err == nil {
			e.Where, e.From, e.Text = f[0], f[1], Unescape(f[2])
		}
	case KindEnter, KindExit:
		if f, err = words(1); err == nil {
			e.Alias = f[0]
		}
	case KindPending:
		if f, err = words(2); err == nil {
			e.Fingerprint, e.Key = f[0], f[1]
		}
	case KindJoin, KindLeave:
		if f, err = words(2); err == nil {
			e.Group, e.Alias = f[0], f[1]
		}
	case KindInvite:
		if f, err = words(2); err == nil {
			e.Group, e.From = f[0], f[1]
		}
	case KindDelivered:
		if f, err = words(1); err == nil {
			e.ID = f[0]
		}
	case KindWarn:
		e.Warn, rest, _ = strings.Cut(rest, " ")
		if e.Warn == "" {
			err = fmt.Errorf("%w: warn event %q has no kind", ErrBadLine, line)
		}
		e.Text = Unescape(rest)
	}
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// Unescape undoes the escaping of free text in event lines: \\, \n and \t,
// and \u{XXXX} for any other character. Anything else, including a broken
// escape, is kept as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
			i++
		case 'n':
			b.WriteByte('\n')
			i++
		case 't':
			b.WriteByte('\t')
			i++
		case 'u':
			r, n, ok := unescapeRune(s[i:])
			if !ok {
				b.WriteByte(c)
				continue
			}
			b.WriteRune(r)
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeRune decodes a leading `\u{XXXX}` of s (1 to 6 hex digits) and
// returns the rune and the escape's length.
func unescapeRune(s string) (rune, int, bool) {
	if !strings.HasPrefix(s, `\u{`) {
		return 0, 0, false
	}
	end := strings.IndexByte(s, '}')
	if end < 4 || end > 9 {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(s[3:end], 16, 32)
	if err != nil || v > 0x10FFFF {
		return 0, 0, false
	}
	return rune(v), end + 1, true
}

// Peer is one line of MOUNT/.peers.
type Peer struct {
	Alias       string // "" for a peer that is not trusted
	Name        string // the 6-character ZRE name, or ""
	State       string // "online", "offline" or "pending"
	Fingerprint string
}

// ParsePeers parses the content of MOUNT/.peers: lines
// "ALIAS|- UUID6|- online|offline|pending FINGERPRINT". Lines with fewer
// fields are skipped; "-" becomes "".
func ParsePeers(data []byte) []Peer {
	var peers []Peer
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		p := Peer{Alias: dash(f[0]), Name: dash(f[1]), State: f[2]}
		if len(f) > 3 {
			p.Fingerprint = f[3]
		}
		peers = append(peers, p)
	}
	return peers
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
