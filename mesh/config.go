package mesh

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"time"
)

// MaxPayload is the largest WHISPER or SHOUT payload a node sends or
// accepts: 64 KiB of message plus room for the crypto layer's envelope.
const MaxPayload = 66<<10 + 512

// Sizes and limits of the ZeroMQ side.
const (
	// maxFrameSize is ZMQ_MAXMSGSIZE on the ROUTER: a frame larger than this
	// makes libzmq drop the connection. It leaves room for the ZRE header
	// frame and for a HELLO listing many groups.
	maxFrameSize = MaxPayload + 4096
	// routerRcvHWM bounds, per connected peer, how many messages libzmq
	// buffers before the node reads them (so at most routerRcvHWM *
	// maxFrameSize bytes per connection).
	routerRcvHWM = 256
	// dealerSndHWM bounds, per peer, how many messages libzmq buffers for
	// sending.
	dealerSndHWM = 1000
	// maxPending bounds, per peer, the messages queued in the node beyond
	// libzmq's buffer (the DEALER returned EAGAIN); Whisper returns
	// ErrPeerBusy beyond it.
	maxPending = 1000
	// maxHeaderValue bounds the size of one of the node's own header values.
	maxHeaderValue = 4096
)

// Defaults for Config fields left zero.
const (
	DefaultBeaconInterval = time.Second
	DefaultEvasiveAfter   = 5 * time.Second
	DefaultExpireAfter    = 30 * time.Second
	DefaultMaxPeers       = 256
	DefaultEventQueue     = 256
)

// Rate limit on peers created from beacons and HELLOs (not static ones).
const (
	newPeerRate  = 16 // per second
	newPeerBurst = 64
)

// Config configures a Node. The zero value (plus a name) is a node that
// beacons on the first broadcast-capable interface with zyre's timers.
type Config struct {
	// Name is the node's ZRE name (at most 255 bytes); default: the first
	// 6 hex digits of its UUID.
	Name string
	// Headers are sent in the HELLO (keys at most 255 bytes, values at most
	// 4 KiB, at most 64 headers).
	Headers map[string]string
	// Bind is the IPv4 address to bind the ROUTER to, e.g. "127.0.0.1".
	// Default: the address of the beacon interface (Interface), or
	// 127.0.0.1 when beacons are off and no interface fits.
	Bind string
	// Port is the ROUTER's TCP port; 0 picks a free one at random in
	// 49152–65535.
	Port int
	// Interface selects the beacon interface by name or IPv4 address;
	// default: the first interface that is up, not loopback, not
	// point-to-point and broadcast-capable.
	Interface string
	// Beacon turns UDP discovery on. Never enable it in the machine's own
	// network namespace from tests.
	Beacon bool
	// BeaconPort is the UDP discovery port; default 5670.
	BeaconPort int
	// BeaconInterval is the time between beacons; default 1s.
	BeaconInterval time.Duration
	// EvasiveAfter is how long a peer may be silent before it is pinged
	// (on every timer tick while it stays silent); default 5s.
	EvasiveAfter time.Duration
	// ExpireAfter is how long a peer may be silent before it is removed
	// (EXIT); default 30s. It must exceed EvasiveAfter.
	ExpireAfter time.Duration
	// Peers are static endpoints (tcp://IPv4:port) to connect to and send
	// HELLO, for networks without broadcast and for tests. The node at such
	// an endpoint is found again if it restarts.
	Peers []string
	// MaxPeers caps the number of peers (known or ready); default 256.
	MaxPeers int
	// EventQueue is the capacity of the Events channel; default 256. Up to
	// EventQueue payloads of MaxPayload bytes can be buffered.
	EventQueue int
	// Logger receives the node's logs; default: discard.
	Logger *slog.Logger
}

// settings is a validated Config with defaults applied.
type settings struct {
	name           string
	headers        map[string]string
	bind           netip.Addr // zero: decide at Start
	port           int
	iface          string
	beacon         bool
	beaconPort     int
	beaconInterval time.Duration
	evasiveAfter   time.Duration
	expireAfter    time.Duration
	peers          []string
	maxPeers       int
	eventQueue     int
	log            *slog.Logger
}

// tick is how often the reactor checks peer timers: a fifth of the evasive
// time, between 10ms and 1s (zyre checks once a second).
func (s *settings) tick() time.Duration {
	return min(max(s.evasiveAfter/5, 10*time.Millisecond), time.Second)
}

// staticRetry is how long a static endpoint may stay without a ready peer
// before the node sends it a fresh HELLO on a new DEALER.
func (s *settings) staticRetry() time.Duration {
	return max(s.expireAfter/2, time.Second)
}

// staticExpire is how long a ready peer behind a static endpoint may stay
// silent, pings unanswered, before it is removed and its endpoint gets a
// fresh HELLO.
func (s *settings) staticExpire() time.Duration {
	return min(2*s.evasiveAfter, s.expireAfter)
}

func validateConfig(cfg Config, id UUID) (*settings, error) {
	s := &settings{
		name:           cfg.Name,
		headers:        maps.Clone(cfg.Headers),
		port:           cfg.Port,
		iface:          cfg.Interface,
		beacon:         cfg.Beacon,
		beaconPort:     cfg.BeaconPort,
		beaconInterval: cfg.BeaconInterval,
		evasiveAfter:   cfg.EvasiveAfter,
		expireAfter:    cfg.ExpireAfter,
		maxPeers:       cfg.MaxPeers,
		eventQueue:     cfg.EventQueue,
		log:            cfg.Logger,
	}
	if s.name == "" {
		s.name = id.Short()
	}
	if len(s.name) > maxShortString {
		return nil, fmt.Errorf("mesh: name longer than 255 bytes")
	}
	if s.headers == nil {
		s.headers = map[string]string{}
	}
	if len(s.headers) > maxHelloHeaders {
		return nil, fmt.Errorf("mesh: %d headers, at most %d", len(s.headers), maxHelloHeaders)
	}
	for k, v := range s.headers {
		if err := checkHeader(k, v); err != nil {
			return nil, err
		}
	}
	if cfg.Bind != "" {
		a, err := netip.ParseAddr(cfg.Bind)
		if err != nil || !a.Is4() || a.IsMulticast() || a.IsUnspecified() {
			return nil, fmt.Errorf("mesh: Bind %q: not an IPv4 unicast address", cfg.Bind)
		}
		s.bind = a
	}
	if s.port < 0 || s.port > 65535 {
		return nil, fmt.Errorf("mesh: Port %d out of range", s.port)
	}
	if s.beaconPort == 0 {
		s.beaconPort = DefaultBeaconPort
	}
	if s.beaconPort < 1 || s.beaconPort > 65535 {
		return nil, fmt.Errorf("mesh: BeaconPort %d out of range", s.beaconPort)
	}
	if s.beaconInterval <= 0 {
		s.beaconInterval = DefaultBeaconInterval
	}
	if s.evasiveAfter <= 0 {
		s.evasiveAfter = DefaultEvasiveAfter
	}
	if s.expireAfter <= 0 {
		s.expireAfter = DefaultExpireAfter
	}
	if s.expireAfter <= s.evasiveAfter {
		return nil, fmt.Errorf("mesh: ExpireAfter (%v) must exceed EvasiveAfter (%v)", s.expireAfter, s.evasiveAfter)
	}
	for _, ep := range cfg.Peers {
		if _, err := parseEndpoint(ep); err != nil {
			return nil, fmt.Errorf("mesh: static peer: %w", err)
		}
		s.peers = append(s.peers, ep)
	}
	if s.maxPeers <= 0 {
		s.maxPeers = DefaultMaxPeers
	}
	if s.eventQueue <= 0 {
		s.eventQueue = DefaultEventQueue
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func checkHeader(k, v string) error {
	if k == "" || len(k) > maxShortString {
		return fmt.Errorf("mesh: header key %q: must be 1..255 bytes", k)
	}
	if len(v) > maxHeaderValue {
		return fmt.Errorf("mesh: header %q: value longer than %d bytes", k, maxHeaderValue)
	}
	return nil
}
