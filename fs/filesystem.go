package fs

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// fileSystem is the tree served over FUSE. Nodes are created on lookup and
// cached per directory, so a name keeps its node (and the kernel its node
// id) while it exists.
type fileSystem struct {
	b     Backend
	log   *slog.Logger
	uid   uint32
	gid   uint32
	start time.Time
	srv   *fusefs.Server // set before serving starts
	inval *invalidator

	root    *rootDir
	keys    *keysDir
	pending *pendingDir

	mu       sync.Mutex
	groups   map[string]*groupDir
	events   map[*eventsHandle]struct{}
	dirTimes map[string]time.Time // last listing change per directory
	closed   bool                 // shutting down: .events reads end
}

func newFileSystem(b Backend, log *slog.Logger) *fileSystem {
	f := &fileSystem{
		b:        b,
		log:      log,
		uid:      uint32(os.Getuid()),
		gid:      uint32(os.Getgid()),
		start:    time.Now(),
		groups:   make(map[string]*groupDir),
		events:   make(map[*eventsHandle]struct{}),
		dirTimes: make(map[string]time.Time),
	}
	f.inval = newInvalidator(f.apply)
	f.root = &rootDir{dir: newDir(f, "")}
	f.keys = &keysDir{dir: newDir(f, "keys"), creating: make(map[string]*creatingKey)}
	f.pending = &pendingDir{dir: newDir(f, "keys/pending")}
	return f
}

var (
	_ fusefs.FS         = (*fileSystem)(nil)
	_ fusefs.FSStatfser = (*fileSystem)(nil)
)

// Root implements bazil.org/fuse/fs.FS.
func (f *fileSystem) Root() (fusefs.Node, error) { return f.root, nil }

// Statfs implements fusefs.FSStatfser. There is no space to report, like
// /proc, but names have a length limit and blocks a size.
func (f *fileSystem) Statfs(ctx context.Context, req *fuse.StatfsRequest, resp *fuse.StatfsResponse) error {
	resp.Bsize = 4096
	resp.Frsize = 4096
	resp.Namelen = 255
	return nil
}

// group returns the node of group name, creating it if needed. It does not
// check that the group exists.
func (f *fileSystem) group(name string) *groupDir {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		g = &groupDir{dir: newDir(f, name)}
		f.groups[name] = g
	}
	return g
}

// cachedGroups returns the group nodes created so far.
func (f *fileSystem) cachedGroups() []*groupDir {
	f.mu.Lock()
	defer f.mu.Unlock()
	gs := make([]*groupDir, 0, len(f.groups))
	for _, g := range f.groups {
		gs = append(gs, g)
	}
	return gs
}

func (f *fileSystem) forgetGroup(name string) {
	f.mu.Lock()
	delete(f.groups, name)
	f.mu.Unlock()
}

// dirTime is the mtime of a directory: the last change of its listing
// seen by this mount, or the mount time.
func (f *fileSystem) dirTime(path string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.dirTimes[path]; ok {
		return t
	}
	return f.start
}

// dirChanged records that a directory's listing changed now and queues
// the kernel cache invalidation for it.
func (f *fileSystem) dirChanged(path string) {
	f.mu.Lock()
	f.dirTimes[path] = time.Now()
	f.mu.Unlock()
	f.inval.dir(path)
}

// attr fills the fields every node shares: owner, no caching, one link.
func (f *fileSystem) attr(a *fuse.Attr, mode os.FileMode, size uint64, mtime time.Time) {
	a.Valid = 0
	a.Mode = mode
	a.Uid = f.uid
	a.Gid = f.gid
	a.Size = size
	a.Blocks = (size + 511) / 512
	a.BlockSize = 4096
	a.Mtime = mtime
	a.Ctime = mtime
	a.Atime = mtime
	a.Nlink = 1
	if mode.IsDir() {
		a.Nlink = 2
	}
}

// access answers access(2) for a node: no execute bit on files, no write
// on read-only nodes. The kernel asks only because default_permissions is
// off; root gets the same answers as the owner.
func access(mask uint32, isDir, writable bool) error {
	const wOK, xOK = 2, 1
	if mask&wOK != 0 && !writable {
		return fuse.Errno(syscall.EACCES)
	}
	if mask&xOK != 0 && !isDir {
		return fuse.Errno(syscall.EACCES)
	}
	return nil
}

// wantsWrite reports whether open flags ask for write access or truncation.
func wantsWrite(fl fuse.OpenFlags) bool {
	return !fl.IsReadOnly() || fl&fuse.OpenTruncate != 0
}

// releaseAll releases the .events handles the kernel never released
// (the connection was aborted): their subscriptions and goroutines end.
func (f *fileSystem) releaseAll() {
	f.mu.Lock()
	hs := make([]*eventsHandle, 0, len(f.events))
	for h := range f.events {
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		h.release()
	}
}

// shutdown ends every .events stream (blocked readers get EOF) before the
// file system is unmounted. It is idempotent.
func (f *fileSystem) shutdown() {
	f.mu.Lock()
	f.closed = true
	hs := make([]*eventsHandle, 0, len(f.events))
	for h := range f.events {
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		h.end()
	}
}
