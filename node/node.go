// Package node is the messaging engine of messagefs: it is the only place
// where keys (crypto, keyring), sockets (mesh) and storage (store) meet.
//
// A Node tracks peers by their X25519 key. ZRE UUIDs, names and HELLO
// headers are transport hints: a peer's UUID is bound to its key only after
// a message authenticated with that key arrives from it. Pairwise messages
// are sealed per direction, numbered, committed to the store (history and
// outbox in one transaction) before Send returns, acknowledged by the
// receiver and retried with backoff until they are.
//
// Node implements fs.Backend, the view the FUSE tree needs.
package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/mesh"
	"github.com/messagefs/messagefs/store"
)

// Header names announced in the ZRE HELLO.
const (
	HeaderKey    = "X-MFS-KEY"
	HeaderProto  = "X-MFS-PROTO"
	protoVersion = "1"
)

// maxBatch bounds how many mesh events are handled (and committed) together.
const maxBatch = 256

// Config configures a Node.
type Config struct {
	// Identity is the node's own X25519 identity.
	Identity crypto.PrivateKey
	// StateDir holds the database and the keyring.
	StateDir string
	// Name is the ZRE node name (default: the mesh's UUID prefix).
	Name string
	// Bind is the IPv4 address the ZRE inbox binds to ("" lets mesh
	// choose the beacon interface's address).
	Bind string
	// Port is the ZRE inbox port (0 = ephemeral).
	Port int
	// Interface selects the beacon interface.
	Interface string
	// Beacon enables UDP beacon discovery. Never enable it in the
	// machine's own network namespace in tests.
	Beacon bool
	// Peers are static endpoints (tcp://IPv4:port) to connect to.
	Peers []string
	// RetryMin and RetryMax bound the outbox backoff (defaults 1s, 30s).
	RetryMin, RetryMax time.Duration
	// UndeliverableAfter is the number of attempts to a present peer
	// after which a warn undeliverable event is shown once (default 8).
	UndeliverableAfter int
	// RotateAfter and RotateAfterMessages bound the life of a group
	// sending chain (defaults 24h and 1000 messages).
	RotateAfter         time.Duration
	RotateAfterMessages uint32
	// RotateMinInterval rate-limits those periodic rotations (default 1
	// minute; negative means no limit). Rotations after a member left,
	// was removed or revoked always happen before the next send.
	RotateMinInterval time.Duration
	// EventQueue is the per-reader queue length of .events (default 1024).
	EventQueue int
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
}

// Node is a running messagefs engine. Create it with New, start it with
// Run, and stop it by cancelling Run's context.
type Node struct {
	cfg    Config
	log    *slog.Logger
	self   crypto.PublicKey
	keys   *keyring.Keyring
	db     *store.Store
	mesh   *mesh.Node
	events *EventHub
	kick   chan struct{} // wakes the outbox loop

	mu       sync.Mutex
	peers    map[crypto.PublicKey]*peer // every key we heard of, trusted or not
	byUUID   map[mesh.UUID]crypto.PublicKey
	pending  *keyring.Pending
	outbox   *outbox
	logs     map[string]*logCache // by conversation id
	groups   map[crypto.GroupID]*group
	rchains  map[crypto.ChainID]*rchain
	held     []heldMsg
	watchers []func(Change)
	closed   bool

	changes chan Change // to the watcher goroutine
	started time.Time
}

// New opens the state directory (database and keyring) and prepares the
// mesh node. It does not touch the network until Run.
func New(cfg Config) (*Node, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("node: no state directory given")
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.UndeliverableAfter <= 0 {
		cfg.UndeliverableAfter = 8
	}
	if cfg.RotateAfter <= 0 {
		cfg.RotateAfter = 24 * time.Hour
	}
	if cfg.RotateAfterMessages == 0 {
		cfg.RotateAfterMessages = 1000
	}
	if cfg.RotateMinInterval == 0 {
		cfg.RotateMinInterval = time.Minute
	}
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: creating state directory: %w", err)
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		self:    cfg.Identity.Public(),
		kick:    make(chan struct{}, 1),
		peers:   make(map[crypto.PublicKey]*peer),
		byUUID:  make(map[mesh.UUID]crypto.PublicKey),
		pending: keyring.NewPending(keyring.DefaultPendingMax),
		outbox:  newOutbox(),
		logs:    make(map[string]*logCache),
		changes: make(chan Change, 256),
		started: time.Now(),
	}
	n.events = NewEventHub(cfg.EventQueue, func(lost int) string {
		return eventLine(time.Now(), "warn", "overflow", fmt.Sprintf("%d events lost: this reader fell behind", lost))
	})

	keys, err := keyring.Open(filepath.Join(cfg.StateDir, "keys"), keyring.WithLogger(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("node: opening keyring: %w", err)
	}
	n.keys = keys

	ageID, err := age.ParseX25519Identity(cfg.Identity.String())
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.StateDir, "messagefs.db"), ageID, store.Options{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("node: opening database: %w", err)
	}
	n.db = db
	if err := n.loadGroups(); err != nil {
		db.Close()
		return nil, fmt.Errorf("node: loading groups: %w", err)
	}
	if err := n.loadOutbox(); err != nil {
		db.Close()
		return nil, err
	}

	m, err := mesh.New(mesh.Config{
		Name:      cfg.Name,
		Headers:   map[string]string{HeaderKey: n.self.String(), HeaderProto: protoVersion},
		Bind:      cfg.Bind,
		Port:      cfg.Port,
		Interface: cfg.Interface,
		Beacon:    cfg.Beacon,
		Peers:     cfg.Peers,
		Logger:    cfg.Logger.With("component", "mesh"),
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.mesh = m
	return n, nil
}

// Run starts the mesh and serves until ctx is done, then shuts down: the
// event stream ends, the mesh says goodbye and the database is closed.
func (n *Node) Run(ctx context.Context) error {
	if err := n.mesh.Start(ctx); err != nil {
		n.shutdown()
		return fmt.Errorf("node: starting mesh: %w", err)
	}
	n.joinZREGroups()
	n.log.Info("node running", "uuid", n.mesh.UUID().String(), "endpoint", n.mesh.Endpoint(), "key", n.self.String())

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.outboxLoop(ctx) }()
	go func() { defer wg.Done(); n.watchLoop(ctx) }()

	events := n.mesh.Events()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			// Take what else is queued, so a burst shares one commit.
			batch := []mesh.Event{ev}
		drain:
			for len(batch) < maxBatch {
				select {
				case ev, ok := <-events:
					if !ok {
						break drain
					}
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			n.handleMesh(ctx, batch)
		}
	}
	wg.Wait()
	n.shutdown()
	return nil
}

// Endpoint returns the ZRE endpoint the node listens on.
func (n *Node) Endpoint() string { return n.mesh.Endpoint() }

// UUID returns the node's ZRE UUID for this run.
func (n *Node) UUID() mesh.UUID { return n.mesh.UUID() }

func (n *Node) shutdown() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.events.Close()
	if err := n.mesh.Stop(); err != nil {
		n.log.Warn("stopping mesh", "err", err)
	}
	if err := n.db.Close(); err != nil {
		n.log.Warn("closing database", "err", err)
	}
}

// SelfRecipient returns the node's own age1... recipient.
func (n *Node) SelfRecipient() string { return n.self.String() }

// Subscribe opens a live event stream.
func (n *Node) Subscribe() *Subscription { return n.events.Subscribe() }

// OnChange registers f to be told what changed, for cache invalidation.
func (n *Node) OnChange(f func(Change)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.watchers = append(n.watchers, f)
}

// changed queues a change notification; it never blocks the caller. The
// watcher goroutine calls the registered functions without holding n.mu.
func (n *Node) changed(c Change) {
	select {
	case n.changes <- c:
	default:
		n.log.Debug("change queue full; dropping invalidation", "where", c.Where, "dir", c.Dir)
	}
}

func (n *Node) watchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-n.changes:
			n.mu.Lock()
			ws := append([]func(Change){}, n.watchers...)
			n.mu.Unlock()
			for _, f := range ws {
				f(c)
			}
		}
	}
}

// emit publishes one event line.
func (n *Node) emit(kind string, fields ...string) {
	n.events.Publish(eventLine(time.Now(), kind, fields...))
}

// warn publishes a warn event and logs it.
func (n *Node) warn(kind, detail string, attrs ...any) {
	n.log.Warn(detail, append([]any{"kind", kind}, attrs...)...)
	n.emit("warn", kind, detail)
}

// newID returns a fresh random message id.
func newID() (crypto.MessageID, error) { return crypto.NewMessageID(rand.Reader) }
