package fs

import (
	"context"
	"os"
	"sort"
	"sync"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// dir is what every directory node shares: its path in the tree and a
// cache of the child nodes it handed to the kernel.
type dir struct {
	fsys *fileSystem
	path string // "" for the root, "keys", "keys/pending" or a group name

	mu   sync.Mutex
	kids map[string]fusefs.Node
}

func newDir(f *fileSystem, path string) dir {
	return dir{fsys: f, path: path, kids: make(map[string]fusefs.Node)}
}

// kid returns the cached node for name, or makes and caches one.
func (d *dir) kid(name string, mk func() fusefs.Node) fusefs.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.kids[name]
	if !ok {
		n = mk()
		d.kids[name] = n
	}
	return n
}

// cached returns the node cached for name, or nil.
func (d *dir) cached(name string) fusefs.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kids[name]
}

// forget drops the cached node for name, so that the next lookup makes a
// new node (with a new kernel node id).
func (d *dir) forget(name string) {
	d.mu.Lock()
	delete(d.kids, name)
	d.mu.Unlock()
}

// names returns the names of the cached children.
func (d *dir) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := make([]string, 0, len(d.kids))
	for n := range d.kids {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// childPath is the path of a child for log lines.
func (d *dir) childPath(name string) string {
	if d.path == "" {
		return name
	}
	return d.path + "/" + name
}

// Attr implements fusefs.Node for every directory.
func (d *dir) Attr(ctx context.Context, a *fuse.Attr) error {
	d.fsys.attr(a, os.ModeDir|0o700, 0, d.fsys.dirTime(d.path))
	return nil
}

// Access implements fusefs.NodeAccesser.
func (d *dir) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, true, true)
}

// noEntryCache makes the kernel ask again for every path walk: the tree
// changes under it without any system call.
func noEntryCache(resp *fuse.LookupResponse) { resp.EntryValid = 0 }

// dirent is a directory entry of the given type.
func dirent(name string, isDir bool) fuse.Dirent {
	t := fuse.DT_File
	if isDir {
		t = fuse.DT_Dir
	}
	return fuse.Dirent{Name: name, Type: t}
}

// Link implements fusefs.NodeLinker: no hard links (bazil's default
// answer would be EIO).
func (d *dir) Link(ctx context.Context, req *fuse.LinkRequest, old fusefs.Node) (fusefs.Node, error) {
	return nil, d.fsys.refuse("link", d.childPath(req.NewName), syscall.EPERM, "no links in messagefs")
}

// Symlink implements fusefs.NodeSymlinker: no symbolic links.
func (d *dir) Symlink(ctx context.Context, req *fuse.SymlinkRequest) (fusefs.Node, error) {
	return nil, d.fsys.refuse("symlink", d.childPath(req.NewName), syscall.EPERM, "no links in messagefs")
}

// Mknod implements fusefs.NodeMknoder: no devices, fifos or sockets.
func (d *dir) Mknod(ctx context.Context, req *fuse.MknodRequest) (fusefs.Node, error) {
	return nil, d.fsys.refuse("mknod", d.childPath(req.Name), syscall.EPERM, "no special files in messagefs")
}

// Fsync implements fusefs.NodeFsyncer (bazil's default answer is EIO).
func (d *dir) Fsync(ctx context.Context, req *fuse.FsyncRequest) error { return nil }

// syncless gives a file node an fsync that succeeds: every change the
// file system makes is durable when its call returns.
type syncless struct{}

// Fsync implements fusefs.NodeFsyncer.
func (syncless) Fsync(ctx context.Context, req *fuse.FsyncRequest) error { return nil }
