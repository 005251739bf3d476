package fs

import (
	"context"
	"strings"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/messagefs/messagefs/node"
)

// selfKey is keys/self.pub, the node's own recipient. It is read-only,
// even for root.
type selfKey struct {
	syncless
	fsys *fileSystem
}

var (
	_ fusefs.NodeOpener    = (*selfKey)(nil)
	_ fusefs.NodeSetattrer = (*selfKey)(nil)
	_ fusefs.NodeAccesser  = (*selfKey)(nil)
)

func (s *selfKey) content() []byte { return []byte(s.fsys.b.SelfRecipient() + "\n") }

// Attr implements fusefs.Node.
func (s *selfKey) Attr(ctx context.Context, a *fuse.Attr) error {
	s.fsys.attr(a, 0o400, uint64(len(s.content())), s.fsys.start)
	return nil
}

// Access implements fusefs.NodeAccesser.
func (s *selfKey) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, false)
}

// Open implements fusefs.NodeOpener.
func (s *selfKey) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if wantsWrite(req.Flags) {
		return nil, s.fsys.refuse("open", "keys/"+selfName, syscall.EACCES, "this node's own key is read-only")
	}
	resp.Flags |= fuse.OpenDirectIO
	return bytesHandle(s.content()), nil
}

// Setattr implements fusefs.NodeSetattrer.
func (s *selfKey) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return s.fsys.refuse("setattr", "keys/"+selfName, syscall.EACCES, "this node's own key is read-only")
}

// pendingDir is keys/pending/: keys announced by untrusted nodes, named
// FPR.pub by fingerprint. Entries are read-only; moving one into keys/
// trusts it.
type pendingDir struct {
	dir
}

var (
	_ fusefs.NodeRequestLookuper = (*pendingDir)(nil)
	_ fusefs.HandleReadDirAller  = (*pendingDir)(nil)
	_ fusefs.NodeCreater         = (*pendingDir)(nil)
	_ fusefs.NodeRemover         = (*pendingDir)(nil)
	_ fusefs.NodeRenamer         = (*pendingDir)(nil)
)

// find returns the pending key with fingerprint fpr.
func (p *pendingDir) find(fpr string) (node.PendingKey, bool) {
	for _, k := range p.fsys.b.Pending() {
		if k.Fingerprint == fpr {
			return k, true
		}
	}
	return node.PendingKey{}, false
}

// Lookup implements fusefs.NodeRequestLookuper.
func (p *pendingDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	noEntryCache(resp)
	fpr, ok := strings.CutSuffix(req.Name, keySuffix)
	if !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	if _, ok := p.find(fpr); !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	return p.kid(req.Name, func() fusefs.Node { return &pendingKey{dir: p, fpr: fpr} }), nil
}

// ReadDirAll implements fusefs.HandleReadDirAller.
func (p *pendingDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	var ents []fuse.Dirent
	for _, k := range p.fsys.b.Pending() {
		ents = append(ents, dirent(k.Fingerprint+keySuffix, false))
	}
	return ents, nil
}

// Create implements fusefs.NodeCreater: pending keys come from the
// network only.
func (p *pendingDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	return nil, nil, p.fsys.refuse("create", "keys/pending/"+req.Name, syscall.EACCES, "pending keys are read-only; write keys to keys/NAME.pub")
}

// Remove implements fusefs.NodeRemover.
func (p *pendingDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	return p.fsys.refuse("rm", "keys/pending/"+req.Name, syscall.EACCES, "pending keys are read-only")
}

// Rename implements fusefs.NodeRenamer: mv keys/pending/FPR.pub
// keys/NAME.pub trusts the key as NAME.
func (p *pendingDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	f := p.fsys
	path := "keys/pending/" + req.OldName
	if newDir != fusefs.Node(f.keys) {
		return f.refuse("rename", path, syscall.EACCES, "a pending key can only be moved to keys/NAME.pub")
	}
	fpr, ok1 := strings.CutSuffix(req.OldName, keySuffix)
	alias, ok2 := keyAlias(req.NewName)
	if !ok1 || !ok2 {
		return f.refuse("rename", path, syscall.EINVAL, "the target must be keys/ALIAS.pub with a valid alias")
	}
	if err := f.b.TrustPending(fpr, alias); err != nil {
		return f.fail("rename", path, err)
	}
	p.forget(req.OldName)
	f.keys.forget(req.NewName)
	f.dirChanged("keys/pending")
	f.dirChanged("keys")
	f.dirChanged("")
	return nil
}

// pendingKey is keys/pending/FPR.pub, read-only.
type pendingKey struct {
	syncless
	dir *pendingDir
	fpr string
}

var (
	_ fusefs.NodeOpener    = (*pendingKey)(nil)
	_ fusefs.NodeSetattrer = (*pendingKey)(nil)
	_ fusefs.NodeAccesser  = (*pendingKey)(nil)
)

func (k *pendingKey) path() string { return "keys/pending/" + k.fpr + keySuffix }

// Attr implements fusefs.Node.
func (k *pendingKey) Attr(ctx context.Context, a *fuse.Attr) error {
	pk, ok := k.dir.find(k.fpr)
	if !ok {
		return fuse.Errno(syscall.ENOENT)
	}
	k.dir.fsys.attr(a, 0o400, uint64(len(pk.Recipient)+1), pk.Seen)
	return nil
}

// Access implements fusefs.NodeAccesser.
func (k *pendingKey) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, false)
}

// Open implements fusefs.NodeOpener.
func (k *pendingKey) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if wantsWrite(req.Flags) {
		return nil, k.dir.fsys.refuse("open", k.path(), syscall.EACCES, "pending keys are read-only; mv it to keys/NAME.pub to trust it")
	}
	pk, ok := k.dir.find(k.fpr)
	if !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	resp.Flags |= fuse.OpenDirectIO
	return bytesHandle(pk.Recipient + "\n"), nil
}

// Setattr implements fusefs.NodeSetattrer.
func (k *pendingKey) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	return k.dir.fsys.refuse("setattr", k.path(), syscall.EACCES, "pending keys are read-only")
}
