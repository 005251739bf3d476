package fs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/messagefs/messagefs/node"
)

const (
	selfName    = "self.pub"
	pendingName = "pending"
	keySuffix   = ".pub"
)

// validAlias checks DESIGN.md's alias syntax, [a-z0-9][a-z0-9._-]{0,31},
// minus the reserved names. The backend has the last word; checking here
// makes a bad name fail at open(2), where shells show the error, instead
// of at the first write.
func validAlias(s string) bool {
	if len(s) == 0 || len(s) > 32 || s == "self" || s == keysName {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// keyAlias returns the alias named by a key file name, "alice.pub".
func keyAlias(name string) (string, bool) {
	alias, ok := strings.CutSuffix(name, keySuffix)
	return alias, ok && validAlias(alias)
}

// keysDir is keys/: self.pub, a NAME.pub per trusted alias, pending/, and
// key files being written that have not become valid yet.
type keysDir struct {
	dir
	creating map[string]*creatingKey // by alias; guarded by dir.mu
}

// creatingKey is a key file created by open(O_CREAT) whose content has not
// (yet) been trusted. It is listed as an empty file until its last handle
// is released.
type creatingKey struct {
	opens   int
	created time.Time
}

var (
	_ fusefs.NodeRequestLookuper = (*keysDir)(nil)
	_ fusefs.HandleReadDirAller  = (*keysDir)(nil)
	_ fusefs.NodeCreater         = (*keysDir)(nil)
	_ fusefs.NodeRemover         = (*keysDir)(nil)
	_ fusefs.NodeRenamer         = (*keysDir)(nil)
)

func (k *keysDir) trusted(alias string) bool {
	_, _, err := k.fsys.b.TrustedKey(alias)
	return err == nil
}

// creatingSince returns when an untrusted key file was created, if it is
// being created.
func (k *keysDir) creatingSince(alias string) (time.Time, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.creating[alias]
	if !ok {
		return time.Time{}, false
	}
	return c.created, true
}

// open counts a handle on a key file being created.
func (k *keysDir) open(alias string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.creating[alias]
	if !ok {
		c = &creatingKey{created: time.Now()}
		k.creating[alias] = c
	}
	c.opens++
}

// release ends a handle on a key file being created; the file disappears
// with its last handle unless its content became a trusted key.
func (k *keysDir) release(alias string) {
	k.mu.Lock()
	c, ok := k.creating[alias]
	if ok {
		c.opens--
		if c.opens > 0 {
			k.mu.Unlock()
			return
		}
		delete(k.creating, alias)
	}
	k.mu.Unlock()
	if ok && !k.trusted(alias) {
		k.fsys.log.Info("messagefs: key file never held a valid key; removed", "path", "keys/"+alias+keySuffix)
		k.forget(alias + keySuffix)
		k.fsys.dirChanged("keys")
	}
}

func (k *keysDir) keyFile(alias string) fusefs.Node {
	return k.kid(alias+keySuffix, func() fusefs.Node { return &keyFile{keys: k, alias: alias} })
}

// Lookup implements fusefs.NodeRequestLookuper.
func (k *keysDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	noEntryCache(resp)
	switch req.Name {
	case selfName:
		return k.kid(selfName, func() fusefs.Node { return &selfKey{fsys: k.fsys} }), nil
	case pendingName:
		return k.fsys.pending, nil
	}
	alias, ok := strings.CutSuffix(req.Name, keySuffix)
	if !ok {
		return nil, fuse.Errno(syscall.ENOENT)
	}
	if _, creating := k.creatingSince(alias); creating || k.trusted(alias) {
		return k.keyFile(alias), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

// ReadDirAll implements fusefs.HandleReadDirAller.
func (k *keysDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	ents := []fuse.Dirent{dirent(selfName, false), dirent(pendingName, true)}
	aliases := k.fsys.b.Aliases()
	for _, a := range aliases {
		ents = append(ents, dirent(a+keySuffix, false))
	}
	k.mu.Lock()
	for a := range k.creating {
		if !slices.Contains(aliases, a) {
			ents = append(ents, dirent(a+keySuffix, false))
		}
	}
	k.mu.Unlock()
	return ents, nil
}

// Create implements fusefs.NodeCreater: a new NAME.pub, trusted once a
// valid key is written to it.
func (k *keysDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	noEntryCache(&resp.LookupResponse)
	path := "keys/" + req.Name
	alias, ok := keyAlias(req.Name)
	if !ok {
		return nil, nil, k.fsys.refuse("create", path, syscall.EINVAL,
			"key files are named ALIAS.pub, ALIAS matching [a-z0-9][a-z0-9._-]{0,31} (not self or keys)")
	}
	k.open(alias)
	n := k.keyFile(alias)
	k.fsys.dirChanged("keys")
	resp.Flags |= fuse.OpenDirectIO
	return n, &keyHandle{keys: k, alias: alias, writable: true, creating: true}, nil
}

// Remove implements fusefs.NodeRemover: rm NAME.pub revokes the key.
func (k *keysDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	f := k.fsys
	path := "keys/" + req.Name
	if req.Name == selfName || req.Name == pendingName {
		return f.refuse("rm", path, syscall.EACCES, "self.pub and pending/ cannot be removed")
	}
	alias, ok := strings.CutSuffix(req.Name, keySuffix)
	if !ok {
		return fuse.Errno(syscall.ENOENT)
	}
	if _, creating := k.creatingSince(alias); creating && !k.trusted(alias) {
		// Never trusted: nothing to revoke; unlist it now.
		k.mu.Lock()
		delete(k.creating, alias)
		k.mu.Unlock()
		k.forget(req.Name)
		return nil
	}
	if err := f.b.Revoke(alias); err != nil {
		return f.fail("rm", path, err)
	}
	k.forget(req.Name)
	f.dirChanged("keys")
	f.dirChanged("")
	return nil
}

// Rename implements fusefs.NodeRenamer: mv a.pub b.pub renames the alias.
func (k *keysDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	f := k.fsys
	path := "keys/" + req.OldName
	if newDir != fusefs.Node(k) {
		return f.refuse("rename", path, syscall.EPERM, "keys can only be renamed within keys/")
	}
	if req.OldName == selfName || req.NewName == selfName {
		return f.refuse("rename", path, syscall.EACCES, "self.pub is read-only")
	}
	oldAlias, ok1 := strings.CutSuffix(req.OldName, keySuffix)
	newAlias, ok2 := keyAlias(req.NewName)
	if !ok1 || !ok2 {
		return f.refuse("rename", path, syscall.EINVAL, "key files are named ALIAS.pub with a valid alias")
	}
	if err := f.b.RenameAlias(oldAlias, newAlias); err != nil {
		return f.fail("rename", path, err)
	}
	k.forget(req.OldName)
	k.forget(req.NewName)
	f.dirChanged("keys")
	f.dirChanged("")
	return nil
}

// keyFile is keys/NAME.pub: reads give the trusted recipient; writes
// trust a key.
type keyFile struct {
	syncless
	keys  *keysDir
	alias string
}

var (
	_ fusefs.NodeOpener    = (*keyFile)(nil)
	_ fusefs.NodeSetattrer = (*keyFile)(nil)
	_ fusefs.NodeAccesser  = (*keyFile)(nil)
)

// content returns the file's content, "age1...\n", and mtime. A key file
// being created is empty.
func (n *keyFile) content() ([]byte, time.Time, error) {
	rcpt, added, err := n.keys.fsys.b.TrustedKey(n.alias)
	if err == nil {
		return []byte(rcpt + "\n"), added, nil
	}
	if since, ok := n.keys.creatingSince(n.alias); ok && errors.Is(err, node.ErrNotFound) {
		return nil, since, nil
	}
	return nil, time.Time{}, err
}

// Attr implements fusefs.Node.
func (n *keyFile) Attr(ctx context.Context, a *fuse.Attr) error {
	data, mtime, err := n.content()
	if err != nil {
		return n.keys.fsys.fail("stat", "keys/"+n.alias+keySuffix, err)
	}
	n.keys.fsys.attr(a, 0o600, uint64(len(data)), mtime)
	return nil
}

// Access implements fusefs.NodeAccesser.
func (n *keyFile) Access(ctx context.Context, req *fuse.AccessRequest) error {
	return access(req.Mask, false, true)
}

// Open implements fusefs.NodeOpener.
func (n *keyFile) Open(ctx context.Context, req *fuse.OpenRequest, resp *fuse.OpenResponse) (fusefs.Handle, error) {
	if _, _, err := n.content(); err != nil {
		return nil, n.keys.fsys.fail("open", "keys/"+n.alias+keySuffix, err)
	}
	resp.Flags |= fuse.OpenDirectIO
	h := &keyHandle{keys: n.keys, alias: n.alias, writable: !req.Flags.IsReadOnly()}
	if h.writable && !n.keys.trusted(n.alias) {
		n.keys.open(n.alias)
		h.creating = true
	}
	return h, nil
}

// Setattr implements fusefs.NodeSetattrer: truncate(0) from `echo key >
// keys/a.pub` is accepted and changes nothing (the key is replaced only by
// what is written). Modes, owners and times are accepted and ignored, so
// that `mv ~/bob.pub keys/` and `cp -p`, which copy them, work.
func (n *keyFile) Setattr(ctx context.Context, req *fuse.SetattrRequest, resp *fuse.SetattrResponse) error {
	if req.Valid.Size() && req.Size != 0 {
		return n.keys.fsys.refuse("truncate", "keys/"+n.alias+keySuffix, syscall.EINVAL, "only truncate(0) is accepted (and does nothing)")
	}
	return nil
}
