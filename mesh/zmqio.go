package mesh

/*
#cgo !windows pkg-config: libzmq
#include <zmq.h>
#include <string.h>
#include <errno.h>

// mesh_recv receives one whole message (every part) from socket s in one
// call. The first part is received with flags (ZMQ_DONTWAIT), the others,
// already queued by libzmq, without. Parts are copied one after another
// into buf while they fit; sizes[i] is the size of part i, or (size_t)-1
// if it did not fit. Parts beyond maxparts are received and discarded.
// *nparts is the number of parts. The first "Peer-Address" property found
// is copied to addr (empty if none). Returns 0 or -errno.
static int mesh_recv(void *s, int flags, char *buf, size_t cap, size_t *sizes,
		int maxparts, int *nparts, char *addr, size_t addrcap) {
	zmq_msg_t m;
	size_t off = 0;
	int n = 0, more = 1, rc;
	addr[0] = 0;
	while (more) {
		zmq_msg_init(&m);
		do {
			rc = zmq_msg_recv(&m, s, n == 0 ? flags : 0);
		} while (rc < 0 && zmq_errno() == EINTR);
		if (rc < 0) {
			int e = zmq_errno();
			zmq_msg_close(&m);
			*nparts = n;
			return -e;
		}
		size_t sz = zmq_msg_size(&m);
		if (addr[0] == 0 && n < 2) {
			const char *pa = zmq_msg_gets(&m, "Peer-Address");
			if (pa) {
				strncpy(addr, pa, addrcap - 1);
				addr[addrcap - 1] = 0;
			}
		}
		if (n < maxparts) {
			if (sz <= cap - off) {
				memcpy(buf + off, zmq_msg_data(&m), sz);
				sizes[n] = sz;
				off += sz;
			} else {
				sizes[n] = (size_t)-1;
			}
		}
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
		n++;
	}
	*nparts = n;
	return 0;
}

// mesh_send sends a, and then b if two is set, as one message, without
// blocking. Returns 0, -errno if the first part was refused (nothing was
// sent), or -1000-errno if the second part failed (the socket is then in
// an unknown state).
static int mesh_send(void *s, const void *a, size_t alen, const void *b, size_t blen, int two) {
	int rc;
	do {
		rc = zmq_send(s, a, alen, ZMQ_DONTWAIT | (two ? ZMQ_SNDMORE : 0));
	} while (rc < 0 && zmq_errno() == EINTR);
	if (rc < 0)
		return -zmq_errno();
	if (!two)
		return 0;
	do {
		rc = zmq_send(s, b, blen, ZMQ_DONTWAIT);
	} while (rc < 0 && zmq_errno() == EINTR);
	if (rc < 0)
		return -1000 - zmq_errno();
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"syscall"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// The hot path. pebbe/zmq4 makes five cgo calls to receive one frame and
// one more to ask whether another follows: seventeen calls for a WHISPER
// (routing id, ZRE frame, content), each costing a Go<->C transition. The
// reactor instead receives a whole message, and sends a whole message, in
// one cgo call on the libzmq socket that pebbe created and configured.
// pebbe keeps that socket pointer in an unexported field; rawSocket reads
// it only if the field is where pebbe v1.4.0 has it; otherwise the reactor
// uses plain pebbe calls (recvSlow, sendSlow: same behaviour, slower).

// maxParts is the number of message parts the reactor looks at: routing
// id, ZRE frame, first content frame, and one more to detect multi-frame
// content.
const maxParts = 4

// rawSocketUsable reports whether zmq.Socket has the layout rawSocket
// relies on: first field "soc", an unsafe.Pointer.
func rawSocketUsable() bool {
	t := reflect.TypeFor[zmq.Socket]()
	if t.Kind() != reflect.Struct || t.NumField() == 0 {
		return false
	}
	f := t.Field(0)
	return f.Name == "soc" && f.Offset == 0 && f.Type == reflect.TypeFor[unsafe.Pointer]()
}

// rawSocket returns libzmq's socket pointer inside s. The reactor calls it
// only on sockets it has not closed (peers are marked removed when their
// DEALER is closed, and the ROUTER is closed last), since pebbe's
// closed-socket check is bypassed.
func rawSocket(s *zmq.Socket) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(s))
}

// zio receives and sends whole messages for the reactor.
type zio struct {
	fast  bool
	buf   []byte
	sizes []C.size_t
	addr  []byte
	empty []byte // a valid pointer for empty frames
}

func newZIO(fast bool) *zio {
	z := &zio{fast: fast, empty: make([]byte, 1)}
	if fast {
		z.buf = make([]byte, 2*maxFrameSize+512)
		z.sizes = make([]C.size_t, maxParts)
		z.addr = make([]byte, 64)
	}
	return z
}

// inMsg is one received message. rid and frame alias the zio's buffer
// and are valid until the next receive; content is the message's own.
type inMsg struct {
	rid      []byte
	frame    []byte
	content  []byte // first content frame (nil if none)
	nContent int    // number of content frames
	// src is the Peer-Address of the connection the message came on, as
	// text ("" if unknown); see srcAddr.
	src string
	// tooBig is set when a part did not fit the receive buffer (only a
	// frame over ZMQ_MAXMSGSIZE could, and libzmq refuses those).
	tooBig bool
}

// errAgain is returned by recv when no message is waiting.
var errAgain = errors.New("no message waiting")

// recv receives one message from the ROUTER without blocking.
func (z *zio) recv(s *zmq.Socket) (inMsg, error) {
	if !z.fast {
		return recvSlow(s)
	}
	var n C.int
	rc := C.mesh_recv(rawSocket(s), C.int(zmq.DONTWAIT),
		(*C.char)(unsafe.Pointer(&z.buf[0])), C.size_t(len(z.buf)),
		&z.sizes[0], C.int(len(z.sizes)), &n,
		(*C.char)(unsafe.Pointer(&z.addr[0])), C.size_t(len(z.addr)))
	if rc != 0 {
		errno := syscall.Errno(-rc)
		if errno == syscall.EAGAIN && n == 0 {
			return inMsg{}, errAgain
		}
		return inMsg{}, fmt.Errorf("mesh: receive: %w", zmq.Errno(errno))
	}
	var m inMsg
	off := 0
	part := func(i int) []byte {
		sz := z.sizes[i]
		if sz == ^C.size_t(0) {
			m.tooBig = true
			return nil
		}
		b := z.buf[off : off+int(sz)]
		off += int(sz)
		return b
	}
	parts := int(n)
	m.rid = part(0)
	if parts > 1 {
		m.frame = part(1)
	}
	if parts > 2 {
		m.nContent = parts - 2
		if c := part(2); c != nil {
			m.content = append(make([]byte, 0, len(c)), c...)
		}
	}
	if z.addr[0] != 0 {
		m.src = string(z.addr[:indexByte(z.addr, 0)])
	}
	return m, nil
}

// srcAddr parses m.src (zero if absent or not an IP address).
func (m *inMsg) srcAddr() netip.Addr {
	a, err := netip.ParseAddr(m.src)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return len(b)
}

// send sends frame, and payload after it if two is set, as one message
// without blocking. It returns errAgain if the socket refused the message
// (nothing was sent).
func (z *zio) send(s *zmq.Socket, frame, payload []byte, two bool) error {
	if !z.fast {
		return sendSlow(s, frame, payload, two)
	}
	a, b := unsafe.Pointer(&z.empty[0]), unsafe.Pointer(&z.empty[0])
	if len(frame) > 0 {
		a = unsafe.Pointer(&frame[0])
	}
	if len(payload) > 0 {
		b = unsafe.Pointer(&payload[0])
	}
	t := C.int(0)
	if two {
		t = 1
	}
	rc := int(C.mesh_send(rawSocket(s), a, C.size_t(len(frame)), b, C.size_t(len(payload)), t))
	switch {
	case rc == 0:
		return nil
	case rc == -int(syscall.EAGAIN):
		return errAgain
	case rc <= -1000:
		return fmt.Errorf("mesh: send second frame: %w", zmq.Errno(syscall.Errno(-1000-rc)))
	default:
		return fmt.Errorf("mesh: send: %w", zmq.Errno(syscall.Errno(-rc)))
	}
}

// recvSlow is recv with pebbe's calls only.
func recvSlow(s *zmq.Socket) (inMsg, error) {
	var m inMsg
	rid, md, err := s.RecvBytesWithMetadata(zmq.DONTWAIT, "Peer-Address")
	if err != nil {
		if isEAGAIN(err) {
			return m, errAgain
		}
		return m, fmt.Errorf("mesh: receive: %w", err)
	}
	m.rid = rid
	m.src = md["Peer-Address"]
	for i := 1; ; i++ {
		more, err := s.GetRcvmore()
		if err != nil {
			return m, fmt.Errorf("mesh: receive: %w", err)
		}
		if !more {
			return m, nil
		}
		part, err := s.RecvBytes(0)
		if err != nil {
			return m, fmt.Errorf("mesh: receive: %w", err)
		}
		switch {
		case i == 1:
			m.frame = part
		case i == 2:
			m.content = part
			m.nContent++
		default:
			m.nContent++
		}
	}
}

// sendSlow is send with pebbe's calls only.
func sendSlow(s *zmq.Socket, frame, payload []byte, two bool) error {
	flags := zmq.DONTWAIT
	if two {
		flags |= zmq.SNDMORE
	}
	if _, err := s.SendBytes(frame, flags); err != nil {
		if isEAGAIN(err) {
			return errAgain
		}
		return fmt.Errorf("mesh: send: %w", err)
	}
	if two {
		if _, err := s.SendBytes(payload, zmq.DONTWAIT); err != nil {
			return fmt.Errorf("mesh: send second frame: %w", err)
		}
	}
	return nil
}
