package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ZRE frame constants (fact sheet §0, §3).
const (
	zreSig0    = 0xAA
	zreSig1    = 0xA1
	zreVersion = 2
	// headerLen is the fixed part of every ZRE frame: signature (2), id (1),
	// version (1), sequence (2).
	headerLen = 6
	// maxShortString is the longest value a ZRE "string" (1-byte length)
	// can carry.
	maxShortString = 255
)

// Limits the parser enforces before allocating. A frame is also capped as
// a whole by ZMQ_MAXMSGSIZE (maxFrameSize), so these only bound counts.
const (
	// maxHelloGroups is the largest number of groups a HELLO may list (and
	// so the most groups a peer can be in).
	maxHelloGroups = 1024
	// maxHelloHeaders is the largest number of headers a HELLO may carry.
	maxHelloHeaders = 64
)

// msgType is the ZRE message id.
type msgType uint8

// ZRE message ids. ELECT, LEADER and GOODBYE are parsed but never sent.
const (
	msgHello   msgType = 1
	msgWhisper msgType = 2
	msgShout   msgType = 3
	msgJoin    msgType = 4
	msgLeave   msgType = 5
	msgPing    msgType = 6
	msgPingOK  msgType = 7
	msgElect   msgType = 8
	msgLeader  msgType = 9
	msgGoodbye msgType = 10
)

// String returns the protocol name of t.
func (t msgType) String() string {
	switch t {
	case msgHello:
		return "HELLO"
	case msgWhisper:
		return "WHISPER"
	case msgShout:
		return "SHOUT"
	case msgJoin:
		return "JOIN"
	case msgLeave:
		return "LEAVE"
	case msgPing:
		return "PING"
	case msgPingOK:
		return "PING-OK"
	case msgElect:
		return "ELECT"
	case msgLeader:
		return "LEADER"
	case msgGoodbye:
		return "GOODBYE"
	}
	return fmt.Sprintf("msgType(%d)", uint8(t))
}

// hasContent reports whether messages of type t carry content frames.
func (t msgType) hasContent() bool { return t == msgWhisper || t == msgShout }

// header is one HELLO header, kept in wire order so that decoding and
// re-encoding a frame reproduces it byte for byte.
type header struct {
	Key   string
	Value string
}

// message is one decoded ZRE frame (without its content frames). Which
// fields are meaningful depends on Type; the others are zero.
type message struct {
	Type msgType
	Seq  uint16

	Endpoint string   // HELLO
	Groups   []string // HELLO
	Status   byte     // HELLO, JOIN, LEAVE
	Name     string   // HELLO
	Headers  []header // HELLO

	Group string // SHOUT, JOIN, LEAVE, ELECT, LEADER
	// Candidate is the challenger id of ELECT or the leader id of LEADER.
	Candidate string
}

// errMalformed is wrapped by every parse error.
var errMalformed = errors.New("malformed ZRE frame")

// parseError describes why a frame was rejected; it wraps errMalformed.
type parseError struct {
	what string
	off  int
}

func (e *parseError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d", errMalformed, e.what, e.off)
}

func (e *parseError) Unwrap() error { return errMalformed }

// reader consumes a frame, checking every length against what is left
// before it slices or allocates.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = &parseError{what: what, off: r.off}
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) u8(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("truncated " + what)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u32(what string) uint32 {
	if r.err != nil {
		return 0
	}
	if r.left() < 4 {
		r.fail("truncated " + what)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.fail(what + " runs past end of frame")
		return nil
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

// str reads a ZRE string: 1-byte length, then that many bytes.
func (r *reader) str(what string) string {
	n := r.u8(what + " length")
	return string(r.bytes(uint64(n), what))
}

// longstr reads a ZRE longstr: 4-byte length, then that many bytes.
func (r *reader) longstr(what string) string {
	n := r.u32(what + " length")
	return string(r.bytes(uint64(n), what))
}

// parseFrame decodes one ZRE frame strictly: signature AA A1, version 2, a
// known id, every field within the frame, no bytes left over, HELLO lists
// within maxHelloGroups/maxHelloHeaders, HELLO group names at most 255
// bytes and no duplicate header keys. It does not judge the HELLO endpoint
// (see parseEndpoint) and never panics.
func parseFrame(b []byte) (message, error) {
	var m message
	if len(b) < headerLen {
		return m, &parseError{what: "frame shorter than header", off: 0}
	}
	if b[0] != zreSig0 || b[1] != zreSig1 {
		return m, &parseError{what: "bad signature", off: 0}
	}
	m.Type = msgType(b[2])
	if b[3] != zreVersion {
		return m, &parseError{what: fmt.Sprintf("version %d", b[3]), off: 3}
	}
	m.Seq = binary.BigEndian.Uint16(b[4:6])
	r := &reader{b: b, off: headerLen}
	switch m.Type {
	case msgHello:
		m.Endpoint = r.str("endpoint")
		n := r.u32("group count")
		switch {
		case r.err != nil:
		case n > maxHelloGroups:
			r.fail(fmt.Sprintf("%d groups (limit %d)", n, maxHelloGroups))
		case uint64(n)*4 > uint64(r.left()):
			r.fail("group count runs past end of frame")
		case n > 0:
			m.Groups = make([]string, 0, n)
			for i := uint32(0); i < n && r.err == nil; i++ {
				g := r.longstr("group")
				if len(g) > maxShortString {
					r.fail("group name longer than 255 bytes")
				}
				m.Groups = append(m.Groups, g)
			}
		}
		m.Status = r.u8("status")
		m.Name = r.str("name")
		n = r.u32("header count")
		switch {
		case r.err != nil:
		case n > maxHelloHeaders:
			r.fail(fmt.Sprintf("%d headers (limit %d)", n, maxHelloHeaders))
		case uint64(n)*5 > uint64(r.left()):
			r.fail("header count runs past end of frame")
		case n > 0:
			m.Headers = make([]header, 0, n)
			for i := uint32(0); i < n && r.err == nil; i++ {
				h := header{Key: r.str("header key")}
				h.Value = r.longstr("header value")
				for _, prev := range m.Headers {
					if prev.Key == h.Key {
						r.fail("duplicate header key")
					}
				}
				m.Headers = append(m.Headers, h)
			}
		}
	case msgWhisper, msgPing, msgPingOK, msgGoodbye:
	case msgShout:
		m.Group = r.str("group")
	case msgJoin, msgLeave:
		m.Group = r.str("group")
		m.Status = r.u8("status")
	case msgElect, msgLeader:
		m.Group = r.str("group")
		m.Candidate = r.str("candidate id")
	default:
		return m, &parseError{what: fmt.Sprintf("unknown message id %d", b[2]), off: 2}
	}
	if r.err == nil && r.left() != 0 {
		r.fail(fmt.Sprintf("%d bytes after last field", r.left()))
	}
	if r.err != nil {
		return message{Type: m.Type, Seq: m.Seq}, r.err
	}
	return m, nil
}

// errEncode is wrapped by every encoding error.
var errEncode = errors.New("cannot encode ZRE frame")

// appendFrame appends the encoding of m to b. It refuses (rather than
// truncates, which would desynchronise the receiver) strings that do not
// fit their length field, and lists longer than the parser accepts.
func (m *message) appendFrame(b []byte) ([]byte, error) {
	b = append(b, zreSig0, zreSig1, byte(m.Type), zreVersion, byte(m.Seq>>8), byte(m.Seq))
	var err error
	str := func(s, what string) {
		if len(s) > maxShortString {
			if err == nil {
				err = fmt.Errorf("%w: %s longer than 255 bytes", errEncode, what)
			}
			return
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	longstr := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	switch m.Type {
	case msgHello:
		str(m.Endpoint, "endpoint")
		if len(m.Groups) > maxHelloGroups || len(m.Headers) > maxHelloHeaders {
			return b, fmt.Errorf("%w: too many groups or headers", errEncode)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(m.Groups)))
		for _, g := range m.Groups {
			if len(g) > maxShortString {
				return b, fmt.Errorf("%w: group name longer than 255 bytes", errEncode)
			}
			longstr(g)
		}
		b = append(b, m.Status)
		str(m.Name, "name")
		b = binary.BigEndian.AppendUint32(b, uint32(len(m.Headers)))
		for _, h := range m.Headers {
			str(h.Key, "header key")
			longstr(h.Value)
		}
	case msgWhisper, msgPing, msgPingOK, msgGoodbye:
	case msgShout:
		str(m.Group, "group")
	case msgJoin, msgLeave:
		str(m.Group, "group")
		b = append(b, m.Status)
	case msgElect, msgLeader:
		str(m.Group, "group")
		str(m.Candidate, "candidate id")
	default:
		return b, fmt.Errorf("%w: unknown message id %d", errEncode, m.Type)
	}
	return b, err
}
