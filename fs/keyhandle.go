package fs

import (
	"bytes"
	"context"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
	"bazil.org/fuse/fuseutil"
)

// keyHandle is an open keys/NAME.pub. Writes accumulate the content of
// this open (offsets are ignored). Every write(2) that makes the content
// checkable (see needsCheck) is checked with Backend.CheckKeyFile, so a
// bad key fails the write itself; the content is trusted with
// Backend.TrustKeyFile when the file is closed (flush). A failed write
// changes nothing, and after one the open trusts nothing at all: what was
// written is not what the writer meant.
type keyHandle struct {
	keys     *keysDir
	alias    string
	writable bool
	creating bool // counted in keysDir.creating

	mu       sync.Mutex
	buf      []byte
	dirty    bool // buf changed since it was last trusted
	failed   bool // a write failed: trust nothing
	released bool
}

var (
	_ fusefs.HandleReader   = (*keyHandle)(nil)
	_ fusefs.HandleWriter   = (*keyHandle)(nil)
	_ fusefs.HandleFlusher  = (*keyHandle)(nil)
	_ fusefs.HandleReleaser = (*keyHandle)(nil)
)

func (h *keyHandle) path() string { return "keys/" + h.alias + keySuffix }

// needsCheck reports whether content can be judged now: it holds a secret
// key (refused at once), or a complete line that is not blank or a
// comment. Comment lines and an unfinished last line are not enough, so a
// key file written in pieces is not refused halfway.
func needsCheck(content []byte) bool {
	if bytes.Contains(bytes.ToUpper(content), []byte("AGE-SECRET-KEY-")) {
		return true
	}
	for {
		line, rest, complete := bytes.Cut(content, []byte("\n"))
		if !complete {
			return false
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return true
		}
		content = rest
	}
}

// Read implements fusefs.HandleReader.
func (h *keyHandle) Read(ctx context.Context, req *fuse.ReadRequest, resp *fuse.ReadResponse) error {
	data, _, err := (&keyFile{keys: h.keys, alias: h.alias}).content()
	if err != nil {
		return h.keys.fsys.fail("read", h.path(), err)
	}
	fuseutil.HandleRead(req, resp, data)
	return nil
}

// Write implements fusefs.HandleWriter.
func (h *keyHandle) Write(ctx context.Context, req *fuse.WriteRequest, resp *fuse.WriteResponse) error {
	f := h.keys.fsys
	if !h.writable {
		return f.refuse("write", h.path(), syscall.EBADF, "not open for writing")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	const maxKeyFile = 64 << 10
	if len(h.buf)+len(req.Data) > maxKeyFile {
		h.failed = true
		return f.refuse("write", h.path(), syscall.EFBIG, "a key file is a few lines")
	}
	prev := len(h.buf)
	h.buf = append(h.buf, req.Data...)
	if needsCheck(h.buf) {
		if err := f.b.CheckKeyFile(h.alias, bytes.Clone(h.buf)); err != nil {
			h.buf = h.buf[:prev]
			h.failed = true
			return f.fail("write", h.path(), err)
		}
	}
	h.dirty = true
	resp.Size = len(req.Data)
	return nil
}

// Flush implements fusefs.HandleFlusher: close(2) trusts what was
// written, unless a write failed or nothing but blanks was written.
func (h *keyHandle) Flush(ctx context.Context, req *fuse.FlushRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed || !h.dirty || len(bytes.TrimSpace(h.buf)) == 0 {
		return nil
	}
	f := h.keys.fsys
	if err := f.b.TrustKeyFile(h.alias, bytes.Clone(h.buf)); err != nil {
		h.failed = true
		return f.fail("close", h.path(), err)
	}
	h.dirty = false
	f.dirChanged("keys")
	f.dirChanged("")
	return nil
}

// Release implements fusefs.HandleReleaser: a created key file that never
// held a valid key disappears with its last handle.
func (h *keyHandle) Release(ctx context.Context, req *fuse.ReleaseRequest) error {
	h.mu.Lock()
	done := h.released
	h.released = true
	h.mu.Unlock()
	if h.creating && !done {
		h.keys.release(h.alias)
	}
	return nil
}
