package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/mesh"
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

// --- sending ---

// sendGroup sends text to a group log with our sending chain.
func (n *Node) sendGroup(ctx context.Context, where, text string) error {
	n.mu.Lock()
	g, err := n.groupByWhereLocked(where)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	g.sendMu.Lock()
	defer g.sendMu.Unlock()

	if err := n.prepareChain(ctx, g); err != nil {
		return err
	}
	n.mu.Lock()
	members := n.membersLocked(g)
	n.mu.Unlock()

	id, err := newID()
	if err != nil {
		return err
	}
	now := time.Now()
	plain := make([]byte, 0, 24+len(text))
	plain = append(plain, id[:]...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(now.UnixNano()))
	plain = append(plain, text...)

	conv := groupConv(g.id)
	entry := store.Entry{Time: now, From: fromMe, Text: []byte(text), ID: id}
	var (
		next  *crypto.SenderChain
		msg   []byte
		index uint64
	)
	err = n.db.Update(ctx, func(tx *store.Tx) error {
		c, err := cloneSender(g.chain)
		if err != nil {
			return err
		}
		m, err := c.Seal(rand.Reader, plain)
		if err != nil {
			return err
		}
		state, err := c.MarshalBinary()
		if err != nil {
			return err
		}
		if err := tx.PutSecret("chain/"+hex.EncodeToString(g.id[:]), state); err != nil {
			return err
		}
		if index, err = tx.Append(conv, entry); err != nil {
			return err
		}
		if len(members) > 0 {
			err = tx.PutOutbox(store.OutboxItem{
				ID: id, To: "g:" + hex.EncodeToString(g.id[:]), Conv: conv,
				Payload: encodeGroupOut(members, m), Created: now, Kind: uint8(crypto.TypeGroupRelay),
			})
			if err != nil {
				return err
			}
		}
		next, msg = c, m
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing group message: %w", err)
	}
	g.chain = next
	n.mu.Lock()
	if len(members) > 0 {
		n.outbox[id] = &outItem{
			id: id, group: g.id, isGroup: true, env: msg, created: now,
			remaining: setOf(members), nextTry: now.Add(2 * n.cfg.RetryMin),
		}
	}
	n.appendLocked(conv, index, entry)
	n.mu.Unlock()
	n.changed(Change{Where: where})
	n.emit("msg", where, fromMe, text)
	if len(members) > 0 {
		if err := n.mesh.Shout(zreGroup(g.id), msg); err != nil {
			n.log.Debug("shout failed; members get it by relay", "err", err)
		}
	}
	return nil
}

func setOf(keys []crypto.PublicKey) map[crypto.PublicKey]bool {
	m := make(map[crypto.PublicKey]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func cloneSender(c *crypto.SenderChain) (*crypto.SenderChain, error) {
	b, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := new(crypto.SenderChain)
	return out, out.UnmarshalBinary(b)
}

// prepareChain makes sure g has a current sending chain and that every
// member has been sent it. Called with g.sendMu held.
func (n *Node) prepareChain(ctx context.Context, g *group) error {
	now := time.Now()
	periodic := g.chain != nil && (g.chain.Iteration() >= n.cfg.RotateAfterMessages ||
		now.Sub(g.chainAt) >= n.cfg.RotateAfter) && now.Sub(g.chainAt) >= n.cfg.RotateMinInterval
	if g.chain == nil || g.rotate || periodic {
		c, err := crypto.NewSenderChain(rand.Reader, g.id, n.self)
		if err != nil {
			return err
		}
		state, err := c.MarshalBinary()
		if err != nil {
			return err
		}
		n.mu.Lock()
		g.rotate = false
		g.chainAt = now
		g.distributed = map[crypto.PublicKey]crypto.ChainID{}
		rec := n.recordLocked(g)
		n.mu.Unlock()
		err = n.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.PutSecret("chain/"+hex.EncodeToString(g.id[:]), state); err != nil {
				return err
			}
			return putGroupRecord(tx, g.id, rec)
		})
		if err != nil {
			return fmt.Errorf("storing a new sending chain: %w", err)
		}
		g.chain = c
		n.log.Info("rotated sending chain", "group", g.where())
	}
	n.mu.Lock()
	members := n.membersLocked(g)
	var todo []crypto.PublicKey
	for _, m := range members {
		if g.distributed[m] != g.chain.ID() {
			todo = append(todo, m)
		}
	}
	n.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	dist, err := g.chain.Distribution().MarshalBinary()
	if err != nil {
		return err
	}
	for _, m := range todo {
		pw, err := n.pairwise(m)
		if err != nil {
			return err
		}
		if _, err := n.enqueue(ctx, pw, crypto.TypeSenderKey, dist, nil, "", ""); err != nil {
			return err
		}
		n.mu.Lock()
		g.distributed[m] = g.chain.ID()
		n.mu.Unlock()
	}
	return n.saveGroup(ctx, g)
}

// encodeGroupOut stores the members still to acknowledge with the group
// message, as one outbox payload.
func encodeGroupOut(remaining []crypto.PublicKey, msg []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(remaining)))
	for _, k := range remaining {
		out = append(out, k[:]...)
	}
	return append(out, msg...)
}

func decodeGroupOut(p []byte) ([]crypto.PublicKey, []byte, error) {
	if len(p) < 2 {
		return nil, nil, errors.New("short group outbox item")
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if len(p) < n*crypto.KeySize {
		return nil, nil, errors.New("truncated group outbox item")
	}
	keys := make([]crypto.PublicKey, n)
	for i := range keys {
		copy(keys[i][:], p[i*crypto.KeySize:])
	}
	return keys, p[n*crypto.KeySize:], nil
}

// groupAcked records that member acknowledged group message id.
func (n *Node) groupAcked(ctx context.Context, it *outItem, member crypto.PublicKey) {
	n.mu.Lock()
	if !it.remaining[member] {
		n.mu.Unlock()
		return
	}
	delete(it.remaining, member)
	var rest []crypto.PublicKey
	for k := range it.remaining {
		rest = append(rest, k)
	}
	n.mu.Unlock()
	sort.Slice(rest, func(i, j int) bool { return string(rest[i][:]) < string(rest[j][:]) })
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		if len(rest) == 0 {
			return tx.DeleteOutbox(it.id)
		}
		item, ok, err := tx.GetOutbox(it.id)
		if err != nil || !ok {
			return err
		}
		item.Payload = encodeGroupOut(rest, it.env)
		return tx.UpdateOutbox(item)
	})
	if err != nil {
		n.log.Warn("recording a group acknowledgement", "err", err)
		return
	}
	if len(rest) == 0 {
		n.mu.Lock()
		delete(n.outbox, it.id)
		n.mu.Unlock()
		n.emit("delivered", it.id.String())
	}
}

// --- receiving ---

// receiveShout handles a group message shouted to a ZRE group.
func (n *Node) receiveShout(ctx context.Context, from mesh.UUID, zgroup string, payload []byte) {
	n.receiveGroupMessage(ctx, payload, false)
}

// receiveGroupMessage opens a group message (shouted, or relayed pairwise)
// with the sender's chain, stores it once and acknowledges it pairwise to
// its owner.
func (n *Node) receiveGroupMessage(ctx context.Context, msg []byte, relay bool) {
	h, err := crypto.ParseGroupHeader(msg)
	if err != nil {
		n.warn("malformed", "dropped a malformed group message", "err", err)
		return
	}
	n.mu.Lock()
	g := n.groups[h.Group]
	rc := n.rchains[h.Chain]
	if g == nil {
		n.mu.Unlock()
		return // a group we are not in: ciphertext for others
	}
	if rc == nil {
		n.holdLocked(msg, relay)
		n.mu.Unlock()
		return
	}
	owner := rc.rc.Owner()
	member := n.isMemberLocked(g, owner)
	alias := n.displayNameLocked(owner)
	n.mu.Unlock()
	if rc.rc.Group() != h.Group {
		n.warn("forged", "group message names another group than its chain", "group", g.where())
		return
	}
	if !member {
		n.warn("forged", fmt.Sprintf("group message in %s from %s, who is not a member", g.where(), alias))
		return
	}
	c, err := cloneReceiver(rc.rc)
	if err != nil {
		n.log.Error("copying a receiving chain", "err", err)
		return
	}
	plain, err := c.Open(msg)
	if errors.Is(err, crypto.ErrReplay) {
		if relay {
			return // receiveRelay acknowledged it again
		}
		n.warn("replay", fmt.Sprintf("refused a replayed group message in %s from %s", g.where(), alias))
		return
	}
	if err != nil {
		n.warn("forged", fmt.Sprintf("refused a group message in %s claiming to be from %s", g.where(), alias), "err", err)
		return
	}
	if len(plain) < 24 {
		n.warn("malformed", "group message too short from "+alias)
		return
	}
	id := crypto.MessageID(plain[:16])
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(plain[16:24])))
	text := plain[24:]
	if now := time.Now(); sent.After(now.Add(maxClockSkew)) || sent.Before(time.Unix(0, 0)) {
		sent = now
	}
	conv := groupConv(g.id)
	entry := store.Entry{Time: sent, From: alias, Text: text, ID: id}
	state, err := marshalRChain(c, time.Time{})
	if err != nil {
		n.log.Error("saving a receiving chain", "err", err)
		return
	}
	var index uint64
	err = n.db.Update(ctx, func(tx *store.Tx) error {
		index = 0
		if err := tx.PutSecret("rchain/"+hex.EncodeToString(h.Chain[:]), state); err != nil {
			return err
		}
		if tx.HasID(conv, id) {
			return nil
		}
		var err error
		index, err = tx.Append(conv, entry)
		return err
	})
	if err != nil {
		n.log.Error("storing a group message; it will be relayed again", "err", err)
		return
	}
	n.mu.Lock()
	rc.rc = c
	if index > 0 {
		n.appendLocked(conv, index, entry)
	}
	n.mu.Unlock()
	if index > 0 {
		n.changed(Change{Where: g.where()})
		n.emit("msg", g.where(), alias, string(text))
	}
	if pw, err := n.pairwise(owner); err == nil {
		n.sendAck(pw, id)
	}
}

func cloneReceiver(r *crypto.ReceiverChain) (*crypto.ReceiverChain, error) {
	b, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := new(crypto.ReceiverChain)
	return out, out.UnmarshalBinary(b)
}

func marshalRChain(r *crypto.ReceiverChain, superseded time.Time) ([]byte, error) {
	b, err := r.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var ns int64
	if !superseded.IsZero() {
		ns = superseded.UnixNano()
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(ns)), b...), nil
}

// holdLocked keeps a group message whose chain is not known yet. It is
// not acknowledged, so the owner relays it if it is dropped here.
func (n *Node) holdLocked(msg []byte, relay bool) {
	if len(n.held) >= maxHeld {
		n.held = n.held[1:]
	}
	n.held = append(n.held, heldMsg{msg: append([]byte(nil), msg...), relay: relay, at: time.Now()})
}

// releaseHeld reopens held messages of chain id.
func (n *Node) releaseHeld(ctx context.Context, id crypto.ChainID) {
	n.mu.Lock()
	var ready []heldMsg
	kept := n.held[:0]
	for _, h := range n.held {
		gh, err := crypto.ParseGroupHeader(h.msg)
		if err == nil && gh.Chain == id {
			ready = append(ready, h)
		} else {
			kept = append(kept, h)
		}
	}
	n.held = kept
	n.mu.Unlock()
	for _, h := range ready {
		n.receiveGroupMessage(ctx, h.msg, h.relay)
	}
}

// receiveRelay handles a group message relayed pairwise by its owner.
func (n *Node) receiveRelay(ctx context.Context, pw *crypto.Pairwise, h crypto.Header, body []byte) {
	gh, err := crypto.ParseGroupHeader(body)
	if err != nil {
		n.warn("malformed", "dropped a malformed relayed group message", "err", err)
		return
	}
	n.mu.Lock()
	rc := n.rchains[gh.Chain]
	n.mu.Unlock()
	if rc != nil && rc.rc.Owner() != pw.Peer() {
		n.warn("forged", "a peer relayed a group message of another member's chain")
		return
	}
	if rc != nil {
		c, err := cloneReceiver(rc.rc)
		if err == nil {
			if _, err := c.Open(body); errors.Is(err, crypto.ErrReplay) {
				// Already stored: our acknowledgement was lost.
				n.sendAck(pw, h.ID)
				return
			}
		}
	}
	n.receiveGroupMessage(ctx, body, true)
}

// --- membership and keys over pairwise channels ---

// receiveControl applies a numbered control message (membership, sender
// key) exactly once, in order, like a text message.
func (n *Node) receiveControl(ctx context.Context, pw *crypto.Pairwise, alias string, h crypto.Header, body []byte) {
	switch h.Type {
	case crypto.TypeGroupRelay:
		n.receiveRelay(ctx, pw, h, body)
	case crypto.TypeSenderKey:
		var after func()
		n.receiveSequenced(ctx, pw, alias, h, func(tx *store.Tx) error {
			var err error
			after, err = n.applySenderKey(tx, pw.Peer(), alias, body)
			return err
		}, func() {
			if after != nil {
				after()
			}
		})
	case crypto.TypeMembership:
		var after func()
		n.receiveSequenced(ctx, pw, alias, h, func(tx *store.Tx) error {
			var err error
			after, err = n.applyMembership(tx, pw.Peer(), alias, body)
			return err
		}, func() {
			if after != nil {
				after()
			}
		})
	default:
		n.log.Debug("ignoring a message of unknown type", "from", alias, "type", h.Type)
	}
}

// applySenderKey stores another member's chain. A chain we already have
// is kept as it is (a duplicate must not reset what was consumed).
func (n *Node) applySenderKey(tx *store.Tx, from crypto.PublicKey, alias string, body []byte) (func(), error) {
	d, err := crypto.ParseSenderKeyDistribution(body)
	if err != nil {
		n.warn("malformed", "bad sender key from "+alias, "err", err)
		return nil, nil
	}
	if err := d.Verify(from); err != nil {
		n.warn("forged", "sender key from "+alias+" is not its own", "err", err)
		return nil, nil
	}
	n.mu.Lock()
	g := n.groups[d.Group]
	_, have := n.rchains[d.Chain]
	member := g != nil && n.isMemberLocked(g, from)
	n.mu.Unlock()
	if have {
		return nil, nil
	}
	if !member {
		n.log.Debug("ignoring a sender key for a group the sender is not in with us", "from", alias)
		return nil, nil
	}
	rc, err := crypto.NewReceiverChain(d, crypto.ReceiverOptions{})
	if err != nil {
		n.warn("malformed", "bad sender key from "+alias, "err", err)
		return nil, nil
	}
	state, err := marshalRChain(rc, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := tx.PutSecret("rchain/"+hex.EncodeToString(d.Chain[:]), state); err != nil {
		return nil, err
	}
	return func() {
		n.mu.Lock()
		n.rchains[d.Chain] = &rchain{rc: rc}
		n.mu.Unlock()
		n.supersede(from, d.Group, d.Chain)
		n.releaseHeld(context.Background(), d.Chain)
	}, nil
}

// supersede marks the older chains of owner in group as superseded: they
// still open messages in flight for chainGrace, then purgeChains deletes
// them.
func (n *Node) supersede(owner crypto.PublicKey, group crypto.GroupID, current crypto.ChainID) {
	now := time.Now()
	states := make(map[crypto.ChainID][]byte)
	n.mu.Lock()
	for id, old := range n.rchains {
		if id == current || old.rc.Owner() != owner || old.rc.Group() != group || !old.superseded.IsZero() {
			continue
		}
		old.superseded = now
		if b, err := marshalRChain(old.rc, now); err == nil {
			states[id] = b
		}
	}
	n.mu.Unlock()
	if len(states) == 0 {
		return
	}
	err := n.db.Update(context.Background(), func(tx *store.Tx) error {
		for id, b := range states {
			if err := tx.PutSecret("rchain/"+hex.EncodeToString(id[:]), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("marking superseded chains", "err", err)
	}
}

// purgeChains deletes receiving chains superseded more than chainGrace ago
// and receiving chains of groups we are no longer in.
func (n *Node) purgeChains(ctx context.Context) {
	now := time.Now()
	var dead []crypto.ChainID
	n.mu.Lock()
	for id, rc := range n.rchains {
		if (!rc.superseded.IsZero() && now.Sub(rc.superseded) > chainGrace) || n.groups[rc.rc.Group()] == nil {
			dead = append(dead, id)
		}
	}
	n.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		for _, id := range dead {
			if err := tx.DeleteSecret("rchain/" + hex.EncodeToString(id[:])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("deleting old receiving chains", "err", err)
		return
	}
	n.mu.Lock()
	for _, id := range dead {
		delete(n.rchains, id)
	}
	n.mu.Unlock()
	// bbolt keeps freed pages: rewrite the file so the old chain keys are
	// really gone (forward secrecy for the group messages they opened).
	if err := n.db.Compact(ctx); err != nil {
		n.log.Warn("compacting after deleting old chains", "err", err)
	}
}

// applyMembership applies a membership message from a trusted peer.
func (n *Node) applyMembership(tx *store.Tx, from crypto.PublicKey, alias string, body []byte) (func(), error) {
	var m membership
	if len(body) > 64<<10 || json.Unmarshal(body, &m) != nil || len(m.Members) > maxGroupMembers {
		n.warn("malformed", "bad membership message from "+alias)
		return nil, nil
	}
	id, err := parseGroupID(m.Group)
	if err != nil || id == everyoneID {
		n.warn("malformed", "membership message with a bad group id from "+alias)
		return nil, nil
	}
	var keys []crypto.PublicKey
	for _, s := range m.Members {
		k, err := keyFromHex(s)
		if err != nil || crypto.CheckPublic(k) != nil {
			n.warn("malformed", "membership message with a bad key from "+alias)
			return nil, nil
		}
		keys = append(keys, k)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	g := n.groups[id]
	if g == nil {
		if m.Op != "invite" {
			return nil, nil
		}
		return n.acceptInviteLocked(tx, id, from, alias, m.Name, keys)
	}
	if !g.members[from] {
		n.warn("forged", fmt.Sprintf("%s sent a membership change for %s without being a member", alias, g.name))
		return nil, nil
	}
	var events [][]string
	switch m.Op {
	case "invite", "add":
		for _, k := range keys {
			if k != n.self && !g.members[k] {
				g.members[k] = true
				events = append(events, []string{"join", g.name, n.displayNameLocked(k)})
			}
		}
	case "remove":
		for _, k := range keys {
			if k == n.self {
				return n.removedLocked(tx, g, alias)
			}
			if g.members[k] {
				delete(g.members, k)
				g.rotate = true
				events = append(events, []string{"leave", g.name, n.displayNameLocked(k)})
			}
		}
	case "leave":
		delete(g.members, from)
		g.rotate = true
		events = append(events, []string{"leave", g.name, alias})
	default:
		return nil, nil
	}
	if err := putGroupRecord(tx, g.id, n.recordLocked(g)); err != nil {
		return nil, err
	}
	name := g.name
	return func() {
		for _, e := range events {
			n.emit(e[0], e[1:]...)
		}
		n.changed(Change{Dir: name})
	}, nil
}

// acceptInviteLocked creates a group we were invited to by a trusted peer.
func (n *Node) acceptInviteLocked(tx *store.Tx, id crypto.GroupID, from crypto.PublicKey, alias, name string, keys []crypto.PublicKey) (func(), error) {
	local := n.freeGroupNameLocked(name)
	g := &group{id: id, name: local, members: map[crypto.PublicKey]bool{from: true}, distributed: map[crypto.PublicKey]crypto.ChainID{}}
	for _, k := range keys {
		if k != n.self {
			g.members[k] = true
		}
	}
	if err := putGroupRecord(tx, id, n.recordLocked(g)); err != nil {
		return nil, err
	}
	n.groups[id] = g
	return func() {
		if err := n.mesh.Join(zreGroup(id)); err != nil {
			n.log.Warn("joining ZRE group", "err", err)
		}
		n.emit("invite", local, alias)
		n.changed(Change{Dir: ""})
	}, nil
}

// removedLocked forgets a group we were removed from.
func (n *Node) removedLocked(tx *store.Tx, g *group, by string) (func(), error) {
	if err := n.deleteGroupTx(tx, g); err != nil {
		return nil, err
	}
	delete(n.groups, g.id)
	name := g.name
	return func() {
		_ = n.mesh.Leave(zreGroup(g.id))
		n.emit("leave", name, fromMe)
		n.changed(Change{Dir: ""})
		n.log.Info("removed from group", "group", name, "by", by)
	}, nil
}

func (n *Node) deleteGroupTx(tx *store.Tx, g *group) error {
	hid := hex.EncodeToString(g.id[:])
	if err := tx.DeleteSecret("group/" + hid); err != nil {
		return err
	}
	if err := tx.DeleteSecret("chain/" + hid); err != nil {
		return err
	}
	return tx.DeleteConversation(groupConv(g.id))
}

// freeGroupNameLocked returns name, or name-2, name-3... if it is taken by
// an alias or another group.
func (n *Node) freeGroupNameLocked(name string) string {
	if keyring.ValidAlias(name) != nil {
		name = "group"
	}
	base := name
	for i := 2; ; i++ {
		_, alias := n.keys.Lookup(name)
		if !alias && !n.isGroupNameLocked(name) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
		if len(name) > maxGroupName {
			name = fmt.Sprintf("group-%d", i)
		}
	}
}

// receiveSequenced applies a numbered message exactly once and in order:
// apply runs in the transaction that records the sequence number, after
// runs once it committed. Retransmissions are acknowledged again; a gap is
// dropped unacknowledged (the sender retries in order).
func (n *Node) receiveSequenced(ctx context.Context, pw *crypto.Pairwise, alias string, h crypto.Header, apply func(tx *store.Tx) error, after func()) {
	key := pw.Peer()
	keyHex := hex.EncodeToString(key[:])
	var verdict crypto.SeqVerdict
	err := n.db.Update(ctx, func(tx *store.Tx) error {
		verdict = crypto.CheckSeq(tx.DeliveredSeq(keyHex), h.Seq)
		if verdict != crypto.SeqNew {
			return nil
		}
		if err := apply(tx); err != nil {
			return err
		}
		return tx.SetDeliveredSeq(keyHex, h.Seq)
	})
	if err != nil {
		n.log.Error("storing a received message; the sender will retry", "from", alias, "err", err)
		return
	}
	switch verdict {
	case crypto.SeqGap:
		n.log.Debug("message after a gap; waiting for the missing ones", "from", alias, "seq", h.Seq)
		return
	case crypto.SeqNew:
		after()
	}
	n.sendAck(pw, h.ID)
}

// sendMembership sends a membership message to each of to.
func (n *Node) sendMembership(ctx context.Context, to []crypto.PublicKey, m membership) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	for _, k := range to {
		pw, err := n.pairwise(k)
		if err != nil {
			return err
		}
		if _, err := n.enqueue(ctx, pw, crypto.TypeMembership, body, nil, "", ""); err != nil {
			return err
		}
	}
	return nil
}

func hexKeys(keys []crypto.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = hex.EncodeToString(k[:])
	}
	return out
}

// onRevoked removes a revoked key from every group; each group rotates
// its chain before the next send.
func (n *Node) onRevoked(key crypto.PublicKey) {
	n.mu.Lock()
	var changed []*group
	for _, g := range n.groups {
		if g.everyone || g.members[key] {
			delete(g.members, key)
			g.rotate = true
			changed = append(changed, g)
		}
	}
	n.mu.Unlock()
	for _, g := range changed {
		if err := n.saveGroup(context.Background(), g); err != nil {
			n.log.Warn("saving group after a revoke", "err", err)
		}
	}
}

// --- local operations (fs.Backend) ---

// Groups returns the names of the groups this node is a member of.
func (n *Node) Groups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, g := range n.groups {
		if !g.everyone {
			out = append(out, g.name)
		}
	}
	sort.Strings(out)
	return out
}

// GroupMembers returns the aliases of a group's trusted members.
func (n *Node) GroupMembers(name string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range g.members {
		if e, ok := n.keys.ByKey(k); ok {
			out = append(out, e.Alias)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CreateGroup creates a group with this node as its only member.
func (n *Node) CreateGroup(name string) error {
	if err := keyring.ValidAlias(name); err != nil {
		return fmt.Errorf("%w: group name: %w", ErrInvalid, err)
	}
	n.mu.Lock()
	if _, ok := n.keys.Lookup(name); ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q is a trusted peer's alias", ErrExists, name)
	}
	if n.isGroupNameLocked(name) {
		n.mu.Unlock()
		return fmt.Errorf("%w: group %q exists", ErrExists, name)
	}
	var id crypto.GroupID
	if _, err := rand.Read(id[:]); err != nil {
		n.mu.Unlock()
		return err
	}
	g := &group{id: id, name: name, members: map[crypto.PublicKey]bool{}, distributed: map[crypto.PublicKey]crypto.ChainID{}}
	rec := n.recordLocked(g)
	n.mu.Unlock()
	if err := n.db.Update(context.Background(), func(tx *store.Tx) error { return putGroupRecord(tx, id, rec) }); err != nil {
		return fmt.Errorf("creating group: %w", err)
	}
	n.mu.Lock()
	n.groups[id] = g
	n.mu.Unlock()
	if err := n.mesh.Join(zreGroup(id)); err != nil {
		n.log.Warn("joining ZRE group", "err", err)
	}
	n.changed(Change{Dir: ""})
	return nil
}

// AddMember adds trusted peer alias to a group: the other members are
// told, and the new member gets an invitation with the member list.
func (n *Node) AddMember(name, alias string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	e, ok := n.keys.Lookup(alias)
	if !ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q is not a trusted peer: add its key to keys/ first", ErrNotFound, alias)
	}
	if g.members[e.Key] {
		n.mu.Unlock()
		return nil
	}
	others := n.membersLocked(g)
	g.members[e.Key] = true
	all := append(append([]crypto.PublicKey{}, others...), n.self)
	n.mu.Unlock()
	if err := n.saveGroup(ctx, g); err != nil {
		return err
	}
	gid := hex.EncodeToString(g.id[:])
	if err := n.sendMembership(ctx, others, membership{Op: "add", Group: gid, Members: hexKeys([]crypto.PublicKey{e.Key})}); err != nil {
		return err
	}
	if err := n.sendMembership(ctx, []crypto.PublicKey{e.Key}, membership{Op: "invite", Group: gid, Name: name, Members: hexKeys(all)}); err != nil {
		return err
	}
	n.emit("join", name, alias)
	n.changed(Change{Dir: name})
	return nil
}

// RemoveMember removes alias from a group. Everyone left is told, so is
// the removed member, and our chain is rotated before the next send.
func (n *Node) RemoveMember(name, alias string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	e, ok := n.keys.Lookup(alias)
	if !ok || !g.members[e.Key] {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q is not a member of %s", ErrNotFound, alias, name)
	}
	delete(g.members, e.Key)
	g.rotate = true
	rest := n.membersLocked(g)
	n.mu.Unlock()
	if err := n.saveGroup(ctx, g); err != nil {
		return err
	}
	gid := hex.EncodeToString(g.id[:])
	to := append(rest, e.Key)
	if err := n.sendMembership(ctx, to, membership{Op: "remove", Group: gid, Members: hexKeys([]crypto.PublicKey{e.Key})}); err != nil {
		return err
	}
	n.emit("leave", name, alias)
	n.changed(Change{Dir: name})
	return nil
}

// LeaveGroup leaves a group: the members are told, and its history and
// keys are deleted here.
func (n *Node) LeaveGroup(name string) error {
	ctx := context.Background()
	n.mu.Lock()
	g, err := n.groupByNameLocked(name)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	members := n.membersLocked(g)
	n.mu.Unlock()
	if err := n.sendMembership(ctx, members, membership{Op: "leave", Group: hex.EncodeToString(g.id[:])}); err != nil {
		return err
	}
	if err := n.db.Update(ctx, func(tx *store.Tx) error { return n.deleteGroupTx(tx, g) }); err != nil {
		return fmt.Errorf("leaving group: %w", err)
	}
	n.mu.Lock()
	delete(n.groups, g.id)
	n.dropLogLocked(groupConv(g.id))
	n.mu.Unlock()
	_ = n.mesh.Leave(zreGroup(g.id))
	n.emit("leave", name, fromMe)
	n.changed(Change{Dir: ""})
	return nil
}
