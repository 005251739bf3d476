package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// replacement is shown in place of every character that could act on a
// terminal.
const replacement = '\uFFFD'

// tabWidth is the number of spaces a tab becomes.
const tabWidth = 4

// unsafeRune reports whether r must never reach the terminal: C0 and C1
// controls (ESC, CR, NUL, BEL, ...), DEL, Unicode format characters
// (category Cf: bidi overrides and isolates, zero-width characters, ...)
// and the line and paragraph separators.
func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// Sanitize makes one line of text safe to render: tabs become spaces, and
// newlines, controls, format characters and invalid UTF-8 become U+FFFD.
// The file system sanitizes remote text already; this is defense in depth,
// and it also covers .events text after Unescape.
func Sanitize(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString(strings.Repeat(" ", tabWidth))
		case unsafeRune(r):
			b.WriteRune(replacement)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sanitizeLines splits text at newlines and sanitizes every line.
func sanitizeLines(text string) []string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = Sanitize(l)
	}
	return lines
}
