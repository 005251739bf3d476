package chat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// Options configures Run.
type Options struct {
	// Mount is the messagefs mount; "" means DefaultMount.
	Mount string
	// Open is the conversation shown first: a peer alias, a group, or
	// ".all"; "" means ".all".
	Open string
}

// refreshEvery is how often Run's model lists peers and groups again.
const refreshEvery = 5 * time.Second

// Run runs the chat on the terminal until the user quits or ctx is done.
// It fails early, with advice, when opts.Mount is not a messagefs mount.
func Run(ctx context.Context, opts Options) error {
	dir := opts.Mount
	if dir == "" {
		d, err := DefaultMount()
		if err != nil {
			return err
		}
		dir = d
	}
	if err := CheckMount(dir); err != nil {
		return err
	}
	// .events is opened before anything is read, so that whatever happens
	// after the first reads is seen.
	events, err := os.Open(filepath.Join(dir, ".events"))
	if err != nil {
		return fmt.Errorf("opening the event stream: %w", err)
	}
	defer events.Close()

	m := New(Config{Dir: dir, Open: opts.Open, Refresh: refreshEvery})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		readEvents(events, p.Send)
	}()
	_, err = p.Run()
	// Closing wakes the reader blocked in .events (the file is polled).
	events.Close()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("running the terminal UI: %w", err)
	}
	return nil
}
