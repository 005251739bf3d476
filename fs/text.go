package fs

import (
	"context"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
	"bazil.org/fuse/fuseutil"
)

// textFile is a read-only file rendered by the backend (.peers, .outbox).
// Each open reads a snapshot, like a file in /proc.
type textFile struct {
	syncless
	fsys *fileSystem
	name string
	text func() []byte
}

var (
	_ fusefs.NodeOpener    = (*textFile)(nil)
	_ fusefs.NodeSetattrer = (*textFile)(nil)
	_ fusefs.NodeAccesser  = (*textFile)(nil)
)

// Attr implements fusefs.Node. The mtime is now: the text is rendered
// when it is read.
func (t *textFile) Attr(ctx context.Context, a *fuse.Attr) error {
	t.fsys.attr(a, 0o400, uint64(len(t.text())), time.Now())
	return nil
}

// Access implements fusefs.NodeAccesser.
func (t *textFile) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, false)
}

// Open implements fusefs.NodeOpener.
func (t *textFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if wantsWrite(req.Flags) {
		return nil, t.fsys.refuse("open", t.name, syscall.EACCES, "read-only file")
	}
	resp.Flags |= fuse.OpenDirectIO
	return bytesHandle(t.text()), nil
}

// Setattr implements fusefs.NodeSetattrer: read-only, even for root.
func (t *textFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return t.fsys.refuse("setattr", t.name, syscall.EACCES, "read-only file")
}

// bytesHandle serves reads from a snapshot.
type bytesHandle []byte

// Read implements fusefs.HandleReader.
func (b bytesHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	fuseutil.HandleRead(req, resp, b)
	return nil
}
