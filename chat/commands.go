package chat

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// helpText is what /help shows in the pane.
const helpText = `Type a line and press Enter to send it to the open conversation
(start it with // to send a line that begins with /).
Keys: Tab/Shift-Tab or Ctrl-N/Ctrl-P switch conversation, PgUp/PgDn and
Up/Down scroll, Esc clears the status line, Ctrl-C quits.
Commands:
  /open NAME              show a peer, a group, or .all (everyone)
  /trust NAME KEY         trust a key as NAME: age1..., a key file, or a
                          fingerprint from /pending (writes keys/NAME.pub)
  /pending                list keys announced by nodes you do not trust
  /group GROUP            create a group (mkdir GROUP)
  /add GROUP NAME         add trusted peer NAME to GROUP (touch GROUP/NAME)
  /leave GROUP            leave a group (rmdir GROUP)
  /quit                   quit`

// submit sends the input line, or runs it if it is a command.
func (m Model) submit() (tea.Model, tea.Cmd) {
	line := m.input.Value()
	if strings.TrimSpace(line) == "" {
		return m, nil
	}
	m.input.Reset()
	if rest, ok := strings.CutPrefix(line, "/"); ok {
		if !strings.HasPrefix(rest, "/") {
			return m.command(rest)
		}
		line = rest
	}
	if m.cur == "" {
		return m.fail("no conversation is open yet"), nil
	}
	return m, sendCmd(m.dir, m.cur, line)
}

// command runs a slash command (without its slash).
func (m Model) command(line string) (tea.Model, tea.Cmd) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return m.fail("empty command: /help lists them"), nil
	}
	name, args := f[0], f[1:]
	usage := map[string]string{
		"open": "/open NAME", "trust": "/trust NAME KEYFILE|age1...", "group": "/group GROUP",
		"add": "/add GROUP NAME", "leave": "/leave GROUP",
	}
	want := map[string]int{"open": 1, "trust": 2, "group": 1, "add": 2, "leave": 1, "pending": 0, "quit": 0, "help": 0}
	n, known := want[name]
	switch {
	case !known:
		return m.fail(fmt.Sprintf("unknown command /%s: /help lists the commands", name)), nil
	case name == "trust" && len(args) > 2:
		// A key file path may contain spaces: keep the rest of the line.
		rest := strings.TrimSpace(strings.TrimSpace(line)[len(name):])
		alias, src, _ := strings.Cut(rest, " ")
		args = []string{alias, strings.TrimSpace(src)}
	case len(args) != n:
		if u, ok := usage[name]; ok {
			return m.fail("usage: " + u), nil
		}
		return m.fail(fmt.Sprintf("usage: /%s (no arguments)", name)), nil
	}
	dir := m.dir
	switch name {
	case "quit":
		return m, tea.Quit
	case "help":
		return m.note(time.Time{}, helpText), nil
	case "open":
		m.status, m.statusErr = "", false
		return m.open(args[0])
	case "pending":
		return m, pendingCmd(dir)
	case "trust":
		alias, src := args[0], args[1]
		return m, resultCmd(func() error { return trustKey(dir, alias, src) },
			fmt.Sprintf("%s is trusted now: /open %s", alias, alias),
			func(err error) string { return explainTrust(alias, src, err) }, "")
	case "group":
		g := args[0]
		return m, resultCmd(func() error { return makeGroup(dir, g) },
			fmt.Sprintf("group %s created: /add %s NAME adds members", g, g),
			func(err error) string { return explainGroup(g, err) }, "")
	case "add":
		g, alias := args[0], args[1]
		return m, resultCmd(func() error { return addMember(dir, g, alias) },
			fmt.Sprintf("%s added to %s", alias, g),
			func(err error) string { return explainAdd(g, alias, err) }, "")
	case "leave":
		g := args[0]
		return m, resultCmd(func() error { return leaveGroup(dir, g) },
			fmt.Sprintf("you left %s", g),
			func(err error) string { return explainLeave(g, err) }, g)
	}
	return m, nil
}
