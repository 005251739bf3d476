package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/messagefs/messagefs/node"
)

// eventsFile is .events: every open is a live stream of event lines from
// the moment it was opened.
type eventsFile struct {
	syncless
	fsys *fileSystem
}

var (
	_ fusefs.NodeOpener    = (*eventsFile)(nil)
	_ fusefs.NodeSetattrer = (*eventsFile)(nil)
	_ fusefs.NodeAccesser  = (*eventsFile)(nil)
)

// Attr implements fusefs.Node. A stream has no size.
func (e *eventsFile) Attr(ctx context.Context, a *fuse.Attr) error {
	e.fsys.attr(a, 0o400, 0, e.fsys.start)
	return nil
}

// Access implements fusefs.NodeAccesser.
func (e *eventsFile) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, false)
}

// Setattr implements fusefs.NodeSetattrer: read-only, even for root.
func (e *eventsFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return e.fsys.refuse("setattr", eventsName, syscall.EACCES, "read-only file")
}

// Open implements fusefs.NodeOpener: a new subscription per open.
func (e *eventsFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	f := e.fsys
	if wantsWrite(req.Flags) {
		return nil, f.refuse("open", eventsName, syscall.EACCES, "read-only file")
	}
	h := &eventsHandle{
		fsys:    f,
		sub:     f.b.Subscribe(),
		changed: make(chan struct{}),
		sem:     make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	f.mu.Lock()
	if f.closed {
		h.ended = true
	} else {
		f.events[h] = struct{}{}
	}
	f.mu.Unlock()
	go h.pump()
	resp.Flags |= fuse.OpenDirectIO | fuse.OpenNonSeekable
	return h, nil
}

// eventsHandle is one open of .events.
//
// Only pump receives from the subscription's wake channel; it turns every
// wake-up into a broadcast (closing changed) for blocked reads and into a
// poll notification for the kernel. Reads never block inside the
// subscription, so a poller and a reader on the same open cannot steal
// each other's wake-ups.
type eventsHandle struct {
	fsys *fileSystem
	sub  *node.Subscription
	sem  chan struct{} // serializes reads (holds rest's order)
	stop chan struct{} // closed on release

	mu        sync.Mutex
	rest      []byte        // the unread part of a line longer than a read
	changed   chan struct{} // closed and replaced on every wake-up
	ended     bool          // the file system is shutting down
	wakeup    fuse.PollWakeup
	hasWakeup bool
	released  bool
}

var (
	_ fusefs.HandleReader   = (*eventsHandle)(nil)
	_ fusefs.HandlePoller   = (*eventsHandle)(nil)
	_ fusefs.HandleReleaser = (*eventsHandle)(nil)
)

// pump forwards the subscription's wake-ups until release.
func (h *eventsHandle) pump() {
	for {
		select {
		case <-h.sub.Wake():
			h.broadcast()
		case <-h.stop:
			return
		}
	}
}

// broadcast wakes blocked reads and pollers.
func (h *eventsHandle) broadcast() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	wk, ok := h.wakeup, h.hasWakeup && !h.released
	h.mu.Unlock()
	if ok {
		// The kernel only notes the wake-up; this does not wait for
		// anything, but it runs here, with no lock held, anyway.
		if err := h.fsys.srv.NotifyPollWakeup(wk); err != nil {
			h.fsys.log.Debug("messagefs: poll wake-up failed", "err", err)
		}
	}
}

// end makes reads return EOF once the queued lines are read.
func (h *eventsHandle) end() {
	h.mu.Lock()
	h.ended = true
	h.mu.Unlock()
	h.broadcast()
}

// Read implements fusefs.HandleReader. It returns whole lines, blocks
// (unless the file is non-blocking: EAGAIN) until there is one, returns
// EINTR if interrupted before anything was consumed, and EOF after
// shutdown.
//
// It never returns as many bytes as requested: for a read(2) larger than
// one FUSE request, a full reply makes the kernel send another request
// for the rest, which would block while data is already waiting for the
// reader. A line that does not fit is returned over several reads.
func (h *eventsHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return fuse.Errno(syscall.EINTR)
	}
	defer func() { <-h.sem }()

	if req.Size == 0 {
		return nil
	}
	max := req.Size
	if max > 1 {
		max--
	}
	for {
		h.mu.Lock()
		if len(h.rest) > 0 {
			n := copy(resp.Data[:max], h.rest)
			resp.Data = resp.Data[:n]
			h.rest = h.rest[n:]
			h.mu.Unlock()
			return nil
		}
		changed, ended := h.changed, h.ended
		h.mu.Unlock()

		lines, err := h.sub.Read(ctx, max, false)
		switch {
		case err == nil:
			n := copy(resp.Data[:max], lines)
			resp.Data = resp.Data[:n]
			if n < len(lines) {
				h.mu.Lock()
				h.rest = append(h.rest, lines[n:]...)
				h.mu.Unlock()
			}
			return nil
		case errors.Is(err, io.EOF):
			return nil
		case !errors.Is(err, node.ErrWouldBlock):
			return h.fsys.fail("read", eventsName, err)
		case ended:
			return nil
		case req.FileFlags&fuse.OpenNonblock != 0:
			return fuse.Errno(syscall.EAGAIN)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fuse.Errno(syscall.EINTR)
		}
	}
}

// Poll implements fusefs.HandlePoller: readable when a line is queued or
// the stream has ended. The wake-up is recorded before readiness is
// checked, so an event in between still wakes the poller.
func (h *eventsHandle) Poll(ctx context.Context, req *fuse.PollRequest, resp *fuse.PollResponse) error {
	h.mu.Lock()
	if wk, ok := req.Wakeup(); ok {
		h.wakeup, h.hasWakeup = wk, true
	}
	ready := len(h.rest) > 0 || h.ended
	h.mu.Unlock()
	if ready || h.sub.Ready() {
		resp.REvents = fuse.PollIn | fuse.PollReadNormal
	}
	return nil
}

// Release implements fusefs.HandleReleaser.
func (h *eventsHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.release()
	return nil
}

// release ends the subscription and the pump. It is idempotent.
func (h *eventsHandle) release() {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return
	}
	h.released = true
	close(h.stop)
	h.mu.Unlock()
	h.fsys.mu.Lock()
	delete(h.fsys.events, h)
	h.fsys.mu.Unlock()
	h.sub.Close()
}
