// Command chatkit measures the ChatKit handler through Caddy, in one run:
//
//  1. time to the first SSE event and to the first assistant text delta of
//     threads.create and threads.add_user_message, against the echo
//     responder called directly (no HTTP, no database) — the difference is
//     what the handler, Caddy and PostgreSQL add before the model starts;
//  2. threads.get_by_id and items.list (limit 100) latency on a 100-item
//     thread on PostgreSQL;
//  3. 1,000 concurrent streams (echo with a delay between words) without
//     error, with peak memory.
//
// Run: go run ./bench/chatkit [-n 1000] [-streams 1000] [-sqlite] [-cpuprofile f] [-memprofile f]
// DATABASE_URL picks the PostgreSQL server (default: the test server); the
// benchmark works in a schema of its own and drops it at the end. -sqlite
// runs on an SQLite file instead. -n 0 skips parts 1 and 2. Caddy runs in
// this process; the streams of part 3 are opened by a child process (this
// program with -client), so that each side has the whole file-descriptor
// limit, and the server's CPU time per stream is read from getrusage.
// -cpuprofile and -memprofile profile the server process over the whole
// run (allocations: -memprofile writes the allocs profile at the end).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"github.com/intellistack/intellistack/modules/chatkit"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	_ "github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddy.RegisterModule(benchIdentity{})
	httpcaddyfile.RegisterHandlerDirective("bench_identity", func(httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		return new(benchIdentity), nil
	})
}

// benchIdentity sets {http.auth.user.id} from X-User, standing in for
// bearer_jwt so that token checks are not part of the measurement.
type benchIdentity struct{}

func (benchIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.bench_identity", New: func() caddy.Module { return new(benchIdentity) }}
}

func (benchIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Set("http.auth.user.id", r.Header.Get("X-User"))
	return next.ServeHTTP(w, r)
}

func main() {
	n := flag.Int("n", 1000, "measured turns per operation (0: only the concurrent streams)")
	streams := flag.Int("streams", 1000, "concurrent streams")
	useSQLite := flag.Bool("sqlite", false, "run on an SQLite file instead of PostgreSQL")
	cpuProfile := flag.String("cpuprofile", "", "write the server's CPU profile to this file")
	memProfile := flag.String("memprofile", "", "write the server's allocation profile to this file")
	clientURL := flag.String("client", "", "internal: open the concurrent streams against this URL and report")
	flag.Parse()
	if *clientURL != "" {
		concurrent(*clientURL, *streams)
		return
	}

	dir, _ := os.MkdirTemp("", "chatkit-bench-")
	defer os.RemoveAll(dir)
	database, dbName := filepath.Join(dir, "chatkit.db"), "SQLite"
	if !*useSQLite {
		pgURL, drop := benchkit.FreshSchema(benchkit.PostgresURL(), "bench_chatkit", map[string]string{"pool_max_conns": "20"})
		defer drop()
		database, dbName = pgURL, "PostgreSQL"
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		benchkit.Must(err)
		benchkit.Must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			f, err := os.Create(*memProfile)
			benchkit.Must(err)
			benchkit.Must(pprof.Lookup("allocs").WriteTo(f, 0))
			f.Close()
		}()
	}

	port := benchkit.FreePort()
	cf := benchkit.GlobalOptions(port, dir, database) + fmt.Sprintf(`
http://:%d {
	route /base {
		bench_identity
		respond "ok"
	}
	route /chatkit {
		bench_identity
		chatkit {
			responder echo
		}
	}
	route /slow {
		bench_identity
		chatkit {
			responder echo {
				delay 100ms
			}
		}
	}
}
`, port)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(cfg, true))
	defer caddy.Stop()
	root := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0, DisableCompression: true}}
	waitUp(client, root+"/base")

	fmt.Printf("ChatKit handler through Caddy v2.11.9 on %s (%s), GOMAXPROCS=%d, n=%d\n\n",
		dbName, time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), *n)
	if *n > 0 {
		turnsAndHistory(client, root, *n, dbName)
	}

	// 3. Concurrent streams, from a child process.
	cpu0 := benchkit.CPUTime()
	cmd := exec.Command(os.Args[0], "-client", root+"/slow", "-streams", strconv.Itoa(*streams))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	benchkit.Must(cmd.Run())
	fmt.Printf("  server process: CPU %.2f ms per stream (user+system, getrusage), peak RSS %s\n",
		float64((benchkit.CPUTime()-cpu0).Microseconds())/1000/float64(*streams), vmHWM())
	clientCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Printf("  client process: CPU %.2f ms per stream (user+system)\n", float64(clientCPU.Microseconds())/1000/float64(*streams))
}

// turnsAndHistory runs parts 1 and 2.
func turnsAndHistory(client *http.Client, root string, n int, dbName string) {

	// 1. Time to first event / first delta, interleaved turn by turn with the
	// direct responder call and a bare Caddy round trip.
	var direct, bare, createEv, createDelta, addEv, addDelta []time.Duration
	thread := ""
	echo := &chatkit.Echo{}
	for i := 0; i < n+50; i++ {
		d := directFirstDelta(echo)
		b := bareRoundTrip(client, root+"/base")
		ev, delta, id := firstFrames(client, root+"/chatkit", "bench", createBody(fmt.Sprintf("hello %d", i)))
		if i%20 == 0 || thread == "" {
			thread = id // keep threads short: history grows to 40 items at most
		}
		ev2, delta2, _ := firstFrames(client, root+"/chatkit", "bench", addBody(thread, fmt.Sprintf("again %d", i)))
		if i < 50 {
			continue // warm-up
		}
		direct, bare = append(direct, d), append(bare, b)
		createEv, createDelta = append(createEv, ev), append(createDelta, delta)
		addEv, addDelta = append(addEv, ev2), append(addDelta, delta2)
	}
	fmt.Println("Time to first event / first assistant delta (client clock, request sent → frame read):")
	fmt.Printf("%-44s %10s %10s %14s %14s\n", "", "p50", "p99", "p50 added", "p99 added")
	row := func(name string, d []time.Duration, ref []time.Duration) {
		fmt.Printf("%-44s %10s %10s %14s %14s\n", name, pct(d, 50), pct(d, 99),
			sub(benchkit.Percentile(d, 50), benchkit.Percentile(ref, 50)), sub(benchkit.Percentile(d, 99), benchkit.Percentile(ref, 99)))
	}
	row("echo responder called directly: 1st delta", direct, direct)
	row("bare Caddy round trip (respond \"ok\")", bare, direct)
	row("threads.create: first event", createEv, direct)
	row("threads.create: first delta", createDelta, direct)
	row("threads.add_user_message: first event", addEv, direct)
	row("threads.add_user_message: first delta", addDelta, direct)
	fmt.Println()

	// 2. History load on a 100-item thread.
	_, _, hist := firstFrames(client, root+"/chatkit", "historian", createBody("turn 0"))
	for i := 1; i < 50; i++ {
		firstFrames(client, root+"/chatkit", "historian", addBody(hist, fmt.Sprintf("turn %d", i)))
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	b := postJSON(client, root+"/chatkit", "historian", `{"type":"items.list","params":{"thread_id":"`+hist+`","limit":100}}`)
	benchkit.Must(json.Unmarshal(b, &page))
	if len(page.Data) != 100 {
		panic(fmt.Sprintf("history thread has %d items", len(page.Data)))
	}
	var getByID, list100 []time.Duration
	for i := 0; i < n+50; i++ {
		t0 := time.Now()
		postJSON(client, root+"/chatkit", "historian", `{"type":"threads.get_by_id","params":{"thread_id":"`+hist+`"}}`)
		t1 := time.Now()
		postJSON(client, root+"/chatkit", "historian", `{"type":"items.list","params":{"thread_id":"`+hist+`","limit":100,"order":"asc"}}`)
		t2 := time.Now()
		if i >= 50 {
			getByID, list100 = append(getByID, t1.Sub(t0)), append(list100, t2.Sub(t1))
		}
	}
	fmt.Printf("History load, 100-item thread on %s (full HTTP round trip):\n", dbName)
	fmt.Printf("%-44s %10s %10s %10s\n", "", "p50", "p99", "max")
	fmt.Printf("%-44s %10s %10s %10s\n", "threads.get_by_id (thread + first 20 items)", pct(getByID, 50), pct(getByID, 99), pct(getByID, 100))
	fmt.Printf("%-44s %10s %10s %10s\n", "items.list limit 100", pct(list100, 50), pct(list100, 99), pct(list100, 100))
	fmt.Printf("%-44s %10s %10s %10s\n", "bare Caddy round trip (for reference)", pct(bare, 50), pct(bare, 99), pct(bare, 100))
	fmt.Println()
}

// directFirstDelta calls the echo responder with a stream that only notes
// the first text delta.
func directFirstDelta(echo *chatkit.Echo) time.Duration {
	s := &firstDeltaStream{}
	req := &responder.Request{ThreadID: "thr_x", Input: &protocol.UserMessageItem{ID: "m", Content: []protocol.UserContent{{Type: "input_text", Text: "hello there"}}}}
	begin := time.Now()
	s.begin = begin
	_ = echo.Respond(context.Background(), req, s)
	return s.first
}

type firstDeltaStream struct {
	begin time.Time
	first time.Duration
}

func (s *firstDeltaStream) Emit(ev protocol.Event) error {
	if u, ok := ev.(protocol.ItemUpdated); ok && s.first == 0 {
		if _, ok := u.Update.(protocol.TextDelta); ok {
			s.first = time.Since(s.begin)
		}
	}
	return nil
}
func (s *firstDeltaStream) NewItemID(p string) string { return protocol.NewID(p) }
func (s *firstDeltaStream) Now() time.Time            { return time.Now() }
func (s *firstDeltaStream) ThreadID() string          { return "thr_x" }
func (s *firstDeltaStream) SetTitle(string)           {}

func bareRoundTrip(c *http.Client, u string) time.Duration {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("X-User", "bench")
	t0 := time.Now()
	resp, err := c.Do(req)
	benchkit.Must(err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(t0)
}

// firstFrames posts a streaming operation, notes when the first frame and
// the first text delta arrive, reads the rest, and returns the thread id.
func firstFrames(c *http.Client, u, user, body string) (time.Duration, time.Duration, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("X-User", user)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := c.Do(req)
	benchkit.Must(err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode, b))
	}
	br := bufio.NewReader(resp.Body)
	var first, delta time.Duration
	thread := ""
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		benchkit.Must(err)
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		if first == 0 {
			first = time.Since(t0)
		}
		if delta == 0 && bytes.Contains(line, []byte(`content_part.text_delta"`)) {
			delta = time.Since(t0)
		}
		if thread == "" && bytes.Contains(line, []byte(`"thread_id":"`)) {
			i := bytes.Index(line, []byte(`"thread_id":"`)) + len(`"thread_id":"`)
			thread = string(line[i : i+bytes.IndexByte(line[i:], '"')])
		}
	}
	return first, delta, thread
}

func postJSON(c *http.Client, u, user, body string) []byte {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("X-User", user)
	resp, err := c.Do(req)
	benchkit.Must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	benchkit.Must(err)
	if resp.StatusCode != 200 {
		panic(fmt.Sprintf("status %d: %s", resp.StatusCode, b))
	}
	return b
}

// concurrent holds n streams open at once (echo waits 100 ms between
// words) and reports errors, wall time and peak memory.
func concurrent(u string, n int) {
	const text = "one two three four five six seven eight nine ten"
	want, body := "Echo: "+text, createBody(text)
	target, err := url.Parse(u)
	benchkit.Must(err)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peakHeap, peakSys atomic.Uint64
	var open, peakOpen atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			if ms.Sys > peakSys.Load() {
				peakSys.Store(ms.Sys)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var errs atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := make(chan struct{})
	var durations = make([]time.Duration, n)
	var heads = make([]time.Duration, n)
	var onConn = make([]time.Duration, n) // from the connection to the end
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			t0 := time.Now()
			var conn time.Time
			err := oneStream(target.Host, target.Path, fmt.Sprintf("user%d", i%100), body, want,
				&open, &peakOpen, func() { conn = time.Now() }, func() { heads[i] = time.Since(t0) })
			durations[i] = time.Since(t0)
			onConn[i] = time.Since(conn)
			if err != nil {
				errs.Add(1)
				firstErr.Do(func() { fmt.Println("  first error:", err) })
			}
		}(i)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	close(stop)
	<-sampled
	fmt.Printf("%d concurrent streams (threads.create, echo with 100 ms between words, 11 deltas each):\n", n)
	fmt.Printf("  errors: %d; peak streams open at once: %d; wall time %s; stream p50 %s, p99 %s\n",
		errs.Load(), peakOpen.Load(), wall.Round(time.Millisecond), pct(durations, 50), pct(durations, 99))
	fmt.Printf("  response headers (thread stored) p50 %s, p99 %s; stream from its connection (TCP connect excluded) p50 %s, p99 %s\n",
		pct(heads, 50), pct(heads, 99), pct(onConn, 50), pct(onConn, 99))
	fmt.Printf("  client process: peak Go heap in use %.1f MiB (%.1f MiB before), peak memory from the OS %.1f MiB, peak RSS %s\n",
		mib(peakHeap.Load()), mib(before.HeapInuse), mib(peakSys.Load()), vmHWM())
}

// oneStream does what a student's browser does for one question: it opens
// a connection, posts threads.create and reads the event stream to its end.
// It does so with the raw connection and benchkit's minimal HTTP/1.1
// reader rather than net/http's Transport (two goroutines, a request and a
// header map per stream): the 10,000 browsers it stands for run on
// machines of their own, while this process shares the server's two
// cores, and the Transport's 0.20 ms of CPU per stream was half the
// server's own (0.15 ms now).
func oneStream(host, path, user, body, want string, open, peak *atomic.Int64, connected, head func()) error {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	connected()
	req := "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nX-User: " + user +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	h, err := benchkit.ReadHead(br)
	if err != nil {
		return err
	}
	head()
	var b []byte
	if h.Status != 200 {
		_ = benchkit.ReadBody(br, h, &b)
		return fmt.Errorf("status %d: %s", h.Status, b)
	}
	cur := open.Add(1)
	defer open.Add(-1)
	for {
		p := peak.Load()
		if cur <= p || peak.CompareAndSwap(p, cur) {
			break
		}
	}
	if err := benchkit.ReadBody(br, h, &b); err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(`"text":"`+want+`"`)) || bytes.Contains(b, []byte(`"type":"error"`)) {
		return fmt.Errorf("incomplete stream: %.300s", b)
	}
	return nil
}

func createBody(text string) string {
	b, _ := json.Marshal(text)
	return `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":` + string(b) + `}],"quoted_text":"","attachments":[],"inference_options":{}}}}`
}

func addBody(thread, text string) string {
	b, _ := json.Marshal(text)
	return `{"type":"threads.add_user_message","params":{"thread_id":"` + thread + `","input":{"content":[{"type":"input_text","text":` + string(b) + `}],"attachments":[],"inference_options":{}}}}`
}

func pct(d []time.Duration, p int) string { return round(benchkit.Percentile(d, p)).String() }

func sub(a, b time.Duration) string { return round(a - b).String() }

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond || d < -10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
			}
		}
	}
	return "n/a"
}

func waitUp(c *http.Client, u string) {
	for i := 0; i < 300; i++ {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("X-User", "x")
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	panic("Caddy did not come up")
}
