package mesh

import "sync/atomic"

// Stats are a node's counters since Start. Dropped* count input the node
// refused; every such drop is also logged at debug level.
type Stats struct {
	// FramesReceived counts messages read from the ROUTER.
	FramesReceived uint64
	// DroppedRoutingID counts messages whose routing id was not 17 bytes
	// starting with 0x01.
	DroppedRoutingID uint64
	// DroppedMalformed counts frames the strict parser refused (bad
	// signature, version, id, lengths, trailing bytes, bad HELLO endpoint,
	// content on a type that has none, ...).
	DroppedMalformed uint64
	// DroppedUnknownPeer counts non-HELLO messages from peers that are not
	// ready, and messages carrying the node's own UUID.
	DroppedUnknownPeer uint64
	// DroppedOutOfSequence counts messages whose sequence number was not
	// the expected one; each also removed the peer.
	DroppedOutOfSequence uint64
	// DroppedOversize counts WHISPER/SHOUT payloads larger than MaxPayload.
	DroppedOversize uint64
	// DroppedMultiFrame counts WHISPER/SHOUT messages with more than one
	// content frame.
	DroppedMultiFrame uint64
	// DroppedPeerLimit counts HELLOs and beacons from new peers refused
	// because MaxPeers was reached or peers were being created too fast.
	DroppedPeerLimit uint64
	// DroppedGroupLimit counts JOINs refused because the peer was already
	// in the maximum number of groups.
	DroppedGroupLimit uint64
	// StatusMismatches counts JOIN/LEAVE messages whose group status did
	// not match the node's count; the node resynchronised each time.
	StatusMismatches uint64
	// BeaconsReceived counts valid beacons from other nodes.
	BeaconsReceived uint64
	// BeaconsDropped counts datagrams on the beacon port that were not
	// valid beacons, or were dropped because beacons arrived too fast.
	BeaconsDropped uint64
	// EventsDelivered counts events handed to the Events channel.
	EventsDelivered uint64
	// EventsOverflowed counts data events lost because the consumer fell
	// behind (reported by EventOverflow).
	EventsOverflowed uint64
	// ReceivePaused counts times the node stopped reading its ROUTER
	// because membership events were piling up unread.
	ReceivePaused uint64
	// WhispersSent and ShoutsSent count payloads handed to ZeroMQ (a shout
	// counts once per receiving peer).
	WhispersSent, ShoutsSent uint64
	// SendBusy counts Whisper calls refused with ErrPeerBusy.
	SendBusy uint64
	// SendDropped counts queued messages discarded because their peer left
	// before they were sent, or, for a shout, because a member's queue was
	// full.
	SendDropped uint64
	// PeersCreated and PeersRemoved count peer objects (one per DEALER).
	PeersCreated, PeersRemoved uint64
	// Peers is the number of peers known now; ReadyPeers the number of
	// those whose HELLO has arrived.
	Peers, ReadyPeers uint64
}

// counters is the live, concurrently readable form of Stats.
type counters struct {
	framesReceived, droppedRoutingID, droppedMalformed, droppedUnknownPeer atomic.Uint64
	droppedOutOfSequence, droppedOversize, droppedMultiFrame               atomic.Uint64
	droppedPeerLimit, droppedGroupLimit, statusMismatches                  atomic.Uint64
	beaconsReceived, beaconsDropped                                        atomic.Uint64
	eventsDelivered, eventsOverflowed, receivePaused                       atomic.Uint64
	whispersSent, shoutsSent, sendBusy, sendDropped                        atomic.Uint64
	peersCreated, peersRemoved, peers, readyPeers                          atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		FramesReceived:       c.framesReceived.Load(),
		DroppedRoutingID:     c.droppedRoutingID.Load(),
		DroppedMalformed:     c.droppedMalformed.Load(),
		DroppedUnknownPeer:   c.droppedUnknownPeer.Load(),
		DroppedOutOfSequence: c.droppedOutOfSequence.Load(),
		DroppedOversize:      c.droppedOversize.Load(),
		DroppedMultiFrame:    c.droppedMultiFrame.Load(),
		DroppedPeerLimit:     c.droppedPeerLimit.Load(),
		DroppedGroupLimit:    c.droppedGroupLimit.Load(),
		StatusMismatches:     c.statusMismatches.Load(),
		BeaconsReceived:      c.beaconsReceived.Load(),
		BeaconsDropped:       c.beaconsDropped.Load(),
		EventsDelivered:      c.eventsDelivered.Load(),
		EventsOverflowed:     c.eventsOverflowed.Load(),
		ReceivePaused:        c.receivePaused.Load(),
		WhispersSent:         c.whispersSent.Load(),
		ShoutsSent:           c.shoutsSent.Load(),
		SendBusy:             c.sendBusy.Load(),
		SendDropped:          c.sendDropped.Load(),
		PeersCreated:         c.peersCreated.Load(),
		PeersRemoved:         c.peersRemoved.Load(),
		Peers:                c.peers.Load(),
		ReadyPeers:           c.readyPeers.Load(),
	}
}
