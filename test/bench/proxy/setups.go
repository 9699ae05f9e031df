package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Host names the benchmark's requests carry. slinkerd routes by them;
// the peers route by port and ignore them.
const (
	hostHTTP = "bench"      // HTTP/1.1 and h2c requests
	hostGRPC = "bench-grpc" // gRPC requests
)

// Protocols measured, in table order.
const (
	protoH1   = "h1"
	protoH2C  = "h2c"
	protoGRPC = "grpc"
)

// env is what every setup is started with.
type env struct {
	backend backendPorts
	dir     string // scratch directory for configs and logs
	cpus    string // taskset CPU list for the proxy, "" for none
	workers int    // worker threads or processes each proxy gets
}

// setup is one way of putting (or not putting) a proxy in front of the
// backend.
type setup struct {
	// name is the setup's column in the table.
	name string
	// binary is the proxy's main executable; "" for direct and for
	// setups built from this repository.
	binary string
	// missing says why the setup cannot run here ("" when it can).
	missing string
	// start launches one instance. Each start writes its own config in
	// a fresh subdirectory of env.dir.
	start func(e *env, tag string) (*instance, error)
	// optIn runs the setup only when -setups names it.
	optIn bool
	// env is added to a slinkerd setup's environment.
	env []string
}

// instance is one running setup.
type instance struct {
	proc *proc // nil for direct
	// addrs maps each protocol to the address serving it; a protocol
	// without an address is not supported by the setup.
	addrs map[string]string
	// unsupported explains the protocols the setup cannot serve.
	unsupported map[string]string
}

func (in *instance) stop() {
	if in != nil && in.proc != nil {
		in.proc.stop(3 * time.Second)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func freeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// setups returns every setup in table order: direct first, then
// slinkerd, then the peers, HAProxy first since ratios are taken to it.
//
// slinkerd-lambda is the build the Lambda layer ships (the Makefile's
// LAYER_TAGS: no Google SDK, no AWS shared-config chain), which matters
// for start-up and memory, run with GOGC=50 as the extension runs; it is
// skipped when lambdaBin does not exist.
func setups(slinkerdBin, lambdaBin string) []*setup {
	ss := []*setup{
		{name: "direct", start: startDirect},
		{name: "slinkerd", binary: slinkerdBin},
		// As the extension runs (lambdaext.ExtensionGCPercent).
		{name: "slinkerd-lambda", binary: lambdaBin, env: []string{"GOGC=50"}},
		{name: "haproxy", binary: "haproxy", start: startHAProxy},
		{name: "nginx", binary: "nginx", start: startNginx},
		{name: "caddy", binary: "caddy", start: startCaddy},
		// bareh2 is the floor of a frame-level HTTP/2 proxy in Go
		// (test/bench/bareh2), for issue 17's notes: h2c and gRPC only.
		{name: "bareh2", start: startBareH2, optIn: true},
		// The HTTP/1.1 floors, for issue 16's notes: Go with a goroutine
		// per connection (test/bench/bareproxy) and Go on raw epoll
		// (test/bench/bareloop).
		{name: "bareproxy", start: startBareH1("bareproxy"), optIn: true},
		{name: "bareloop", start: startBareH1("bareloop"), optIn: true},
		// slinkerd's own servers and clients with no routing or policy
		// between them (test/bench/barestack), every protocol: what
		// separates the floors from slinkerd, split in two.
		{name: "barestack", start: startBarestack, optIn: true},
	}
	for _, s := range ss {
		if strings.HasPrefix(s.name, "slinkerd") {
			s.start = func(e *env, tag string) (*instance, error) { return startSlinkerd(e, tag, s.binary, s.env...) }
		}
		if s.binary == "" {
			continue
		}
		p, err := exec.LookPath(s.binary)
		if err != nil {
			s.missing = fmt.Sprintf("%s is not installed (make bench installs it from Debian; skipped)", s.binary)
			continue
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		s.binary = p
	}
	return ss
}

// buildBench builds the command test/bench/<name> once per run and
// returns its path.
func buildBench(e *env, name string) (string, error) {
	bin := filepath.Join(e.dir, name)
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "build", "-o", bin, "./test/bench/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build builds slinkerd
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("build %s: %w: %s", name, err, out)
		}
	}
	return bin, nil
}

// runBench builds test/bench/<name> (once per run) and starts it with n
// free addresses to listen on and the flags args makes of them; it
// returns the process and the addresses.
func runBench(e *env, tag, name string, n int, args func(listen []string) []string) (*proc, []string, error) {
	bin, err := buildBench(e, name)
	if err != nil {
		return nil, nil, err
	}
	a, err := freeAddrs(n)
	if err != nil {
		return nil, nil, err
	}
	p, err := startProc(name+"-"+tag, e.dir, e.cpus, append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", e.workers)), nil, nil,
		append([]string{bin}, args(a)...)...)
	return p, a, err
}

// startBareH2 runs test/bench/bareh2 in front of the backend's h2c and
// gRPC ports.
func startBareH2(e *env, tag string) (*instance, error) {
	p, a, err := runBench(e, tag, "bareh2", 2, func(a []string) []string {
		return []string{"-listen", a[0] + "," + a[1], "-upstream", e.backend.HTTP + "," + e.backend.GRPC}
	})
	if err != nil {
		return nil, err
	}
	return &instance{proc: p, addrs: map[string]string{protoH2C: a[0], protoGRPC: a[1]},
		unsupported: map[string]string{protoH1: "bareh2 is HTTP/2 only (bareproxy and bareloop are the HTTP/1.1 floors)"}}, nil
}

// startBarestack runs test/bench/barestack in front of the backend: one
// listener for HTTP/1.1, h2c and gRPC, the gRPC requests told apart by
// their Host, as slinkerd's dtab does.
func startBarestack(e *env, tag string) (*instance, error) {
	p, a, err := runBench(e, tag, "barestack", 1, func(a []string) []string {
		return []string{"-listen", a[0], "-upstream", e.backend.HTTP, "-upstream-grpc", e.backend.GRPC}
	})
	if err != nil {
		return nil, err
	}
	return &instance{proc: p, addrs: map[string]string{protoH1: a[0], protoH2C: a[0], protoGRPC: a[0]}}, nil
}

// startBareH1 returns the start of the HTTP/1.1 floor test/bench/<name>,
// in front of the backend's HTTP port.
func startBareH1(name string) func(e *env, tag string) (*instance, error) {
	return func(e *env, tag string) (*instance, error) {
		p, a, err := runBench(e, tag, name, 1, func(a []string) []string {
			return []string{"-listen", a[0], "-upstream", e.backend.HTTP}
		})
		if err != nil {
			return nil, err
		}
		only := name + " is HTTP/1.1 only (bareh2 is the HTTP/2 floor)"
		return &instance{proc: p, addrs: map[string]string{protoH1: a[0]},
			unsupported: map[string]string{protoH2C: only, protoGRPC: only}}, nil
	}
}

func startDirect(e *env, _ string) (*instance, error) {
	return &instance{addrs: map[string]string{protoH1: e.backend.HTTP, protoH2C: e.backend.HTTP, protoGRPC: e.backend.GRPC}}, nil
}

// startSlinkerd runs bin/slinkerd configured the way a user would: one
// listener for HTTP/1.1, h2c and gRPC, routing by Host through the dtab.
func startSlinkerd(e *env, tag, binary string, extraEnv ...string) (*instance, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	listen, admin := addrs[0], addrs[1]
	dtab := fmt.Sprintf("/svc=>/$/inet/127.0.0.1/%s; /svc/%s=>/$/inet/127.0.0.1/%s",
		port(e.backend.HTTP), hostGRPC, port(e.backend.GRPC))
	envv := append(os.Environ(),
		"SLINKERD_MODE=container",
		"SLINKERD_LISTEN="+listen,
		"SLINKERD_ADMIN_LISTEN="+admin,
		"SLINKERD_DTAB="+dtab,
		"SLINKERD_LOG_LEVEL=warn",
		fmt.Sprintf("GOMAXPROCS=%d", e.workers),
	)
	envv = append(envv, extraEnv...)
	p, err := startProc("slinkerd-"+tag, e.dir, e.cpus, envv, nil, nil, binary)
	if err != nil {
		return nil, err
	}
	return &instance{proc: p, addrs: map[string]string{protoH1: listen, protoH2C: listen, protoGRPC: listen}}, nil
}

// startHAProxy runs HAProxy with one frontend per protocol: HTTP/1.1 to
// an HTTP/1.1 keep-alive pool, h2c to h2c, gRPC to the gRPC port over h2.
func startHAProxy(e *env, tag string) (*instance, error) {
	a, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`global
  nbthread %d
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend h1
  bind %s
  default_backend be_h1
frontend h2c
  bind %s proto h2
  default_backend be_h2c
frontend grpc
  bind %s proto h2
  default_backend be_grpc
backend be_h1
  server s1 %s
backend be_h2c
  server s1 %s proto h2
backend be_grpc
  server s1 %s proto h2
`, e.workers, a[0], a[1], a[2], e.backend.HTTP, e.backend.HTTP, e.backend.GRPC)
	dir, err := configDir(e, "haproxy-"+tag)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "haproxy.cfg")
	return startPeer(e, "haproxy", tag, path, []byte(cfg), os.Environ(), a, "-db", "-f", path)
}

// startNginx runs nginx with a master and e.workers worker processes, a
// keep-alive upstream pool, and one server per protocol: nginx speaks h2c
// to clients but only HTTP/1.1 to plain upstreams, and gRPC through
// grpc_pass.
func startNginx(e *env, tag string) (*instance, error) {
	a, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	dir, err := configDir(e, "nginx-"+tag)
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`daemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log stderr warn;
events {
  worker_connections 8192;
}
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  upstream be_http {
    server %[6]s;
    keepalive 256;
    keepalive_requests 1000000;
  }
  upstream be_grpc {
    server %[7]s;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://be_http;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
  server {
    listen %[4]s http2;
    location / {
      proxy_pass http://be_http;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
  server {
    listen %[5]s http2;
    location / {
      grpc_pass grpc://be_grpc;
    }
  }
}
`, e.workers, dir, a[0], a[1], a[2], e.backend.HTTP, e.backend.GRPC)
	path := filepath.Join(dir, "nginx.conf")
	return startPeer(e, "nginx", tag, path, []byte(cfg), os.Environ(), a, "-e", "stderr", "-p", dir, "-c", path)
}

// startCaddy runs Caddy from a JSON config: no admin API, no automatic
// HTTPS, no access logs, one server per protocol, h2c upstreams for h2c
// and gRPC, and idle pools as large as slinkerd's.
func startCaddy(e *env, tag string) (*instance, error) {
	a, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	dir, err := configDir(e, "caddy-"+tag)
	if err != nil {
		return nil, err
	}
	proxyTo := func(upstream string, h2c bool) map[string]any {
		tr := map[string]any{"protocol": "http", "keep_alive": map[string]any{"max_idle_conns_per_host": 256}}
		if h2c {
			tr["versions"] = []string{"h2c", "2"}
		}
		return map[string]any{"handler": "reverse_proxy", "transport": tr, "upstreams": []any{map[string]any{"dial": upstream}}}
	}
	server := func(listen, upstream string, h2c bool) map[string]any {
		return map[string]any{
			"listen":          []string{listen},
			"protocols":       []string{"h1", "h2c"},
			"automatic_https": map[string]any{"disable": true},
			"routes":          []any{map[string]any{"handle": []any{proxyTo(upstream, h2c)}}},
		}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{
			protoH1:   server(a[0], e.backend.HTTP, false),
			protoH2C:  server(a[1], e.backend.HTTP, true),
			protoGRPC: server(a[2], e.backend.GRPC, true),
		}}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("caddy config: %w", err)
	}
	path := filepath.Join(dir, "caddy.json")
	envv := append(os.Environ(),
		"HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir,
		fmt.Sprintf("GOMAXPROCS=%d", e.workers))
	return startPeer(e, "caddy", tag, path, b, envv, a, "run", "--config", path)
}

// startPeer writes a peer proxy's config to path and runs the peer (its
// binary is name) with args, serving HTTP/1.1, h2c and gRPC on a[0], a[1]
// and a[2].
func startPeer(e *env, name, tag, path string, cfg []byte, envv, a []string, args ...string) (*instance, error) {
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return nil, fmt.Errorf("%s config: %w", name, err)
	}
	p, err := startProc(name+"-"+tag, e.dir, e.cpus, envv, nil, nil, append([]string{name}, args...)...)
	if err != nil {
		return nil, err
	}
	return &instance{proc: p, addrs: map[string]string{protoH1: a[0], protoH2C: a[1], protoGRPC: a[2]}}, nil
}

// configDir makes a fresh directory for one instance's files.
func configDir(e *env, name string) (string, error) {
	dir := filepath.Join(e.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return dir, nil
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// version asks a binary for its version line, for the JSON record.
func version(ctx context.Context, s *setup) string {
	if s.binary == "" || s.missing != "" {
		return ""
	}
	var args []string
	switch s.name {
	case "slinkerd", "slinkerd-lambda":
		args = []string{"version"}
	case "haproxy":
		args = []string{"-v"}
	case "nginx":
		args = []string{"-v"}
	case "caddy":
		args = []string{"version"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, s.binary, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
