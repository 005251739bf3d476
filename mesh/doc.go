// Package mesh implements the ZeroMQ Realtime Exchange protocol, version 2
// (ZRE, RFC 36), the protocol spoken by gyre, zyre and pyre, on top of
// github.com/pebbe/zmq4.
//
// A Node discovers peers on the local network by UDP beacons (or is told
// their endpoints with Config.Peers and Connect), keeps one ZeroMQ DEALER
// socket per peer and receives everything on one ROUTER socket. It delivers
// what happens as Events: peers entering and leaving, joining and leaving
// groups, and whispered (one peer) and shouted (one group) payloads.
//
// mesh knows bytes and peers, not keys: nothing it reports is authenticated.
// Any host on the LAN can claim any UUID, name, header or group, send a
// port-0 beacon to make a peer "leave", or name any endpoint in a HELLO. The
// node defends itself (strict parser, bounded queues, caps and rate limits on
// peers, groups and headers, frames capped with ZMQ_MAXMSGSIZE), but the
// layers above must treat ENTER and EXIT as hints, never as security events.
//
// # Concurrency and performance
//
// All ZeroMQ sockets of a node are owned by a single reactor goroutine that
// Start launches. API calls reach it through a command queue; a reactor
// blocked in zmq_poll (over its ROUTER, the wake PAIR and any DEALER
// waiting to become writable) is woken by one byte on an inproc PAIR
// socket. Nothing in the hot path polls on a timer. After delivering
// events the reactor yields to the consumer and, while consumers keep
// answering quickly (request/response traffic), waits up to 30µs for the
// answer before it sleeps, which saves a thread wake-up per exchange; the
// wait adapts away when nobody answers. Whole messages are received and
// sent with one cgo call each (see zmqio.go). The reactor never blocks on
// the consumer of Events: see Events for the overflow policy. All methods
// of Node are safe for concurrent use.
//
// # Limits
//
// Payloads: MaxPayload. Frames: ZMQ_MAXMSGSIZE = MaxPayload + 4 KiB (a
// larger frame makes libzmq drop the connection). Per peer: 1000 messages
// in libzmq's send queue, then 1000 in the node's (Whisper then returns
// ErrPeerBusy), 256 unread messages in the ROUTER's queue, 1024 groups, 64
// HELLO headers. Per node: MaxPeers peers, new peers from beacons and
// HELLOs at most 16 per second (bursts of 64), MaxPeers static endpoints.
// libzmq itself buffers a multipart message whole before delivering it, so
// a hostile peer can make it hold one message of many frames (each within
// the frame limit) in memory; only the first content frame is kept by the
// node.
//
// # Wire compatibility
//
// The node sends 22-byte version-1 beacons to the directed broadcast address
// of its interface (heard by zyre and pyre) and to 224.0.0.250 (heard by
// gyre), answers every PING, sends WHISPER and SHOUT payloads as exactly one
// content frame, never sends ELECT, LEADER or GOODBYE, and parses all three.
// A WHISPER or SHOUT that carries more than one content frame (zyre and pyre
// can send those) is dropped and counted in Stats.DroppedMultiFrame: a
// messagefs payload is always one frame, and joining frames or keeping only
// the first would both silently alter what the sender meant.
//
// Tested against real peers: pyre (opt-in test, PYRE_PATH=/path/to/pyre go
// test -run TestInteropPyre), and by hand against gyre and zyre 2.0.1.
// pyre numbers its messages modulo 65535 instead of 65536: the node accepts
// pyre's 65534 -> 0 step, but pyre takes our 65535 for a gap and drops us,
// and the two meet again at the next beacon. That is pyre's bug to fix;
// skipping 65535 here would break zyre and gyre.
package mesh
