package node

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// timeFormat is the timestamp of log and event lines: RFC 3339 in UTC with
// whole seconds, so lines sort and align.
const timeFormat = "2006-01-02T15:04:05Z"

// replacement stands in for every character that could act on a terminal.
const replacement = '\uFFFD'

// unsafeRune reports whether r must never reach a terminal raw: C0 and C1
// controls (ESC, CR, NUL, BEL, ...), DEL, and Unicode format characters
// (category Cf: bidi overrides and isolates, zero-width joiners and
// spaces, ...), which can reorder or hide text. Tab and newline are handled
// by the callers.
func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029'
}

// renderLogLine renders one message as it appears in a conversation file:
// "TS FROM TEXT\n", where a multi-line text continues on lines that start
// with a tab and every unsafe character is replaced.
func renderLogLine(t time.Time, from, text string) string {
	var b strings.Builder
	b.Grow(len(timeFormat) + len(from) + len(text) + 4)
	b.WriteString(t.UTC().Format(timeFormat))
	b.WriteByte(' ')
	b.WriteString(sanitizeWord(from))
	b.WriteByte(' ')
	for _, r := range text {
		switch {
		case r == '\n':
			b.WriteString("\n\t")
		case r == '\t':
			b.WriteByte('\t')
		case r == utf8.RuneError || unsafeRune(r):
			b.WriteRune(replacement)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// sanitizeWord makes a name safe as one space-free field of a line: unsafe
// characters and white space are replaced.
func sanitizeWord(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unsafeRune(r) || unicode.IsSpace(r) {
			return replacement
		}
		return r
	}, s)
}

// escapeEventText escapes text for an event line so that one event is
// always exactly one line: backslash, newline and tab are written as \\, \n
// and \t, and every other unsafe character as \u{XXXX}.
func escapeEventText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError || unsafeRune(r):
			fmt.Fprintf(&b, `\u{%04X}`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// eventLine renders one .events line: the timestamp, the kind and its
// fields separated by single spaces. Every field but the last is a word
// (sanitized, no spaces); the last may be free text and is escaped.
func eventLine(t time.Time, kind string, fields ...string) string {
	var b strings.Builder
	b.WriteString(t.UTC().Format(timeFormat))
	b.WriteByte(' ')
	b.WriteString(kind)
	for i, f := range fields {
		b.WriteByte(' ')
		if i == len(fields)-1 {
			b.WriteString(escapeEventText(f))
		} else {
			b.WriteString(sanitizeWord(f))
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// normalizeText turns what one write(2) delivered into a message text: it
// drops one trailing newline and checks UTF-8 and size. ok is false for an
// empty message, which is not sent.
func normalizeText(p []byte) (text string, ok bool, err error) {
	if len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	if len(p) == 0 {
		return "", false, nil
	}
	if len(p) > MaxMessageSize {
		return "", false, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(p), MaxMessageSize)
	}
	if !utf8.Valid(p) {
		return "", false, fmt.Errorf("%w: message is not valid UTF-8", ErrInvalid)
	}
	return string(p), true, nil
}
