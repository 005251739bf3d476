package mesh

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// hexFrame builds bytes from the fact sheet's notation: hex byte pairs and
// "quoted" ASCII, with | and spaces as separators.
func hexFrame(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for s != "" {
		s = strings.TrimLeft(s, " |")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:end+1]...)
			s = s[end+2:]
			continue
		}
		b, err := hex.DecodeString(s[:2])
		if err != nil {
			t.Fatalf("bad hex %q", s[:2])
		}
		out = append(out, b...)
		s = s[2:]
	}
	return out
}

// TestInteropExamples: the frames of the fact sheet's examples (§3), byte
// for byte, are what our encoder produces and what our decoder reads.
func TestInteropExamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire string
		msg  message
		size int
	}{
		{
			name: "HELLO",
			wire: `AA A1 01 02 00 01 | 14 "tcp://10.0.0.5:49152" | 00 00 00 01 | 00 00 00 04 "chat" | 01 | 02 "n1" | 00 00 00 01 | 06 "X-ROLE" | 00 00 00 01 "a"`,
			msg: message{Type: msgHello, Seq: 1, Endpoint: "tcp://10.0.0.5:49152", Groups: []string{"chat"}, Status: 1, Name: "n1",
				Headers: []header{{"X-ROLE", "a"}}},
			size: 59,
		},
		{name: "JOIN", wire: `AA A1 04 02 00 02 04 63 68 61 74 02`, msg: message{Type: msgJoin, Seq: 2, Group: "chat", Status: 2}, size: 12},
		{name: "LEAVE", wire: `AA A1 05 02 00 05 04 "chat" 03`, msg: message{Type: msgLeave, Seq: 5, Group: "chat", Status: 3}, size: 12},
		{name: "SHOUT", wire: `AA A1 03 02 00 03 04 63 68 61 74`, msg: message{Type: msgShout, Seq: 3, Group: "chat"}, size: 11},
		{name: "WHISPER", wire: `AA A1 02 02 00 04`, msg: message{Type: msgWhisper, Seq: 4}, size: 6},
		{name: "PING", wire: `AA A1 06 02 12 34`, msg: message{Type: msgPing, Seq: 0x1234}, size: 6},
		{name: "PING-OK", wire: `AA A1 07 02 FF FF`, msg: message{Type: msgPingOK, Seq: 0xFFFF}, size: 6},
		{name: "GOODBYE", wire: `AA A1 0A 02 00 09`, msg: message{Type: msgGoodbye, Seq: 9}, size: 6},
		{name: "ELECT", wire: `AA A1 08 02 00 07 01 "g" 02 "id"`, msg: message{Type: msgElect, Seq: 7, Group: "g", Candidate: "id"}, size: 11},
		{name: "LEADER", wire: `AA A1 09 02 00 08 01 "g" 00`, msg: message{Type: msgLeader, Seq: 8, Group: "g"}, size: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexFrame(t, tc.wire)
			if len(wire) != tc.size {
				t.Fatalf("example is %d bytes, want %d", len(wire), tc.size)
			}
			got, err := tc.msg.appendFrame(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) {
				t.Errorf("encoded\n% X\nwant\n% X", got, wire)
			}
			m, err := parseFrame(wire)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Errorf("decoded %+v, want %+v", m, tc.msg)
			}
		})
	}
}

func TestParseFrameRejects(t *testing.T) {
	hello := func(mod func(b []byte) []byte) []byte {
		m := message{Type: msgHello, Seq: 1, Endpoint: "tcp://127.0.0.1:5000", Groups: []string{"g"}, Name: "n", Headers: []header{{"K", "v"}}}
		b, err := m.appendFrame(nil)
		if err != nil {
			t.Fatal(err)
		}
		return mod(b)
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short header", []byte{0xAA, 0xA1, 6, 2, 0}},
		{"bad signature", []byte{0xAA, 0xA0, 6, 2, 0, 1}},
		{"version 1", []byte{0xAA, 0xA1, 6, 1, 0, 1}},
		{"version 3", []byte{0xAA, 0xA1, 6, 3, 0, 1}},
		{"unknown id 0", []byte{0xAA, 0xA1, 0, 2, 0, 1}},
		{"unknown id 11", []byte{0xAA, 0xA1, 11, 2, 0, 1}},
		{"unknown id 255", []byte{0xAA, 0xA1, 255, 2, 0, 1}},
		{"trailing byte on PING", []byte{0xAA, 0xA1, 6, 2, 0, 1, 0}},
		{"trailing byte on WHISPER", []byte{0xAA, 0xA1, 2, 2, 0, 1, 9}},
		{"JOIN truncated group", []byte{0xAA, 0xA1, 4, 2, 0, 1, 5, 'a', 'b'}},
		{"JOIN missing status", []byte{0xAA, 0xA1, 4, 2, 0, 1, 1, 'a'}},
		{"JOIN trailing", []byte{0xAA, 0xA1, 4, 2, 0, 1, 1, 'a', 1, 1}},
		{"SHOUT no group", []byte{0xAA, 0xA1, 3, 2, 0, 1}},
		{"ELECT missing id", []byte{0xAA, 0xA1, 8, 2, 0, 1, 1, 'g'}},
		{"HELLO trailing", hello(func(b []byte) []byte { return append(b, 0) })},
		{"HELLO truncated", hello(func(b []byte) []byte { return b[:len(b)-1] })},
		{"HELLO huge group count", append(hexFrame(t, `AA A1 01 02 00 01 00`), u32(0xFFFFFFFF)...)},
		{"HELLO group count past end", append(append(hexFrame(t, `AA A1 01 02 00 01 00`), u32(3)...), 0, 0, 0, 0)},
		{"HELLO group count over limit", append(append(hexFrame(t, `AA A1 01 02 00 01 00`), u32(maxHelloGroups+1)...), make([]byte, 4*(maxHelloGroups+1))...)},
		{"HELLO huge group length", append(append(append(hexFrame(t, `AA A1 01 02 00 01 00`), u32(1)...), u32(0xFFFFFFF0)...), 'x')},
		{"HELLO group name 256 bytes", append(append(append(append(hexFrame(t, `AA A1 01 02 00 01 00`), u32(1)...), u32(256)...), make([]byte, 256)...), 0, 0, 0, 0, 0, 0)},
		{"HELLO huge header count", append(hexFrame(t, `AA A1 01 02 00 01 00 00 00 00 00 00 00`), u32(0x7FFFFFFF)...)},
		{"HELLO header count past end", append(append(hexFrame(t, `AA A1 01 02 00 01 00 00 00 00 00 00 00`), u32(2)...), 0, 0, 0, 0, 0)},
		{"HELLO header count over limit", append(append(hexFrame(t, `AA A1 01 02 00 01 00 00 00 00 00 00 00`), u32(maxHelloHeaders+1)...), make([]byte, 5*(maxHelloHeaders+1))...)},
		{"HELLO huge header value", append(append(hexFrame(t, `AA A1 01 02 00 01 00 00 00 00 00 00 00 00 00 00 01 01 "k"`), u32(0xFFFFFFFF)...), 'v')},
		{"HELLO duplicate header", append(append(append(hexFrame(t, `AA A1 01 02 00 01 00 00 00 00 00 00 00 00 00 00 02 01 "k"`), u32(0)...), 1, 'k'), u32(0)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := parseFrame(tc.frame); !errors.Is(err, errMalformed) {
				t.Errorf("parseFrame(% X) = %+v, %v; want errMalformed", tc.frame, m, err)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	long := strings.Repeat("x", 256)
	for _, m := range []message{
		{Type: msgJoin, Group: long},
		{Type: msgShout, Group: long},
		{Type: msgHello, Endpoint: long},
		{Type: msgHello, Name: long},
		{Type: msgHello, Groups: []string{long}},
		{Type: msgHello, Headers: []header{{long, "v"}}},
		{Type: msgHello, Groups: make([]string, maxHelloGroups+1)},
		{Type: 0},
		{Type: 11},
	} {
		if _, err := m.appendFrame(nil); !errors.Is(err, errEncode) {
			t.Errorf("appendFrame(%.60v) = %v, want errEncode", m, err)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for ep, ok := range map[string]bool{
		"tcp://127.0.0.1:5670":         true,
		"tcp://10.99.0.1:65535":        true,
		"tcp://192.168.1.1:1":          true,
		"tcp://127.0.0.1:0":            false,
		"tcp://127.0.0.1:65536":        false,
		"tcp://127.0.0.1:":             false,
		"tcp://127.0.0.1":              false,
		"tcp://127.0.0.1:05670":        false,
		"tcp://127.0.0.1:+5670":        false,
		"tcp://127.000.0.1:5670":       false,
		"tcp://0.0.0.0:5670":           false,
		"tcp://224.0.0.250:5670":       false,
		"tcp://255.255.255.255:5670":   false,
		"tcp://*:5670":                 false,
		"tcp://localhost:5670":         false,
		"tcp://example.com:5670":       false,
		"tcp://[::1]:5670":             false,
		"tcp://::ffff:127.0.0.1:5670":  false,
		"tcp://127.0.0.1:5670/x":       false,
		"tcp://127.0.0.1:5670 ":        false,
		"TCP://127.0.0.1:5670":         false,
		"ipc:///tmp/zre":               false,
		"inproc://x":                   false,
		"udp://127.0.0.1:5670":         false,
		"tcp://127.0.0.1;10.0.0.1:567": false,
		"":                             false,
	} {
		_, err := parseEndpoint(ep)
		if (err == nil) != ok {
			t.Errorf("parseEndpoint(%q) = %v, want ok=%v", ep, err, ok)
		}
	}
}

// genMessage draws a valid message of any type.
func genMessage(t *rapid.T) message {
	short := rapid.StringN(0, -1, 255)
	long := rapid.StringN(0, -1, 300)
	m := message{
		Type: msgType(rapid.IntRange(1, 10).Draw(t, "type")),
		Seq:  rapid.Uint16().Draw(t, "seq"),
	}
	switch m.Type {
	case msgHello:
		m.Endpoint = short.Draw(t, "endpoint")
		m.Groups = rapid.SliceOfN(short, 0, 8).Draw(t, "groups")
		m.Status = rapid.Byte().Draw(t, "status")
		m.Name = short.Draw(t, "name")
		keys := rapid.SliceOfNDistinct(short, 0, 8, func(s string) string { return s }).Draw(t, "keys")
		for _, k := range keys {
			m.Headers = append(m.Headers, header{k, long.Draw(t, "value")})
		}
		if len(m.Groups) == 0 {
			m.Groups = nil // the parser leaves empty lists nil
		}
	case msgShout:
		m.Group = short.Draw(t, "group")
	case msgJoin, msgLeave:
		m.Group = short.Draw(t, "group")
		m.Status = rapid.Byte().Draw(t, "status")
	case msgElect, msgLeader:
		m.Group = short.Draw(t, "group")
		m.Candidate = short.Draw(t, "candidate")
	}
	return m
}

// TestRoundTripProperty: every valid message of every type encodes,
// decodes to itself and re-encodes to the same bytes.
func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage(t)
		b, err := m.appendFrame(nil)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		got, err := parseFrame(b)
		if err != nil {
			t.Fatalf("decode % X: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip %+v -> %+v", m, got)
		}
		b2, err := got.appendFrame(nil)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encode differs: %v", err)
		}
		// Every strict prefix is rejected.
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		if _, err := parseFrame(b[:cut]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", cut, len(b))
		}
	})
}

func TestBeaconCodec(t *testing.T) {
	wire := hexFrame(t, `5A 52 45 01 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF C0 00`)
	bc, err := parseBeacon(wire)
	if err != nil {
		t.Fatal(err)
	}
	want := beacon{UUID: UUID{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}, Port: 49152}
	if bc != want {
		t.Errorf("parsed %+v, want %+v", bc, want)
	}
	if got := want.marshal(); !bytes.Equal(got[:], wire) {
		t.Errorf("marshal % X, want % X", got, wire)
	}
	if want.UUID.String() != "00112233445566778899AABBCCDDEEFF" || want.UUID.Short() != "001122" {
		t.Errorf("UUID text %s %s", want.UUID, want.UUID.Short())
	}
	if u, err := ParseUUID("00112233445566778899aabbccddeeff"); err != nil || u != want.UUID {
		t.Errorf("ParseUUID: %v %v", u, err)
	}
	for _, bad := range [][]byte{
		nil,
		wire[:21],
		append(append([]byte(nil), wire...), 0),
		append(append([]byte(nil), wire...), make([]byte, 32)...), // zyre CURVE beacon size
		append([]byte("ZRF"), wire[3:]...),
		append([]byte("ZRE\x03"), wire[4:]...),
		append([]byte("ZRE\x00"), wire[4:]...),
	} {
		if _, err := parseBeacon(bad); !errors.Is(err, errBadBeacon) {
			t.Errorf("parseBeacon(% X) accepted", bad)
		}
	}
}
