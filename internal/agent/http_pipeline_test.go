package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/route"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

// pipeline builds an httpStage over a fake procfs-less table, followed by
// what follows it in the agent's pipeline: enrichment and the route.
func pipeline(t *testing.T) (*httpStage, *[]event.HTTP) {
	p, got, _ := pipelineTIDs(t)
	return p, got
}

// pipelineTIDs is pipeline that also records each event's thread id.
func pipelineTIDs(t *testing.T) (*httpStage, *[]event.HTTP, *[]uint32) {
	t.Helper()
	var got []event.HTTP
	var tids []uint32
	table := proc.NewTable(proc.TableOptions{ProcRoot: t.TempDir()})
	table.Exec(event.Process{PID: 10, Comm: "srv", Exe: "/usr/bin/srv", Args: []string{"srv"}, Service: "shop"}, 1)
	routes := route.NewResolver(nil, 100)
	var p *httpStage
	p = newHTTPStage(table, bpfrt.Clock{}, 4, 0, func(ev *event.Event) {
		p.enrich(ev)
		routes.Resolve(ev)
		if ev.Process.Service != "shop" {
			t.Errorf("service %q", ev.Process.Service)
		}
		got = append(got, *ev.HTTP)
		tids = append(tids, ev.Process.TID)
	})
	return p, &got, &tids
}

func open(p *httpStage, id uint64, ts uint64) {
	p.handle(&sockdata.Record{Type: bpfrt.RecordConnOpen, ConnID: id, PID: 10, TID: 10, Side: sockdata.Server,
		Local: event.Endpoint{Addr: "127.0.0.1", Port: 80}, Peer: event.Endpoint{Addr: "127.0.0.1", Port: 5000}, KtimeNs: ts})
}

func data(p *httpStage, id uint64, dir sockdata.Direction, pos uint64, b string, enter, exit uint64) {
	p.handle(&sockdata.Record{Type: bpfrt.RecordData, ConnID: id, PID: 10, TID: 10 + uint32(dir), Direction: dir, Pos: pos, Size: uint32(len(b)),
		Data: []byte(b), EnterNs: enter, ExitNs: exit})
}

func TestPipelineEmitsExchanges(t *testing.T) {
	p, got, tids := pipelineTIDs(t)
	open(p, 1, 100)
	req := "GET /a/123?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	data(p, 1, sockdata.Ingress, 0, req, 100, 200)
	resp := "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"
	data(p, 1, sockdata.Egress, 0, resp, 900, 1200)
	p.stitch.FlushAll()
	if len(*got) != 1 {
		t.Fatalf("want 1 exchange, got %d", len(*got))
	}
	h := (*got)[0]
	if h.Side != "server" || h.Method != "GET" || h.Path != "/a/123" || h.Route != "/a/{id}" || h.Status != 503 ||
		h.DurationNs != 1000 || h.ResponseBodyBytes != 4 || h.Local.Port != 80 {
		t.Errorf("exchange %+v", h)
	}
	// The server event's thread is the one that read the request.
	if (*tids)[0] != 10+uint32(sockdata.Ingress) {
		t.Errorf("tid %d, want the reading thread %d", (*tids)[0], 10+uint32(sockdata.Ingress))
	}
}

func TestPipelineTraceContext(t *testing.T) {
	p, got := pipeline(t)
	open(p, 1, 100)
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req := "GET / HTTP/1.1\r\ntraceparent: 00-" + tid + "-" + sid + "-01\r\n\r\n"
	data(p, 1, sockdata.Ingress, 0, req, 100, 200)
	data(p, 1, sockdata.Egress, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 300, 400)
	req2 := "GET / HTTP/1.1\r\n\r\n"
	data(p, 1, sockdata.Ingress, uint64(len(req)), req2, 500, 600)
	data(p, 1, sockdata.Egress, uint64(len("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 700, 800)
	p.stitch.FlushAll()
	if len(*got) != 2 {
		t.Fatalf("want 2 exchanges, got %d", len(*got))
	}
	joined, own := (*got)[0], (*got)[1]
	if joined.TraceID != tid || joined.ParentSpanID != sid || len(joined.SpanID) != 16 || joined.SpanID == sid {
		t.Errorf("server span with traceparent: trace %s parent %s span %s", joined.TraceID, joined.ParentSpanID, joined.SpanID)
	}
	if own.TraceID == tid || len(own.TraceID) != 32 || own.ParentSpanID != "" || len(own.SpanID) != 16 {
		t.Errorf("server span without traceparent: trace %s parent %q span %s", own.TraceID, own.ParentSpanID, own.SpanID)
	}
}

func TestPipelineDataWithoutOpenIsCounted(t *testing.T) {
	p, got := pipeline(t)
	data(p, 99, sockdata.Ingress, 0, "GET / HTTP/1.1\r\n\r\n", 1, 2)
	if len(*got) != 0 || p.stats.orphanData.Load() != 1 {
		t.Errorf("exchanges %d, orphan data %d", len(*got), p.stats.orphanData.Load())
	}
}

func TestPipelineClosesConnectionsOfExitedProcessesAfterGrace(t *testing.T) {
	p, _ := pipeline(t)
	open(p, 1, 100)
	p.exitedAt(10, 1000)
	p.sweep(1000 + uint64(exitGrace) - 1)
	if len(p.conns) != 1 {
		t.Fatal("closed before the grace period")
	}
	p.sweep(1000 + uint64(exitGrace))
	if len(p.conns) != 0 || len(p.byPID) != 0 || len(p.exited) != 0 {
		t.Errorf("after grace: %d conns, %d pids, %d exited", len(p.conns), len(p.byPID), len(p.exited))
	}
}

func TestPipelineDropsIdleAndBoundsConnections(t *testing.T) {
	p, _ := pipeline(t)
	start := uint64(time.Hour)
	open(p, 1, start)
	open(p, 2, start+uint64(10*time.Minute))
	p.sweep(start + uint64(idleTimeout) + 1)
	if _, ok := p.conns[1]; ok || len(p.conns) != 1 {
		t.Errorf("idle connection kept: %d conns", len(p.conns))
	}
	for id := uint64(10); id < 20; id++ {
		open(p, id, start)
	}
	if len(p.conns) != 4 || p.stats.evicted.Load() != 7 {
		t.Errorf("cap 4: %d conns, %d evicted", len(p.conns), p.stats.evicted.Load())
	}
}

// Connections that never finish their headers hold at most the stage's
// header budget in all; what it gives up is counted when they end, and a
// dropped connection returns its share.
func TestPipelineBoundsPartialHeaders(t *testing.T) {
	table := proc.NewTable(proc.TableOptions{ProcRoot: t.TempDir()})
	const budget = 64 << 10
	p := newHTTPStage(table, bpfrt.Clock{}, 1000, budget, func(*event.Event) {})
	head := "GET / HTTP/1.1\r\nCookie: " + strings.Repeat("c", 3000)
	for id := uint64(1); id <= 100; id++ {
		open(p, id, 100)
		data(p, id, sockdata.Ingress, 0, head[:1500], 100, 200)
		data(p, id, sockdata.Ingress, 1500, head[1500:], 300, 400)
		if used := p.budget.Used(); used > budget {
			t.Fatalf("after %d connections: %d bytes buffered, budget %d", id, used, budget)
		}
	}
	for id := uint64(1); id <= 100; id++ {
		p.close(id, 500)
	}
	if used := p.budget.Used(); used != 0 {
		t.Errorf("%d bytes still buffered after every connection closed", used)
	}
	if n := p.stats.overBudget.Load(); n == 0 || n >= 100 {
		t.Errorf("%d partial blocks given up of 100; want the oldest, not none or all", n)
	}
}

// Once most of a flood of connections has ended, the stage hands the
// memory back, once, and not again for a while.
func TestPipelineReturnsMemoryAfterAFlood(t *testing.T) {
	table := proc.NewTable(proc.TableOptions{ProcRoot: t.TempDir()})
	p := newHTTPStage(table, bpfrt.Clock{}, 4*floodConns, 0, func(*event.Event) {})
	now := uint64(time.Hour)
	for id := uint64(1); id <= 2*floodConns; id++ {
		open(p, id, now)
	}
	p.sweep(now)
	for id := uint64(1); id <= floodConns+floodConns/2; id++ {
		p.close(id, now)
	}
	p.sweep(now + uint64(time.Second))
	if n := p.stats.memoryReturns.Load(); n != 1 {
		t.Fatalf("memory handed back %d times after the flood ended, want 1", n)
	}
	p.sweep(now + uint64(2*time.Second))
	if n := p.stats.memoryReturns.Load(); n != 1 {
		t.Errorf("memory handed back %d times, want once per flood", n)
	}
}
