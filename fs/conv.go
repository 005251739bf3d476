package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// convFile is a conversation: a peer's file in the root or in a group
// (where is the alias), or a group log (.all, "team/.all"). Reading shows
// the log; every write(2) sends one message. The node is its own handle.
type convFile struct {
	syncless
	fsys  *fileSystem
	where string // log name, see Backend
	path  string // path in the tree, for log lines; where if empty
}

var (
	_ fusefs.NodeOpener    = (*convFile)(nil)
	_ fusefs.NodeSetattrer = (*convFile)(nil)
	_ fusefs.NodeFsyncer   = (*convFile)(nil)
	_ fusefs.NodeAccesser  = (*convFile)(nil)
	_ fusefs.HandleReader  = (*convFile)(nil)
	_ fusefs.HandleWriter  = (*convFile)(nil)
)

func (c *convFile) name() string {
	if c.path != "" {
		return c.path
	}
	return c.where
}

// Attr implements fusefs.Node with the log's true size and mtime.
func (c *convFile) Attr(ctx context.Context, a *fuse.Attr) error {
	size, mtime, err := c.fsys.b.LogStat(c.where)
	if err != nil {
		return c.fsys.fail("stat", c.name(), err)
	}
	c.fsys.attr(a, 0o600, uint64(size), mtime)
	return nil
}

// Access implements fusefs.NodeAccesser.
func (c *convFile) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, true)
}

// Open implements fusefs.NodeOpener. O_TRUNC is accepted and ignored.
func (c *convFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if _, _, err := c.fsys.b.LogStat(c.where); err != nil {
		return nil, c.fsys.fail("open", c.name(), err)
	}
	resp.Flags |= logOpenFlags(req.Flags)
	return c, nil
}

// logOpenFlags chooses how the kernel caches a log for one open. A
// read-only open reads through the page cache and keeps it across opens:
// the log is append-only, every change invalidates the node's data and
// attributes (see apply), and with attributes never cached the kernel
// sees a new size before it reads and drops stale pages itself. Repeated
// `cat`s then cost a page-cache copy instead of a FUSE round trip per 128
// KiB. An open for writing uses direct I/O, so the text written (a
// message, not log content) never lands in the page cache.
func logOpenFlags(flags fuse.OpenFlags) fuse.OpenResponseFlags {
	if flags.IsReadOnly() {
		return fuse.OpenKeepCache
	}
	return fuse.OpenDirectIO
}

// Setattr implements fusefs.NodeSetattrer: truncate(0) (from O_TRUNC
// without atomic truncation) changes nothing, times are ignored, and the
// rest is refused.
func (c *convFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return setattrLog(c.fsys, c.name(), req)
}

func setattrLog(f *fileSystem, path string, req *fuse.SetattrRequest) error {
	switch {
	case req.Valid.Size() && req.Size != 0:
		return f.refuse("truncate", path, syscall.EINVAL, "history is append-only; only truncate(0) is accepted (and does nothing)")
	case req.Valid.Mode(), req.Valid.Uid(), req.Valid.Gid():
		return f.refuse("setattr", path, syscall.EPERM, "modes and owners are fixed")
	}
	return nil
}

// Read implements fusefs.HandleReader.
func (c *convFile) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	return readLog(c.fsys, c.where, c.name(), req, resp)
}

func readLog(f *fileSystem, where, path string, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	buf := resp.Data[:req.Size]
	n, err := f.b.ReadLog(where, buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return f.fail("read", path, err)
	}
	resp.Data = buf[:n]
	return nil
}

// Write implements fusefs.HandleWriter: one write(2) is one message,
// whatever the offset.
func (c *convFile) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	return writeMessage(ctx, c.fsys, c.where, c.name(), req, resp)
}

func writeMessage(ctx context.Context, f *fileSystem, where, path string, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	if len(req.Data) == 0 || (len(req.Data) == 1 && req.Data[0] == '\n') {
		resp.Size = len(req.Data)
		return nil
	}
	// bazil reuses the request buffer after we respond; the backend may
	// keep what it is given.
	text := append([]byte(nil), req.Data...)
	if err := f.b.Send(ctx, where, text); err != nil {
		// Send returns nil once the message is committed, even if ctx
		// was cancelled meanwhile: only an uncommitted send gets here.
		return f.fail("write", path, err)
	}
	resp.Size = len(req.Data)
	f.inval.log(where)
	return nil
}
