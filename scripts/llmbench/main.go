// Command llmbench measures what the gateway adds to a streamed OpenAI chat completion, out of
// process: a client streams /v1/chat/completions from an OpenAI-format stub (its own process, 20
// SSE chunks flushed one by one) directly and through the agentgateway binary (the `llm:` YAML short
// form, access log on, written to a file), in alternating rounds so that both sides see the same
// machine load. It reports per side the p50 of the whole call and of the time to the first content
// token (TTFT), what the gateway adds to each, and the gateway's CPU time per call (/proc).
//
//	go run ./scripts/llmbench [-calls 1000] [-rounds 6] [-gateway path/to/agentgateway]
//
// Without -gateway the binary is built from ./cmd/agentgateway. Linux only (/proc).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentgw/agentgateway/scripts/internal/benchproc"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upstream" {
		upstream()
		return
	}
	calls := flag.Int("calls", 1000, "streamed calls per side per round")
	rounds := flag.Int("rounds", 6, "rounds (direct and gateway alternate)")
	bin := flag.String("gateway", "", "agentgateway binary (default: built from ./cmd/agentgateway)")
	flag.Parse()
	if err := run(*calls, *rounds, *bin); err != nil {
		log.Fatal(err)
	}
}

// upstream serves an OpenAI chat completions stub: streamed answers of 20 content chunks, a finish
// chunk, the usage chunk when asked, and [DONE]. It prints its address and runs until stdin closes.
func upstream() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		const head = `data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":`
		fmt.Fprint(w, head+`{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n")
		fl.Flush()
		for i := range 20 {
			fmt.Fprintf(w, head+`{"content":"tok%d "},"finish_reason":null}]}`+"\n\n", i)
			fl.Flush()
		}
		fmt.Fprint(w, head+`{},"finish_reason":"stop"}]}`+"\n\n")
		if bytes.Contains(body, []byte(`"include_usage":true`)) {
			fmt.Fprint(w, `data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`+"\n\n")
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	fmt.Println(ln.Addr().String())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	log.Fatal(http.Serve(ln, h))
}

type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

func (p *proc) stop() {
	if p.in != nil {
		p.in.Close()
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

const reqBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write twenty words."}]}`

// call streams one completion and returns the time to the first content token and to the end.
func call(c *http.Client, url string) (ttft, total time.Duration, err error) {
	t0 := time.Now()
	resp, err := c.Post(url, "application/json", strings.NewReader(reqBody))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line := sc.Bytes()
		if ttft == 0 && bytes.Contains(line, []byte(`"content":"tok`)) {
			ttft = time.Since(t0)
		}
		if bytes.Equal(line, []byte("data: [DONE]")) {
			done = true
		}
	}
	if !done || ttft == 0 {
		return 0, 0, errors.New("incomplete stream")
	}
	return ttft, time.Since(t0), sc.Err()
}

func run(calls, rounds int, bin string) error {
	dir, err := os.MkdirTemp("", "llmbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "agentgateway")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/agentgateway").CombinedOutput(); err != nil {
			return fmt.Errorf("building the gateway: %v\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	up := &proc{cmd: exec.Command(self, "upstream")}
	up.cmd.Stderr = os.Stderr
	if up.in, err = up.cmd.StdinPipe(); err != nil {
		return err
	}
	out, err := up.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := up.cmd.Start(); err != nil {
		return err
	}
	defer up.stop()
	upAddr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	upAddr = strings.TrimSpace(upAddr)

	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`llm:
  port: %d
  models:
  - name: gpt-4o-mini
    provider: openai
    params: {baseUrl: "http://%s/v1", apiKey: sk-bench}
`, port, upAddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	gw := &proc{cmd: exec.Command(bin, "-f", cfg, "--bind-address", "127.0.0.1", "--admin-addr", "off", "--stats-addr", "off", "--readiness-addr", "off")}
	gw.cmd.Stdout, gw.cmd.Stderr = logf, logf
	if err := gw.cmd.Start(); err != nil {
		return err
	}
	defer gw.stop()
	if err := benchproc.WaitListening(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		return err
	}
	directURL := "http://" + upAddr + "/v1/chat/completions"
	gwURL := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	measure := func(url string, n int) (ttft, total []time.Duration, err error) {
		for range n {
			a, b, err := call(client, url)
			if err != nil {
				return nil, nil, err
			}
			ttft, total = append(ttft, a), append(total, b)
		}
		return ttft, total, nil
	}
	for _, u := range []string{directURL, gwURL} { // warm-up
		if _, _, err := measure(u, 200); err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
	}
	fmt.Printf("llmbench: %d rounds x %d streamed calls per side (20 content chunks each)\n", rounds, calls)
	fmt.Printf("%-6s %11s %11s %11s %11s %11s %11s %12s\n", "round", "direct-p50", "gw-p50", "added-p50", "direct-ttft", "gw-ttft", "added-ttft", "gw-cpu/call")
	var aDT, aDA, aGT, aGA []time.Duration
	var cpuTotal time.Duration
	for r := range rounds {
		var dT, dA, gT, gA []time.Duration
		var cpu time.Duration
		gwRound := func() error {
			c0, err := benchproc.CPUTime(gw.cmd.Process.Pid)
			if err != nil {
				return err
			}
			if gT, gA, err = measure(gwURL, calls); err != nil {
				return err
			}
			c1, _ := benchproc.CPUTime(gw.cmd.Process.Pid)
			cpu = c1 - c0
			return nil
		}
		if r%2 == 0 {
			if dT, dA, err = measure(directURL, calls); err != nil {
				return err
			}
			if err := gwRound(); err != nil {
				return err
			}
		} else {
			if err := gwRound(); err != nil {
				return err
			}
			if dT, dA, err = measure(directURL, calls); err != nil {
				return err
			}
		}
		fmt.Printf("%-6d %11s %11s %11s %11s %11s %11s %12s\n", r, benchproc.Us(benchproc.P50(dA)), benchproc.Us(benchproc.P50(gA)), benchproc.Us(benchproc.P50(gA)-benchproc.P50(dA)),
			benchproc.Us(benchproc.P50(dT)), benchproc.Us(benchproc.P50(gT)), benchproc.Us(benchproc.P50(gT)-benchproc.P50(dT)), benchproc.Us(cpu/time.Duration(calls)))
		aDT, aDA, aGT, aGA = append(aDT, dT...), append(aDA, dA...), append(aGT, gT...), append(aGA, gA...)
		cpuTotal += cpu
	}
	fmt.Printf("%-6s %11s %11s %11s %11s %11s %11s %12s\n", "all", benchproc.Us(benchproc.P50(aDA)), benchproc.Us(benchproc.P50(aGA)), benchproc.Us(benchproc.P50(aGA)-benchproc.P50(aDA)),
		benchproc.Us(benchproc.P50(aDT)), benchproc.Us(benchproc.P50(aGT)), benchproc.Us(benchproc.P50(aGT)-benchproc.P50(aDT)), benchproc.Us(cpuTotal/time.Duration(calls*rounds)))
	return nil
}
