package mesh

import "fmt"

// EventType says what an Event reports.
type EventType uint8

// Event types. ENTER, EXIT, JOIN and LEAVE are membership events and are
// never lost; WHISPER, SHOUT and EVASIVE are data events and are dropped,
// with an EventOverflow, when the consumer falls behind (see Node.Events).
const (
	// EventEnter: a peer's HELLO arrived; Name, Headers and Endpoint are
	// set. JOIN events for the groups listed in its HELLO follow.
	EventEnter EventType = iota + 1
	// EventExit: a peer left (port-0 beacon, GOODBYE, expiry, a sequence
	// gap, a new HELLO, or another node taking over its endpoint). No LEAVE
	// events are emitted for its groups.
	EventExit
	// EventJoin: a peer joined Group.
	EventJoin
	// EventLeave: a peer left Group.
	EventLeave
	// EventWhisper: a peer sent Payload to this node.
	EventWhisper
	// EventShout: a peer sent Payload to Group.
	EventShout
	// EventEvasive: a ready peer has been silent for Config.EvasiveAfter; it
	// is being pinged. Emitted once each time a peer turns evasive.
	EventEvasive
	// EventOverflow: the consumer fell behind and Dropped data events
	// (WHISPER, SHOUT, EVASIVE) were lost just before this one. Peer is zero.
	EventOverflow
)

// String returns the upper-case ZRE name of t ("ENTER", ...).
func (t EventType) String() string {
	switch t {
	case EventEnter:
		return "ENTER"
	case EventExit:
		return "EXIT"
	case EventJoin:
		return "JOIN"
	case EventLeave:
		return "LEAVE"
	case EventWhisper:
		return "WHISPER"
	case EventShout:
		return "SHOUT"
	case EventEvasive:
		return "EVASIVE"
	case EventOverflow:
		return "OVERFLOW"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// isMembership reports whether events of type t must never be dropped.
func (t EventType) isMembership() bool {
	return t == EventEnter || t == EventExit || t == EventJoin || t == EventLeave
}

// Event is something that happened on the mesh. Every field except Type is
// optional, depending on Type. Everything in it comes from the network and
// is unauthenticated.
type Event struct {
	// Type says what happened.
	Type EventType
	// Peer is the UUID of the peer the event is about.
	Peer UUID
	// Name is the peer's ZRE name (from its HELLO).
	Name string
	// Headers are the peer's HELLO headers (ENTER only). The map is the
	// event's own copy.
	Headers map[string]string
	// Endpoint is the peer's ROUTER endpoint as its HELLO states it (ENTER
	// only).
	Endpoint string
	// Group is the group of a JOIN, LEAVE or SHOUT.
	Group string
	// Payload is the content of a WHISPER or SHOUT.
	Payload []byte
	// Dropped is the number of data events lost (OVERFLOW only).
	Dropped uint64
}

// PeerInfo describes a peer the node knows.
type PeerInfo struct {
	// UUID identifies the peer.
	UUID UUID
	// Name is the peer's ZRE name ("" until its HELLO arrives).
	Name string
	// Endpoint is the ROUTER endpoint the node connected its DEALER to.
	Endpoint string
	// Headers are the peer's HELLO headers (a copy).
	Headers map[string]string
	// Groups are the groups the peer is in, sorted.
	Groups []string
	// Ready is true once the peer's HELLO arrived (ENTER was emitted).
	Ready bool
}
