package chat

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// helpLine is the key summary at the bottom of the screen.
const helpLine = "Enter send · Tab/S-Tab or C-n/C-p switch · PgUp/PgDn scroll · /help · C-c quit"

// styles are the chat's lipgloss styles. Only the chat's own text is
// styled; remote text is sanitized before it is put inside a style.
type styles struct {
	title, sep, errStatus, infoStatus, help, time, from, me, note, selected, header lipgloss.Style
}

func newStyles() styles {
	s := lipgloss.NewStyle
	return styles{
		title:      s().Bold(true).Reverse(true),
		sep:        s().Faint(true),
		errStatus:  s().Bold(true).Foreground(lipgloss.Color("9")),
		infoStatus: s().Foreground(lipgloss.Color("6")),
		help:       s().Faint(true),
		time:       s().Faint(true),
		from:       s().Bold(true).Foreground(lipgloss.Color("5")),
		me:         s().Bold(true).Foreground(lipgloss.Color("4")),
		note:       s().Faint(true).Italic(true),
		selected:   s().Bold(true).Reverse(true),
		header:     s().Underline(true),
	}
}

// layout is how the screen is divided.
type layout struct {
	title, help bool // whether the title and help lines fit
	side        int  // width of the side list, 0 when hidden
	pane        int  // width of the conversation pane
	body        int  // height of the side list and the pane
}

// layout divides a width × height screen: title line, body (side list │
// pane), status line, input line, help line. Small screens lose the help
// line, then the title, then the side list.
func (m Model) layout() layout {
	var l layout
	fixed := 2 // status and input
	if m.height >= 8 {
		l.help = true
		fixed++
	}
	if m.height >= 6 {
		l.title = true
		fixed++
	}
	l.body = max(0, m.height-fixed)
	l.pane = max(0, m.width)
	if m.width >= 48 {
		l.side = min(24, max(14, m.width/4))
		l.pane = m.width - l.side - 1
	}
	return l
}

// resize applies the window size to the pane and the input line.
func (m Model) resize() Model {
	l := m.layout()
	m.vp.Height = l.body
	m.input.Width = max(1, m.width-lipgloss.Width(m.input.Prompt)-1)
	if m.vp.Width != l.pane {
		m.vp.Width = l.pane
		m = m.rerender(false)
	}
	if m.follow {
		m.vp.GotoBottom()
	} else {
		m.vp.SetYOffset(m.vp.YOffset) // clamp to the new size
	}
	return m
}

// rerender wraps every item again for the pane's width.
// With bottom, the pane follows the end of the conversation again.
func (m Model) rerender(bottom bool) Model {
	m.rendered = nil
	return m.appendRendered(m.items, bottom)
}

// appendRendered adds the lines of new items to the pane, following the
// end of the conversation unless the user scrolled up.
func (m Model) appendRendered(items []item, bottom bool) Model {
	for _, it := range items {
		m.rendered = append(m.rendered, m.renderItem(it)...)
	}
	m.vp.SetContent(strings.Join(m.rendered, "\n"))
	m.follow = m.follow || bottom
	if m.follow {
		m.vp.GotoBottom()
	}
	return m
}

// renderItem wraps one item to the pane's width: "15:04 alice: text",
// further lines indented under the text.
func (m Model) renderItem(it item) []string {
	width := max(1, m.vp.Width)
	var prefix, styled string
	if !it.at.IsZero() {
		t := it.at.Local().Format("15:04") + " "
		prefix, styled = t, m.st.time.Render(t)
	}
	if it.from != "" {
		from := it.from + ":"
		st := m.st.from
		if it.from == "me" {
			st = m.st.me
		}
		prefix += from + " "
		styled += st.Render(from) + " "
	}
	if it.note {
		prefix += "-- "
		styled += m.st.note.Render("--") + " "
	}
	indent := ansi.StringWidth(prefix)
	avail := width - indent
	if avail < 12 {
		// Too narrow for a hanging indent: the text goes under the prefix.
		indent, avail = 0, width
		styled = fit(styled, width)
		var out []string
		if styled != "" {
			out = append(out, styled)
		}
		return append(out, m.wrapLines(it, avail, "")...)
	}
	lines := m.wrapLines(it, avail, strings.Repeat(" ", indent))
	if len(lines) == 0 {
		lines = []string{""}
	}
	lines[0] = styled + strings.TrimPrefix(lines[0], strings.Repeat(" ", indent))
	return lines
}

// wrapLines wraps the item's text to avail columns and indents every line.
func (m Model) wrapLines(it item, avail int, indent string) []string {
	var out []string
	for _, l := range it.lines {
		for w := range strings.SplitSeq(ansi.Wrap(l, avail, ""), "\n") {
			w = fit(w, avail)
			if it.note {
				w = m.st.note.Render(w)
			}
			out = append(out, indent+w)
		}
	}
	return out
}

// fit truncates s to width columns (it never pads).
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > width {
		return ansi.Truncate(s, width, "")
	}
	return s
}

// pad truncates or pads s to exactly width columns.
func pad(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// View renders the screen: every line fits the width, and there are never
// more lines than the height.
func (m Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	l := m.layout()
	var rows []string
	if l.title {
		rows = append(rows, m.titleView())
	}
	if l.body > 0 {
		pane := strings.Split(m.vp.View(), "\n")
		side := m.sideView(l)
		sep := m.st.sep.Render("│")
		for i := range l.body {
			var row string
			if i < len(pane) {
				row = fit(pane[i], l.pane)
			}
			if l.side > 0 {
				row = pad(side[i], l.side) + sep + row
			}
			rows = append(rows, row)
		}
	}
	rows = append(rows, m.statusView(), fit(m.input.View(), m.width))
	if l.help {
		rows = append(rows, m.st.help.Render(fit(helpLine, m.width)))
	}
	if len(rows) > m.height {
		rows = rows[len(rows)-m.height:]
	}
	return strings.Join(rows, "\n")
}

// titleView names the open conversation and the mount.
func (m Model) titleView() string {
	name := "…"
	if m.cur != "" {
		name = label(m.cur)
		if st := m.states[m.cur]; st != "" {
			name += " (" + st + ")"
		} else if m.cur == allLog {
			name += " (.all)"
		}
	}
	if m.opening != "" {
		name += " → " + label(m.opening)
	}
	left := " mfs-chat · " + Sanitize(name) + " "
	right := " " + Sanitize(m.dir) + " "
	if gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right); gap > 0 {
		left += strings.Repeat(" ", gap) + right
	}
	return m.st.title.Render(pad(left, m.width))
}

// statusView is the error or info line.
func (m Model) statusView() string {
	s := fit(m.status, m.width)
	switch {
	case s == "":
		return ""
	case m.statusErr:
		return m.st.errStatus.Render(s)
	}
	return m.st.infoStatus.Render(s)
}

// sideView renders the side list, exactly l.body lines: everyone, peers
// (+ online, - offline) and groups (#), with unread counts; the open
// conversation is highlighted, and kept in view when the list is long.
func (m Model) sideView(l layout) []string {
	type entry struct {
		text string
		conv string // "" for a header
	}
	var ents []entry
	add := func(mark, name, conv string) {
		count := ""
		if n := m.unread[conv]; n > 0 {
			count = fmt.Sprintf(" (%d)", n)
		}
		cursor := " "
		if conv == m.cur {
			cursor = ">"
		}
		room := max(0, l.side-3-ansi.StringWidth(count))
		ents = append(ents, entry{text: cursor + mark + " " + fit(Sanitize(name), room) + count, conv: conv})
	}
	add("#", "everyone", allLog)
	ents = append(ents, entry{text: m.st.header.Render(" Peers")})
	for _, p := range m.peers {
		mark := "-"
		if m.states[p] == "online" || m.states[p] == "present" {
			mark = "+"
		}
		add(mark, p, p)
	}
	ents = append(ents, entry{text: m.st.header.Render(" Groups")})
	for _, g := range m.groups {
		add("#", g, g+"/"+allLog)
	}
	if m.pending > 0 {
		ents = append(ents, entry{text: fmt.Sprintf(" %d key(s) pending", m.pending)})
	}
	start := 0
	for i, e := range ents {
		if e.conv != "" && e.conv == m.cur && i >= l.body {
			start = i - l.body + 1
		}
	}
	lines := make([]string, l.body)
	for i := range lines {
		if start+i >= len(ents) {
			continue
		}
		e := ents[start+i]
		if e.conv != "" && e.conv == m.cur {
			lines[i] = m.st.selected.Render(pad(e.text, l.side))
		} else {
			lines[i] = fit(e.text, l.side)
		}
	}
	return lines
}
