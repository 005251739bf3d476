package fs

import (
	"context"
	"slices"
	"strings"
	"syscall"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// groupDir is a group: .all is the group log, every other file a member
// (the same conversation as the member's file in the root).
type groupDir struct {
	dir
}

var (
	_ fusefs.NodeRequestLookuper = (*groupDir)(nil)
	_ fusefs.HandleReadDirAller  = (*groupDir)(nil)
	_ fusefs.NodeCreater         = (*groupDir)(nil)
	_ fusefs.NodeRemover         = (*groupDir)(nil)
	_ fusefs.NodeRenamer         = (*groupDir)(nil)
)

func (g *groupDir) member(alias string) fusefs.Node {
	return g.kid(alias, func() fusefs.Node {
		return &convFile{fsys: g.fsys, where: alias, path: g.childPath(alias)}
	})
}

// Lookup implements fusefs.NodeRequestLookuper.
func (g *groupDir) Lookup(ctx context.Context, req *fuse.LookupRequest, resp *fuse.LookupResponse) (fusefs.Node, error) {
	noEntryCache(resp)
	members, err := g.fsys.b.GroupMembers(g.path)
	if err != nil {
		return nil, g.fsys.fail("lookup", g.childPath(req.Name), err)
	}
	if req.Name == allName {
		return g.kid(allName, func() fusefs.Node {
			return &convFile{fsys: g.fsys, where: g.path + "/" + allName, path: g.childPath(allName)}
		}), nil
	}
	if !strings.HasPrefix(req.Name, ".") && slices.Contains(members, req.Name) {
		return g.member(req.Name), nil
	}
	return nil, fuse.Errno(syscall.ENOENT)
}

// ReadDirAll implements fusefs.HandleReadDirAller.
func (g *groupDir) ReadDirAll(ctx context.Context) ([]fuse.Dirent, error) {
	members, err := g.fsys.b.GroupMembers(g.path)
	if err != nil {
		return nil, g.fsys.fail("readdir", g.path, err)
	}
	ents := []fuse.Dirent{dirent(allName, false)}
	for _, m := range members {
		ents = append(ents, dirent(m, false))
	}
	return ents, nil
}

// Create implements fusefs.NodeCreater: touch team/bob adds trusted peer
// bob to the group.
func (g *groupDir) Create(ctx context.Context, req *fuse.CreateRequest, resp *fuse.CreateResponse) (fusefs.Node, fusefs.Handle, error) {
	noEntryCache(&resp.LookupResponse)
	f := g.fsys
	path := g.childPath(req.Name)
	if strings.HasPrefix(req.Name, ".") {
		return nil, nil, f.refuse("create", path, syscall.EINVAL, "a member is a trusted alias")
	}
	if err := f.b.AddMember(g.path, req.Name); err != nil {
		return nil, nil, f.fail("add member", path, err)
	}
	f.dirChanged(g.path)
	resp.Flags |= logOpenFlags(req.Flags)
	n := g.member(req.Name)
	return n, n, nil
}

// Remove implements fusefs.NodeRemover: rm team/bob removes a member, rm
// team/.all deletes the group's history.
func (g *groupDir) Remove(ctx context.Context, req *fuse.RemoveRequest) error {
	f := g.fsys
	path := g.childPath(req.Name)
	if req.Name == allName {
		if err := f.b.DeleteHistory(path); err != nil {
			return f.fail("rm", path, err)
		}
		f.inval.log(path)
		return nil
	}
	if err := f.b.RemoveMember(g.path, req.Name); err != nil {
		return f.fail("remove member", path, err)
	}
	g.forget(req.Name)
	f.dirChanged(g.path)
	return nil
}

// Rename implements fusefs.NodeRenamer.
func (g *groupDir) Rename(ctx context.Context, req *fuse.RenameRequest, newDir fusefs.Node) error {
	return g.fsys.refuse("rename", g.childPath(req.OldName), syscall.EPERM,
		"group members cannot be renamed; rename the peer with mv keys/OLD.pub keys/NEW.pub")
}
