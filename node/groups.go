package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/store"
)

// Groups use Sender Keys: every member owns a sending chain per group and
// hands it to each other member over their pairwise channel. A group
// message is sealed once, shouted to the ZRE group, acknowledged pairwise
// by each member, and relayed pairwise to members that did not acknowledge
// it. Membership is taken only from authenticated pairwise messages.

const (
	// maxHeld bounds the group messages kept while their chain is unknown.
	maxHeld = 256
	// maxGroupMembers bounds a group's member list from the network.
	maxGroupMembers = 256
	// chainGrace is how long a superseded receiving chain is kept for
	// messages still in flight.
	chainGrace = time.Hour
	// maxGroupName bounds a group's name (an alias-like directory name).
	maxGroupName = 32
)

// everyoneID is the group id of the root .all: the group of all trusted
// peers. Every node uses the same id; who is in it differs per node.
var everyoneID = func() crypto.GroupID {
	sum := sha256.Sum256([]byte("messagefs everyone v1"))
	return crypto.GroupID(sum[:16])
}()

// group is the local state of one group.
type group struct {
	id       crypto.GroupID
	name     string // directory name; "" for everyone
	everyone bool
	members  map[crypto.PublicKey]bool // not self; unused for everyone

	sendMu      sync.Mutex          // serializes sends (chain advance)
	chain       *crypto.SenderChain // our sending chain, nil until first send
	chainAt     time.Time           // when chain was made
	distributed map[crypto.PublicKey]crypto.ChainID
	rotate      bool // rotate before the next send
}

// rchain is a receiving chain of another member.
type rchain struct {
	rc         *crypto.ReceiverChain
	superseded time.Time // zero while current
}

type heldMsg struct {
	msg   []byte
	relay bool
	at    time.Time
}

// groupRecord is a group's persistent state (encrypted at rest as a store
// secret).
type groupRecord struct {
	Name        string            `json:"name"`
	Members     []string          `json:"members"`
	Distributed map[string]string `json:"distributed"`
	Rotate      bool              `json:"rotate"`
	ChainAt     time.Time         `json:"chain_at"`
}

// membership is the body of a TypeMembership message.
type membership struct {
	Op      string   `json:"op"` // invite, add, remove, leave
	Group   string   `json:"group"`
	Name    string   `json:"name,omitempty"`
	Members []string `json:"members,omitempty"`
}

func groupConv(id crypto.GroupID) string { return "g:" + hex.EncodeToString(id[:]) }

// zreGroup is the ZRE group of a group id: derived, so names never travel.
func zreGroup(id crypto.GroupID) string {
	sum := sha256.Sum256(append([]byte("messagefs zre group v1"), id[:]...))
	return "mfs-" + hex.EncodeToString(sum[:8])
}

func (g *group) where() string {
	if g.everyone {
		return ".all"
	}
	return g.name + "/.all"
}

// isGroupLog reports whether where names a group log (".all", "team/.all").
func isGroupLog(where string) bool {
	return where == ".all" || strings.HasSuffix(where, "/.all")
}

// groupByWhereLocked returns the group of a group log name.
func (n *Node) groupByWhereLocked(where string) (*group, error) {
	if where == ".all" {
		return n.groups[everyoneID], nil
	}
	name, ok := strings.CutSuffix(where, "/.all")
	if !ok {
		return nil, fmt.Errorf("%w: no log %q", ErrNotFound, where)
	}
	return n.groupByNameLocked(name)
}

func (n *Node) groupByNameLocked(name string) (*group, error) {
	for _, g := range n.groups {
		if !g.everyone && g.name == name {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w: no group %q", ErrNotFound, name)
}

// resolveGroupLogLocked maps a group log name to its conversation id.
func (n *Node) resolveGroupLogLocked(where string) (string, error) {
	g, err := n.groupByWhereLocked(where)
	if err != nil {
		return "", err
	}
	return groupConv(g.id), nil
}

// isGroupNameLocked reports whether name is a group directory.
func (n *Node) isGroupNameLocked(name string) bool {
	_, err := n.groupByNameLocked(name)
	return err == nil
}

// membersLocked returns the keys a group message goes to: every trusted
// peer for everyone, the trusted members otherwise.
func (n *Node) membersLocked(g *group) []crypto.PublicKey {
	var out []crypto.PublicKey
	if g.everyone {
		for _, e := range n.keys.List() {
			out = append(out, e.Key)
		}
		return out
	}
	for k := range g.members {
		if _, ok := n.keys.ByKey(k); ok {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

// isMemberLocked reports whether key may speak in g.
func (n *Node) isMemberLocked(g *group, key crypto.PublicKey) bool {
	if _, trusted := n.keys.ByKey(key); !trusted {
		return false
	}
	return g.everyone || g.members[key]
}

// loadGroups reads groups and chains from the store at start.
func (n *Node) loadGroups() error {
	n.groups = map[crypto.GroupID]*group{everyoneID: {id: everyoneID, everyone: true, distributed: map[crypto.PublicKey]crypto.ChainID{}}}
	n.rchains = make(map[crypto.ChainID]*rchain)
	return n.db.View(func(tx *store.Tx) error {
		err := tx.Secrets("group/", func(name string, v []byte) error {
			id, err := parseGroupID(strings.TrimPrefix(name, "group/"))
			if err != nil {
				return nil
			}
			var rec groupRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				n.log.Warn("skipping an unreadable group record", "err", err)
				return nil
			}
			g := n.groups[id]
			if g == nil {
				g = &group{id: id, members: map[crypto.PublicKey]bool{}}
				n.groups[id] = g
			}
			g.name, g.rotate, g.chainAt = rec.Name, rec.Rotate, rec.ChainAt
			g.distributed = map[crypto.PublicKey]crypto.ChainID{}
			for _, m := range rec.Members {
				if k, err := keyFromHex(m); err == nil {
					g.members[k] = true
				}
			}
			for m, c := range rec.Distributed {
				k, err1 := keyFromHex(m)
				cb, err2 := hex.DecodeString(c)
				if err1 == nil && err2 == nil && len(cb) == len(crypto.ChainID{}) {
					g.distributed[k] = crypto.ChainID(cb)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Secrets("chain/", func(name string, v []byte) error {
			id, err := parseGroupID(strings.TrimPrefix(name, "chain/"))
			if err != nil || n.groups[id] == nil {
				return nil
			}
			c := new(crypto.SenderChain)
			if err := c.UnmarshalBinary(v); err != nil {
				n.log.Warn("skipping an unreadable sending chain", "err", err)
				return nil
			}
			n.groups[id].chain = c
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Secrets("rchain/", func(name string, v []byte) error {
			if len(v) < 8 {
				return nil
			}
			rc := new(crypto.ReceiverChain)
			if err := rc.UnmarshalBinary(v[8:]); err != nil {
				n.log.Warn("skipping an unreadable receiving chain", "err", err)
				return nil
			}
			var sup time.Time
			if ns := int64(binary.BigEndian.Uint64(v[:8])); ns != 0 {
				sup = time.Unix(0, ns)
			}
			n.rchains[rc.ID()] = &rchain{rc: rc, superseded: sup}
			return nil
		})
	})
}

func parseGroupID(s string) (crypto.GroupID, error) {
	var id crypto.GroupID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("bad group id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// joinZREGroups joins the ZRE group of every group we are in.
func (n *Node) joinZREGroups() {
	n.mu.Lock()
	var names []string
	for _, g := range n.groups {
		names = append(names, zreGroup(g.id))
	}
	n.mu.Unlock()
	for _, z := range names {
		if err := n.mesh.Join(z); err != nil {
			n.log.Warn("joining ZRE group", "group", z, "err", err)
		}
	}
}

// putGroupLocked persists g's record in tx. Called with n.mu held or
// g.sendMu held, on a snapshot.
func putGroupRecord(tx *store.Tx, id crypto.GroupID, rec groupRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.PutSecret("group/"+hex.EncodeToString(id[:]), v)
}

func (n *Node) recordLocked(g *group) groupRecord {
	rec := groupRecord{Name: g.name, Rotate: g.rotate, ChainAt: g.chainAt, Distributed: map[string]string{}}
	for k := range g.members {
		rec.Members = append(rec.Members, hex.EncodeToString(k[:]))
	}
	sort.Strings(rec.Members)
	for k, c := range g.distributed {
		rec.Distributed[hex.EncodeToString(k[:])] = hex.EncodeToString(c[:])
	}
	return rec
}

// saveGroup persists g.
func (n *Node) saveGroup(ctx context.Context, g *group) error {
	n.mu.Lock()
	rec := n.recordLocked(g)
	n.mu.Unlock()
	return n.db.Update(ctx, func(tx *store.Tx) error { return putGroupRecord(tx, g.id, rec) })
}
