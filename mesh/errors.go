package mesh

import "errors"

// Errors returned by Node methods. They are returned wrapped; test with
// errors.Is.
var (
	// ErrStopped is returned by methods called after Stop (or after the
	// context given to Start was canceled).
	ErrStopped = errors.New("mesh: node stopped")
	// ErrNotStarted is returned by methods that need a running node.
	ErrNotStarted = errors.New("mesh: node not started")
	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errors.New("mesh: node already started")
	// ErrUnknownPeer is returned by Whisper for a UUID the node does not
	// know, including a peer that has left (EXIT).
	ErrUnknownPeer = errors.New("mesh: unknown peer")
	// ErrPeerNotReady is returned by Whisper for a peer whose HELLO has not
	// arrived yet (no ENTER was emitted for it).
	ErrPeerNotReady = errors.New("mesh: peer not ready")
	// ErrPeerBusy is returned by Whisper when the peer's send queue is full:
	// the peer (or the network) is not keeping up. Nothing was queued.
	ErrPeerBusy = errors.New("mesh: peer send queue full")
	// ErrPayloadTooLarge is returned by Whisper and Shout for payloads
	// larger than MaxPayload.
	ErrPayloadTooLarge = errors.New("mesh: payload too large")
	// ErrInvalidGroup is returned for an empty group name or one longer
	// than 255 bytes.
	ErrInvalidGroup = errors.New("mesh: invalid group name")
	// ErrInvalidEndpoint is returned for an endpoint that is not
	// tcp://IPv4:port with a port in 1..65535.
	ErrInvalidEndpoint = errors.New("mesh: invalid endpoint")
	// ErrTooManyGroups is returned by Join when the node's HELLO, which
	// lists every group the node is in, would no longer fit in one frame.
	ErrTooManyGroups = errors.New("mesh: too many groups")
)
