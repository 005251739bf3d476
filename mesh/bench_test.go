package mesh

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// The benchmarks compare two mesh nodes on loopback with raw zmq4
// ROUTER/DEALER pairs doing the same in the same run: each side has a
// ROUTER inbox and a DEALER to the other's inbox, payloads travel as one
// frame. Targets (DESIGN.md): latency p50 <= 1.2x raw, throughput >= 80% of
// raw. Each benchmark takes at least a fixed number of samples whatever
// b.N is, so that `-benchtime 1x` still measures something; the ratios are
// reported as metrics.

const benchDeadline = 60 * time.Second

// rawPair is two raw ZeroMQ parties, each with its own context (its own
// I/O thread, as two nodes have), an inbox and a DEALER to the other's
// inbox.
type rawPair struct {
	ctxA, ctxB   *zmq.Context
	inA, inB     *zmq.Socket
	toB, toA     *zmq.Socket
	pollA, pollB *zmq.Poller
}

func newRawPair(b *testing.B) *rawPair {
	b.Helper()
	newCtx := func() *zmq.Context {
		c, err := zmq.NewContext()
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	mk := func(c *zmq.Context, t zmq.Type) *zmq.Socket {
		s, err := c.NewSocket(t)
		if err != nil {
			b.Fatal(err)
		}
		s.SetLinger(0)
		return s
	}
	p := &rawPair{ctxA: newCtx(), ctxB: newCtx()}
	p.inA, p.inB = mk(p.ctxA, zmq.ROUTER), mk(p.ctxB, zmq.ROUTER)
	for _, in := range []*zmq.Socket{p.inA, p.inB} {
		in.SetRcvhwm(routerRcvHWM)
		if err := in.Bind("tcp://127.0.0.1:*"); err != nil {
			b.Fatal(err)
		}
	}
	epA, _ := p.inA.GetLastEndpoint()
	epB, _ := p.inB.GetLastEndpoint()
	p.toB, p.toA = mk(p.ctxA, zmq.DEALER), mk(p.ctxB, zmq.DEALER)
	p.toB.SetIdentity("\x01AAAAAAAAAAAAAAAA")
	p.toA.SetIdentity("\x01BBBBBBBBBBBBBBBB")
	for _, d := range []*zmq.Socket{p.toB, p.toA} {
		d.SetSndhwm(dealerSndHWM)
	}
	p.toB.Connect(epB)
	p.toA.Connect(epA)
	p.pollA, p.pollB = zmq.NewPoller(), zmq.NewPoller()
	p.pollA.Add(p.inA, zmq.POLLIN)
	p.pollB.Add(p.inB, zmq.POLLIN)
	return p
}

func (p *rawPair) close() {
	for _, s := range []*zmq.Socket{p.inA, p.inB, p.toA, p.toB} {
		s.Close()
	}
	p.ctxA.Term()
	p.ctxB.Term()
}

// recv waits (bounded) for one message on in and returns its payload.
func rawRecv(in *zmq.Socket, poll *zmq.Poller) ([]byte, error) {
	for {
		msg, err := in.RecvMessageBytes(zmq.DONTWAIT)
		if err == nil {
			return msg[len(msg)-1], nil
		}
		if !isEAGAIN(err) {
			return nil, err
		}
		if polled, err := poll.Poll(benchDeadline); err != nil || len(polled) == 0 {
			return nil, fmt.Errorf("raw receive: timeout or %v", err)
		}
	}
}

// meshPair is two started mesh nodes that have entered each other.
func newMeshPair(b *testing.B, queue int) (*Node, *Node) {
	b.Helper()
	start := func(cfg Config) *Node {
		cfg.Bind = "127.0.0.1"
		cfg.EventQueue = queue
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		n.filter = loopbackOnly
		if err := n.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Stop() })
		return n
	}
	x := start(Config{Name: "x"})
	y := start(Config{Name: "y", Peers: []string{x.Endpoint()}})
	for _, n := range []*Node{x, y} {
		timeout := time.After(benchDeadline)
		for entered := false; !entered; {
			select {
			case ev := <-n.Events():
				entered = ev.Type == EventEnter
			case <-timeout:
				b.Fatal("nodes did not meet")
			}
		}
	}
	return x, y
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkWhisperLatency measures the round trip of a 100-byte whisper
// (A -> B, B echoes) through mesh and through raw zmq4, alternating blocks
// of samples so that both see the same machine load.
func BenchmarkWhisperLatency(b *testing.B) {
	const minSamples, block = 10000, 100
	samples := max(b.N, minSamples)
	payload := make([]byte, 100)

	raw := newRawPair(b)
	defer raw.close()
	rawDone := make(chan error, 1)
	go func() { // B: echo
		for {
			msg, err := rawRecv(raw.inB, raw.pollB)
			if err != nil {
				rawDone <- err
				return
			}
			if len(msg) == 0 { // stop marker
				rawDone <- nil
				return
			}
			if _, err := raw.toA.SendBytes(msg, 0); err != nil {
				rawDone <- err
				return
			}
		}
	}()

	x, y := newMeshPair(b, DefaultEventQueue)
	meshDone := make(chan error, 1)
	go func() { // y: echo
		for ev := range y.Events() {
			if ev.Type != EventWhisper {
				continue
			}
			if err := y.Whisper(ev.Peer, ev.Payload); err != nil {
				meshDone <- err
				return
			}
		}
		meshDone <- nil
	}()

	rawRTT := make([]time.Duration, 0, samples)
	meshRTT := make([]time.Duration, 0, samples)
	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	// Warm up both paths.
	for range 200 {
		raw.toB.SendBytes(payload, 0)
		if _, err := rawRecv(raw.inA, raw.pollA); err != nil {
			b.Fatal(err)
		}
		x.Whisper(y.UUID(), payload)
		for ev := range x.Events() {
			if ev.Type == EventWhisper {
				break
			}
		}
	}
	b.ResetTimer()
	for len(meshRTT) < samples {
		for range block {
			t0 := time.Now()
			if _, err := raw.toB.SendBytes(payload, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := rawRecv(raw.inA, raw.pollA); err != nil {
				b.Fatal(err)
			}
			rawRTT = append(rawRTT, time.Since(t0))
		}
		for range block {
			t0 := time.Now()
			if err := x.Whisper(y.UUID(), payload); err != nil {
				b.Fatal(err)
			}
		wait:
			for {
				select {
				case ev := <-x.Events():
					if ev.Type == EventWhisper {
						break wait
					}
				case err := <-meshDone:
					b.Fatalf("echo ended: %v", err)
				case <-timeout.C:
					b.Fatal("mesh round trip timed out")
				}
			}
			meshRTT = append(meshRTT, time.Since(t0))
		}
	}
	b.StopTimer()
	raw.toB.SendBytes(nil, 0)
	if err := <-rawDone; err != nil {
		b.Fatal(err)
	}
	mp50, mp99 := percentile(meshRTT, .50), percentile(meshRTT, .99)
	rp50, rp99 := percentile(rawRTT, .50), percentile(rawRTT, .99)
	b.ReportMetric(float64(mp50.Nanoseconds())/1e3, "mesh-p50-µs")
	b.ReportMetric(float64(mp99.Nanoseconds())/1e3, "mesh-p99-µs")
	b.ReportMetric(float64(rp50.Nanoseconds())/1e3, "raw-p50-µs")
	b.ReportMetric(float64(rp99.Nanoseconds())/1e3, "raw-p99-µs")
	b.ReportMetric(float64(mp50)/float64(rp50), "p50-ratio")
	b.ReportMetric(float64(mp99)/float64(rp99), "p99-ratio")
	b.ReportMetric(float64(mp50.Nanoseconds()), "ns/op")
}

// BenchmarkWhisperThroughput measures one-way throughput (A sends, B
// counts) of 100-byte and 64 KiB payloads through mesh and raw zmq4.
func BenchmarkWhisperThroughput(b *testing.B) {
	for _, tc := range []struct {
		name       string
		size       int
		minMsgs    int
		eventQueue int
	}{
		{"100B", 100, 200000, 1 << 16},
		{"64KiB", 64 << 10, 20000, 2048},
	} {
		b.Run(tc.name, func(b *testing.B) {
			msgs := max(b.N, tc.minMsgs)
			payload := make([]byte, tc.size)
			payload[0] = 1 // never empty: the raw receiver uses empty as "stop"

			raw := newRawPair(b)
			defer raw.close()
			x, y := newMeshPair(b, tc.eventQueue)

			runRaw := func(n int) time.Duration {
				got := make(chan error, 1)
				go func() {
					for i := 0; i < n; i++ {
						if _, err := rawRecv(raw.inB, raw.pollB); err != nil {
							got <- err
							return
						}
					}
					got <- nil
				}()
				t0 := time.Now()
				for range n {
					if _, err := raw.toB.SendBytes(payload, 0); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-got; err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			var lost uint64
			runMesh := func(n int) time.Duration {
				got := make(chan error, 1)
				go func() {
					timeout := time.After(benchDeadline)
					for i := 0; i < n; {
						select {
						case ev := <-y.Events():
							switch ev.Type {
							case EventWhisper:
								i++
							case EventOverflow:
								lost += ev.Dropped
								i += int(ev.Dropped)
							}
						case <-timeout:
							got <- errors.New("mesh receive timed out")
							return
						}
					}
					got <- nil
				}()
				t0 := time.Now()
				for i := 0; i < n; {
					err := x.Whisper(y.UUID(), payload)
					switch {
					case err == nil:
						i++
					case errors.Is(err, ErrPeerBusy):
						time.Sleep(20 * time.Microsecond)
					default:
						b.Fatal(err)
					}
				}
				if err := <-got; err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			runRaw(msgs / 10) // warm up
			runMesh(msgs / 10)
			b.ResetTimer()
			// Alternate halves so that both see the same load.
			var rawT, meshT time.Duration
			for range 2 {
				rawT += runRaw(msgs / 2)
				meshT += runMesh(msgs / 2)
			}
			b.StopTimer()
			n := float64(msgs / 2 * 2)
			rawRate, meshRate := n/rawT.Seconds(), n/meshT.Seconds()
			b.ReportMetric(meshRate, "mesh-msgs/s")
			b.ReportMetric(rawRate, "raw-msgs/s")
			b.ReportMetric(meshRate*float64(tc.size)/1e6, "mesh-MB/s")
			b.ReportMetric(rawRate*float64(tc.size)/1e6, "raw-MB/s")
			b.ReportMetric(meshRate/rawRate, "ratio")
			b.ReportMetric(float64(lost), "mesh-lost")
			b.ReportMetric(float64(meshT.Nanoseconds())/n, "ns/op")
			b.Logf("sender %+v", x.Stats())
			b.Logf("receiver %+v", y.Stats())
		})
	}
}
