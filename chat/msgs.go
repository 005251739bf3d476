package chat

import (
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// The messages that file operations and the .events reader send to the
// Model, and the commands that produce them.

// eventMsg is one line of .events.
type eventMsg struct{ ev Event }

// eventsEndMsg says that the .events stream ended (node stopped, or the
// chat is quitting).
type eventsEndMsg struct{ err error }

// listMsg carries a fresh listing of the mount.
type listMsg struct {
	l   listing
	err error
}

// openedMsg carries the whole log of a conversation being opened.
type openedMsg struct {
	seq   int
	name  string // as requested
	where string // as resolved
	data  []byte
	err   error
}

// tailMsg carries what was appended to the open log after off.
type tailMsg struct {
	seq     int
	where   string
	off     int64
	data    []byte
	attempt int
	reset   bool // the log is shorter than off: its history was deleted
	err     error
}

// tailRetryMsg asks for another tail read after one found nothing new.
type tailRetryMsg struct{ seq, attempt int }

// sentMsg is the result of sending a message.
type sentMsg struct {
	where, text string
	err         error
}

// resultMsg is the result of a slash command: a line for the status, and
// whether the side list changed.
type resultMsg struct {
	info, fail string
	relist     bool
	left       string // the group just left, if any
}

// pendingMsg is the result of /pending.
type pendingMsg struct {
	keys []PendingKey
	err  error
}

// refreshMsg re-lists the mount periodically.
type refreshMsg struct{}

func listCmd(dir string) tea.Cmd {
	return func() tea.Msg {
		l, err := listMount(dir)
		return listMsg{l: l, err: err}
	}
}

func openCmd(dir, name string, seq int) tea.Cmd {
	return func() tea.Msg {
		where, err := resolveConversation(dir, name)
		if err != nil {
			return openedMsg{seq: seq, name: name, err: err}
		}
		data, err := readLogFrom(dir, where, 0)
		return openedMsg{seq: seq, name: name, where: where, data: data, err: err}
	}
}

func tailCmd(dir, where string, seq int, off int64, attempt int) tea.Cmd {
	return func() tea.Msg {
		data, err := readLogFrom(dir, where, off)
		reset := false
		if err == nil && len(data) == 0 {
			if fi, serr := os.Stat(logPath(dir, where)); serr == nil && fi.Size() < off {
				reset = true
			}
		}
		return tailMsg{seq: seq, where: where, off: off, data: data, attempt: attempt, reset: reset, err: err}
	}
}

func tailRetryCmd(seq, attempt int) tea.Cmd {
	return tea.Tick(time.Duration(attempt)*tailRetryDelay, func(time.Time) tea.Msg {
		return tailRetryMsg{seq: seq, attempt: attempt}
	})
}

func sendCmd(dir, where, text string) tea.Cmd {
	return func() tea.Msg {
		return sentMsg{where: where, text: text, err: sendMessage(dir, where, text)}
	}
}

func pendingCmd(dir string) tea.Cmd {
	return func() tea.Msg {
		keys, err := listPending(dir)
		return pendingMsg{keys: keys, err: err}
	}
}

func refreshCmd(every time.Duration) tea.Cmd {
	return tea.Tick(every, func(time.Time) tea.Msg { return refreshMsg{} })
}

// resultCmd runs op and reports success as info, failure as explained.
func resultCmd(op func() error, info string, explain func(error) string, left string) tea.Cmd {
	return func() tea.Msg {
		if err := op(); err != nil {
			return resultMsg{fail: explain(err), relist: true}
		}
		return resultMsg{info: info, relist: true, left: left}
	}
}
