package chat

import (
	"bufio"
	"io"

	tea "github.com/charmbracelet/bubbletea"
)

// maxEventLine bounds one .events line: a 64 KiB message whose every byte
// is escaped as \u{XXXX} is 512 KiB.
const maxEventLine = 1 << 20

// readEvents reads .events lines from r until it ends or fails (Run closes
// it on quit), and sends every well-formed event to send; malformed lines
// are skipped. The end of the stream is sent as eventsEndMsg.
func readEvents(r io.Reader, send func(tea.Msg)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	for sc.Scan() {
		ev, err := ParseEvent(sc.Text())
		if err != nil {
			continue
		}
		send(eventMsg{ev: ev})
	}
	send(eventsEndMsg{err: sc.Err()})
}
