// Command cloud runs the demo behind `make demo-cloud`: the cloud namers
// working locally, against the wire-faithful fakes of test/fakes. It
// starts the Cloud Map, Cloud Run and metadata fakes on loopback, three
// "users" backends registered in Cloud Map and one https "hello" backend
// registered as a Cloud Run service, then bin/slinkerd routing
//
//	/svc/users => /#/io.l5d.cloudmap/demo/users  (AWS SDK → Cloud Map fake)
//	/svc/hello => /#/io.l5d.cloudrun/demo-project/europe-west1/hello
//	              (Cloud Run client → fake; ID token from the metadata fake)
//
// with a little traffic, while it changes Cloud Map every few seconds
// (registers, marks unhealthy, deregisters, throttles) so that the
// dashboard and /admin/discovery.json show discovery at work. Ctrl-C
// stops everything it started; -duration stops it by itself.
package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slinkerd/slinkerd/examples/internal/demokit"

	"github.com/slinkerd/slinkerd/test/fakes/cloudmap"
	"github.com/slinkerd/slinkerd/test/fakes/cloudrun"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
)

func main() {
	duration := flag.Duration("duration", 0, "stop after this long (0: at Ctrl-C)")
	flag.Parse()
	if err := run(*duration); err != nil {
		fmt.Fprintln(os.Stderr, "demo-cloud:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	root, err := demokit.RepoRoot()
	if err != nil {
		return err
	}

	cm, err := cloudmap.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer cm.Close()
	cr, err := cloudrun.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer cr.Close()
	md, err := metadata.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer md.Close()

	var users []*httptest.Server
	for _, id := range []string{"users-a", "users-b", "users-c"} {
		s := httptest.NewServer(reply(id))
		defer s.Close()
		users = append(users, s)
	}
	hello := httptest.NewUnstartedServer(reply("hello (Cloud Run)"))
	hello.EnableHTTP2 = true
	hello.StartTLS()
	defer hello.Close()
	tmp, err := os.MkdirTemp("", "slinkerd-demo-cloud-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	caFile := filepath.Join(tmp, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hello.Certificate().Raw}), 0o644); err != nil {
		return err
	}

	for _, s := range users[:2] {
		id := strings.TrimPrefix(s.URL, "http://")
		if err := cm.RegisterIP("demo", "users", id, id, nil); err != nil {
			return err
		}
	}
	cr.SetService(cloudrun.ReadyService("demo-project", "europe-west1", "hello", hello.URL))

	env := []string{
		"SLINKERD_MODE=container",
		"SLINKERD_DTAB=/svc/users=>/#/io.l5d.cloudmap/demo/users; /svc/hello=>/#/io.l5d.cloudrun/demo-project/europe-west1/hello",
		"SLINKERD_DISCOVERY_TTL=2s",
		"SLINKERD_CLOUDMAP_FULL_REFRESH=5s",
		"SLINKERD_BACKEND_CA_FILE=" + caFile,
		"SLINKERD_CLOUDRUN_ENDPOINT=" + cr.Addr(),
		"GCE_METADATA_HOST=" + md.Addr(),
	}
	for k, v := range cloudmap.SDKEnv(cm.URL()) {
		env = append(env, k+"="+v)
	}
	stop, exited, err := demokit.StartSlinkerd(ctx, root, env...)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Print(`
slinkerd cloud demo is running (Cloud Map, Cloud Run and metadata fakes on loopback).
  dashboard:  http://127.0.0.1:9990/
  discovery:  curl -s http://127.0.0.1:9990/admin/discovery.json
  try:
    curl -H 'Host: users' http://127.0.0.1:4140/    # Cloud Map instances, changing every few seconds
    curl -H 'Host: hello' http://127.0.0.1:4140/    # Cloud Run over TLS, with an ID token
  Ctrl-C stops everything.
`)
	go demokit.Traffic(ctx, log, []string{"users", "hello"}, true)
	go story(ctx, log, cm, users)
	select {
	case <-ctx.Done():
	case err := <-exited:
		return fmt.Errorf("slinkerd exited: %v", err)
	}
	fmt.Printf("\nstopping. discovery calls: DiscoverInstances=%d DiscoverInstancesRevision=%d GetService=%d; ID token fetches=%d\n",
		cm.Calls("DiscoverInstances"), cm.Calls("DiscoverInstancesRevision"), cr.Calls("GetService"), md.TotalFetches())
	return nil
}

// story changes Cloud Map every 8 seconds, in a loop.
func story(ctx context.Context, log *slog.Logger, cm *cloudmap.Server, users []*httptest.Server) {
	id := func(i int) string { return strings.TrimPrefix(users[i].URL, "http://") }
	steps := []struct {
		say string
		do  func()
	}{
		{"register users-c", func() { _ = cm.RegisterIP("demo", "users", id(2), id(2), nil) }},
		{"mark users-a unhealthy (the revision does not change: seen at the next full refresh)", func() { cm.SetHealthy("demo", "users", id(0), false) }},
		{"throttle Cloud Map (RequestLimitExceeded): the last good set keeps serving", func() { cm.SetMode(cloudmap.Throttle) }},
		{"Cloud Map answers again; mark users-a healthy", func() { cm.SetMode(cloudmap.Normal); cm.SetHealthy("demo", "users", id(0), true) }},
		{"deregister users-c", func() { cm.Deregister("demo", "users", id(2)) }},
	}
	tick := time.NewTicker(8 * time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := steps[i%len(steps)]
		log.Info("demo-cloud: " + s.say)
		s.do()
	}
}

func reply(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := "no token"
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			if c, err := metadata.ParseToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err == nil {
				auth = "ID token for " + c.Aud
			}
		}
		fmt.Fprintf(w, "%s (%s)\n", id, auth)
	})
}
