package chat

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

const (
	// maxItems bounds the messages kept in the pane; older ones are
	// dropped (the log file still has them).
	maxItems = 5000
	// maxTailAttempts bounds the re-reads of a log after a msg event found
	// nothing new in it (in case the event overtook the append).
	maxTailAttempts = 2
	// tailRetryDelay is the wait before the first such re-read.
	tailRetryDelay = 250 * time.Millisecond
)

// Config configures a Model.
type Config struct {
	// Dir is the mount directory.
	Dir string
	// Open is the conversation shown first: a peer, a group, or ".all"
	// (the default).
	Open string
	// Refresh is how often peers and groups are listed again, to notice
	// changes made with other tools; 0 disables it.
	Refresh time.Duration
}

// item is one entry of the conversation pane: a message, or a note from
// the chat itself (command output, joins).
type item struct {
	at    time.Time
	from  string
	lines []string // sanitized
	note  bool
}

// Model is the chat's bubbletea model. Its Update does no I/O: file
// operations are returned as commands, whose results come back as
// messages.
type Model struct {
	dir     string
	refresh time.Duration

	// The side list.
	peers   []string
	groups  []string
	states  map[string]string // alias -> online/offline/...
	unread  map[string]int    // log -> messages from others not seen
	pending int

	// The open conversation. seq numbers open requests, so that answers to
	// an earlier one are ignored; offset is how much of the log is shown.
	cur       string
	opening   string
	seq       int
	offset    int64
	items     []item
	rendered  []string // items wrapped to the pane's width
	follow    bool     // the pane shows the end and keeps following it
	tailBusy  bool
	tailAgain bool

	status    string
	statusErr bool

	input  textinput.Model
	vp     viewport.Model
	width  int
	height int
	st     styles
}

// New returns a model for the mount at c.Dir. Nothing is read until the
// commands of Init run.
func New(c Config) Model {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message, or /help"
	in.Cursor.SetMode(cursor.CursorStatic)
	in.Focus()
	open := c.Open
	if open == "" {
		open = allLog
	}
	return Model{
		dir:     c.Dir,
		refresh: c.Refresh,
		states:  make(map[string]string),
		unread:  make(map[string]int),
		opening: open,
		seq:     1,
		input:   in,
		vp:      viewport.New(0, 0),
		follow:  true,
		st:      newStyles(),
	}
}

// Init lists the mount and opens the first conversation.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{listCmd(m.dir), openCmd(m.dir, m.opening, m.seq)}
	if m.refresh > 0 {
		cmds = append(cmds, refreshCmd(m.refresh))
	}
	return tea.Batch(cmds...)
}

// Update handles keys, window sizes, .events lines and the results of file
// operations.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m.resize(), nil
	case tea.KeyMsg:
		return m.key(msg)
	case eventMsg:
		return m.event(msg.ev)
	case eventsEndMsg:
		reason := "the node closed it"
		if msg.err != nil {
			reason = msg.err.Error()
		}
		m = m.fail("live updates stopped: .events ended (" + reason + ")")
		return m, nil
	case listMsg:
		if msg.err != nil {
			return m.fail("listing the mount failed: " + reason(msg.err)), nil
		}
		m.peers, m.groups, m.states, m.pending = msg.l.peers, msg.l.groups, msg.l.states, msg.l.pending
		return m, nil
	case openedMsg:
		return m.opened(msg)
	case tailMsg:
		return m.tail(msg)
	case tailRetryMsg:
		if msg.seq != m.seq {
			return m, nil
		}
		return m.requestTail(msg.attempt)
	case sentMsg:
		if msg.err != nil {
			m = m.fail(explainSend(msg.where, msg.err))
			if m.input.Value() == "" {
				m.input.SetValue(msg.text)
			}
		} else if m.statusErr {
			m.status, m.statusErr = "", false
		}
		return m, nil
	case resultMsg:
		return m.result(msg)
	case pendingMsg:
		return m.showPending(msg), nil
	case refreshMsg:
		return m, tea.Batch(listCmd(m.dir), refreshCmd(m.refresh))
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// key handles a key press: switching, scrolling, sending; everything else
// edits the input line.
func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "ctrl+c":
		return m, tea.Quit
	case "tab", "ctrl+n":
		return m.cycle(+1)
	case "shift+tab", "ctrl+p":
		return m.cycle(-1)
	case "pgup":
		m.vp.PageUp()
		return m.scrolled(), nil
	case "pgdown":
		m.vp.PageDown()
		return m.scrolled(), nil
	case "up":
		m.vp.ScrollUp(1)
		return m.scrolled(), nil
	case "down":
		m.vp.ScrollDown(1)
		return m.scrolled(), nil
	case "esc":
		m.status, m.statusErr = "", false
		return m, nil
	case "enter":
		return m.submit()
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return m, cmd
}

// scrolled notes whether the user scrolled away from the end (then new
// messages do not move the pane) or back to it.
func (m Model) scrolled() Model {
	m.follow = m.vp.AtBottom()
	return m
}

// conversations lists the logs in side-list order: everyone, peers,
// groups.
func (m Model) conversations() []string {
	convs := make([]string, 0, 1+len(m.peers)+len(m.groups))
	convs = append(convs, allLog)
	convs = append(convs, m.peers...)
	for _, g := range m.groups {
		convs = append(convs, g+"/"+allLog)
	}
	return convs
}

// cycle opens the next (d = +1) or previous (d = -1) conversation.
func (m Model) cycle(d int) (tea.Model, tea.Cmd) {
	convs := m.conversations()
	at := m.cur
	if m.opening != "" {
		at = m.opening
	}
	i := slices.Index(convs, at)
	if i < 0 {
		i = 0
	} else {
		i = (i + d + len(convs)) % len(convs)
	}
	return m.open(convs[i])
}

// open asks for the conversation name (resolved by the command).
func (m Model) open(name string) (Model, tea.Cmd) {
	m.seq++
	m.opening = name
	m.tailBusy, m.tailAgain = false, false
	return m, openCmd(m.dir, name, m.seq)
}

// opened shows a conversation that was read whole.
func (m Model) opened(msg openedMsg) (tea.Model, tea.Cmd) {
	if msg.seq != m.seq {
		return m, nil
	}
	m.opening = ""
	if msg.err != nil {
		m = m.fail(explainOpen(msg.name, msg.err))
		if m.cur == "" && msg.name != allLog {
			// The conversation asked for on the command line does not
			// exist: show everyone instead, keeping the explanation.
			m, cmd := m.open(allLog)
			return m, cmd
		}
		return m, nil
	}
	m.cur = msg.where
	delete(m.unread, m.cur)
	entries, n := ParseLog(msg.data)
	m.offset = int64(n)
	m.items = appendEntries(nil, entries)
	m = m.rerender(true)
	// Anything appended after the read, whose event may already have been
	// handled while the old conversation was shown, is caught by one more
	// read from the offset.
	m.tailBusy = true
	return m, tailCmd(m.dir, m.cur, m.seq, m.offset, maxTailAttempts)
}

// requestTail reads what was appended to the open log, unless a read is
// under way already (then one more follows it).
func (m Model) requestTail(attempt int) (Model, tea.Cmd) {
	if m.cur == "" {
		return m, nil
	}
	if m.tailBusy {
		m.tailAgain = true
		return m, nil
	}
	m.tailBusy = true
	return m, tailCmd(m.dir, m.cur, m.seq, m.offset, attempt)
}

// tail appends what a tail read found.
func (m Model) tail(msg tailMsg) (tea.Model, tea.Cmd) {
	if msg.seq != m.seq || msg.where != m.cur {
		return m, nil
	}
	m.tailBusy = false
	if msg.err != nil {
		m = m.fail(explainRead(msg.where, msg.err))
		return m, nil
	}
	if msg.reset {
		// rm MOUNT/NAME deleted the history: show the log as it is now.
		m, cmd := m.open(m.cur)
		return m, cmd
	}
	n := 0
	if msg.off == m.offset {
		var entries []LogEntry
		entries, n = ParseLog(msg.data)
		m.offset += int64(n)
		m = m.appendEntries(entries)
	}
	if m.tailAgain {
		m.tailAgain = false
		return m.requestTail(0)
	}
	if n == 0 && msg.attempt < maxTailAttempts {
		return m, tailRetryCmd(m.seq, msg.attempt+1)
	}
	return m, nil
}

// event handles one .events line.
func (m Model) event(e Event) (tea.Model, tea.Cmd) {
	switch e.Kind {
	case KindMsg:
		if e.Where == m.cur {
			return m.requestTail(0)
		}
		var cmd tea.Cmd
		if !slices.Contains(m.conversations(), e.Where) {
			cmd = listCmd(m.dir)
		}
		if e.From != "me" {
			m.unread[e.Where]++
		}
		return m, cmd
	case KindEnter:
		m.states[e.Alias] = "online"
	case KindExit:
		m.states[e.Alias] = "offline"
	case KindPending:
		m.pending++
		m = m.info(fmt.Sprintf("a node announced key %s: /pending lists keys, /trust NAME %s trusts it",
			Sanitize(e.Fingerprint), Sanitize(e.Fingerprint)))
		return m, listCmd(m.dir)
	case KindInvite:
		m = m.info(fmt.Sprintf("%s added you to group %s: /open %s", Sanitize(e.From), Sanitize(e.Group), Sanitize(e.Group)))
		return m, listCmd(m.dir)
	case KindJoin, KindLeave:
		if m.cur == e.Group+"/"+allLog {
			verb := "joined"
			if e.Kind == KindLeave {
				verb = "left"
			}
			m = m.note(e.Time, fmt.Sprintf("%s %s %s", e.Alias, verb, e.Group))
		}
		return m, listCmd(m.dir)
	case KindWarn:
		m = m.fail(fmt.Sprintf("warning (%s): %s", Sanitize(e.Warn), Sanitize(strings.ReplaceAll(e.Text, "\n", " "))))
		if e.Warn == "overflow" {
			// Events were lost: catch up from the files.
			m, cmd := m.requestTail(0)
			return m, tea.Batch(cmd, listCmd(m.dir))
		}
	}
	return m, nil
}

// result shows the outcome of a slash command.
func (m Model) result(msg resultMsg) (tea.Model, tea.Cmd) {
	if msg.fail != "" {
		m = m.fail(msg.fail)
	} else {
		m = m.info(msg.info)
	}
	var cmds []tea.Cmd
	if msg.relist {
		cmds = append(cmds, listCmd(m.dir))
	}
	if msg.left != "" && (m.cur == msg.left+"/"+allLog || m.opening == msg.left) {
		var cmd tea.Cmd
		m, cmd = m.open(allLog)
		cmds = append(cmds, cmd)
	}
	return m, tea.Batch(cmds...)
}

// showPending lists keys/pending in the pane.
func (m Model) showPending(msg pendingMsg) Model {
	if msg.err != nil {
		return m.fail(explainPending(msg.err))
	}
	if len(msg.keys) == 0 {
		return m.note(time.Time{}, "no pending keys: nodes that announce a key you do not trust show up here")
	}
	lines := []string{fmt.Sprintf("%d pending key(s); compare the fingerprint with its owner, then /trust NAME FINGERPRINT:", len(msg.keys))}
	for _, k := range msg.keys {
		lines = append(lines, fmt.Sprintf("  %s  %s", k.Fingerprint, k.Key))
	}
	return m.note(time.Time{}, strings.Join(lines, "\n"))
}

// fail shows an error in the status line.
func (m Model) fail(s string) Model {
	m.status, m.statusErr = Sanitize(s), true
	return m
}

// info shows a message in the status line.
func (m Model) info(s string) Model {
	m.status, m.statusErr = Sanitize(s), false
	return m
}

// note appends a line from the chat itself to the pane.
func (m Model) note(at time.Time, text string) Model {
	m.items = append(m.items, item{at: at, lines: sanitizeLines(text), note: true})
	return m.appendRendered(m.items[len(m.items)-1:], false)
}

// appendEntries adds log entries to the pane.
func (m Model) appendEntries(entries []LogEntry) Model {
	if len(entries) == 0 {
		return m
	}
	if entries[0].Cont {
		m.items = appendEntries(m.items, entries)
		return m.rerender(false)
	}
	start := len(m.items)
	m.items = appendEntries(m.items, entries)
	if len(m.items) > maxItems+maxItems/10 {
		return m.rerender(false)
	}
	return m.appendRendered(m.items[start:], false)
}

// appendEntries converts log entries to items; an entry that continues
// the previous message is merged into it.
func appendEntries(items []item, entries []LogEntry) []item {
	for _, e := range entries {
		lines := sanitizeLines(e.Text)
		if e.Cont && len(items) > 0 && !items[len(items)-1].note {
			last := &items[len(items)-1]
			last.lines = append(slices.Clip(last.lines), lines...)
			continue
		}
		items = append(items, item{at: e.Time, from: Sanitize(e.From), lines: lines})
	}
	if len(items) > maxItems {
		items = slices.Clone(items[len(items)-maxItems:])
	}
	return items
}
