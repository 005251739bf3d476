package fs

import (
	"context"
	"slices"
	"strings"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// Names of the special entries in the root.
const (
	allName    = ".all"
	eventsName = ".events"
	peersName  = ".peers"
	outboxName = ".outbox"
	keysName   = "keys"
)

// rootDir is the mount's root: the special files, a conversation per
// trusted alias, keys/ and a directory per group.
type rootDir struct {
	dir
}

var (
	_ fusefs.NodeRequestLookuper = (*rootDir)(nil)
	_ fusefs.HandleReadDirAller  = (*rootDir)(nil)
	_ fusefs.NodeCreater         = (*rootDir)(nil)
	_ fusefs.NodeMkdirer         = (*rootDir)(nil)
	_ fusefs.NodeRemover         = (*rootDir)(nil)
	_ fusefs.NodeRenamer         = (*rootDir)(nil)
)

// Lookup implements fusefs.NodeRequestLookuper.
func (r *rootDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	noEntryCache(resp)
	f := r.fsys
	name := req.Name
	switch name {
	case allName:
		return r.kid(name, func() fusefs.Node { return &convFile{fsys: f, where: allName} }), nil
	case eventsName:
		return r.kid(name, func() fusefs.Node { return &eventsFile{fsys: f} }), nil
	case peersName:
		return r.kid(name, func() fusefs.Node { return &textFile{fsys: f, name: name, text: f.b.PeersText} }), nil
	case outboxName:
		return r.kid(name, func() fusefs.Node { return &textFile{fsys: f, name: name, text: f.b.OutboxText} }), nil
	case keysName:
		return f.keys, nil
	}
	if strings.HasPrefix(name, ".") {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	if slices.Contains(f.b.Aliases(), name) {
		return r.kid(name, func() fusefs.Node { return &convFile{fsys: f, where: name} }), nil
	}
	if slices.Contains(f.b.Groups(), name) {
		return f.group(name), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

// ReadDirAll implements fusefs.HandleReadDirAller.
func (r *rootDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	ents := []fuse.Dirent{
		dirent(allName, false), dirent(eventsName, false),
		dirent(peersName, false), dirent(outboxName, false),
		dirent(keysName, true),
	}
	for _, a := range r.fsys.b.Aliases() {
		ents = append(ents, dirent(a, false))
	}
	for _, g := range r.fsys.b.Groups() {
		ents = append(ents, dirent(g, true))
	}
	return ents, nil
}

// Create implements fusefs.NodeCreater. Only names that do not exist get
// here, and a peer cannot be created by naming it.
func (r *rootDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	return nil, nil, r.fsys.refuse("create", req.Name, syscall.ENOENT,
		"no trusted peer has this name; to talk to it, write its public key to keys/"+req.Name+".pub")
}

// Mkdir implements fusefs.NodeMkdirer: mkdir creates a group.
func (r *rootDir) Mkdir(ctx context.Context, req *fuse.MkdirRequest) (fusefs.Node, error) {
	f := r.fsys
	if strings.HasPrefix(req.Name, ".") {
		return nil, f.refuse("mkdir", req.Name, syscall.EINVAL, "group names cannot start with '.'")
	}
	if req.Name == keysName || slices.Contains(f.b.Aliases(), req.Name) {
		return nil, f.refuse("mkdir", req.Name, syscall.EEXIST, "the name is taken by a peer or keys/")
	}
	if err := f.b.CreateGroup(req.Name); err != nil {
		return nil, f.fail("mkdir", req.Name, err)
	}
	f.dirChanged("")
	return f.group(req.Name), nil
}

// Remove implements fusefs.NodeRemover: rm deletes a conversation's
// history (the peer stays trusted, so the file stays), rmdir leaves a
// group.
func (r *rootDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	f := r.fsys
	name := req.Name
	if req.Dir {
		if name == keysName {
			return f.refuse("rmdir", name, syscall.EACCES, "keys/ cannot be removed")
		}
		if err := f.b.LeaveGroup(name); err != nil {
			return f.fail("rmdir", name, err)
		}
		f.forgetGroup(name)
		r.forget(name)
		f.dirChanged("")
		return nil
	}
	switch {
	case name == eventsName || name == peersName || name == outboxName:
		return f.refuse("rm", name, syscall.EACCES, "special files cannot be removed")
	case name == allName || !strings.HasPrefix(name, "."):
		if err := f.b.DeleteHistory(name); err != nil {
			return f.fail("rm", name, err)
		}
		f.inval.log(name)
		return nil
	}
	return fuse.Errno(syscall.ENOENT)
}

// Rename implements fusefs.NodeRenamer. Conversations are renamed by
// renaming their key (mv keys/a.pub keys/b.pub).
func (r *rootDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	return r.fsys.refuse("rename", req.OldName, syscall.EPERM,
		"only keys can be renamed: mv keys/OLD.pub keys/NEW.pub renames a peer")
}
