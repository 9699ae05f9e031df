// Command cloudrun-sidecar is an example app for a Cloud Run service with
// slinkerd as a sidecar (deploy/cloudrun/service.yaml). It calls other
// services by name through slinkerd: GET /call/<service>/<path…> sends
// GET /<path…> with Host: <service> to ROUTER_URL (slinkerd's proxy,
// http://127.0.0.1:4140), and slinkerd delegates /svc/<service> through
// its dtab, attaches an ID token for Cloud Run targets, balances, retries
// and times out the call.
//
// It listens on APP_LISTEN, else on $PORT (Cloud Run's), else on :8080.
// On SIGTERM it stops taking requests and finishes the ones in flight,
// which may still call out: slinkerd keeps serving them while they last.
//
// Run it locally next to bin/slinkerd:
//
//	SLINKERD_DTAB='/svc/hello=>/$/inet/127.0.0.1/9000' bin/slinkerd &
//	go run ./examples/cloudrun-sidecar &
//	curl localhost:8080/call/hello/
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := cmp.Or(os.Getenv("APP_LISTEN"), ":"+cmp.Or(os.Getenv("PORT"), "8080"))
	router := cmp.Or(os.Getenv("ROUTER_URL"), "http://127.0.0.1:4140")
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	client := &http.Client{Timeout: 30 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /call/{service}/{path...}", func(w http.ResponseWriter, r *http.Request) {
		svc := r.PathValue("service")
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, router+"/"+r.PathValue("path"), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Host = svc
		// Pass the trace on, so the call joins the request's trace.
		for _, h := range []string{"Traceparent", "Tracestate", "X-Cloud-Trace-Context"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, fmt.Sprintf("call %s: %v", svc, err), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		// slinkerd's own errors carry l5d-err; pass it on.
		if e := resp.Header.Get("L5d-Err"); e != "" {
			w.Header().Set("L5d-Err", e)
		}
		w.Header().Set("Content-Type", cmp.Or(resp.Header.Get("Content-Type"), "text/plain"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "try /call/<service>/<path>, e.g. /call/users/"+strings.TrimPrefix(r.URL.Path, "/"))
	})

	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		// Cloud Run allows 10s after SIGTERM.
		sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("app listening", "addr", addr, "router", router)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("app stopped", "err", err)
		os.Exit(1)
	}
}
