package lambdaext_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/slinkerd/slinkerd/adapters/lambdaext"
	"github.com/slinkerd/slinkerd/core/config"
)

// Run is the whole life of the extension, from register to SHUTDOWN, and
// needs the Lambda Extensions API at AWS_LAMBDA_RUNTIME_API (in a
// function, or the Runtime Interface Emulator: see test/e2e). Without it,
// Run fails cleanly, before it builds anything, with an error that says why.
func ExampleRun() {
	cfg, err := config.Load(map[string]string{
		"SLINKERD_LISTEN":       "127.0.0.1:0",
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, runtimeAPI := range []string{"", "http://127.0.0.1:9001/"} {
		err = lambdaext.Run(context.Background(), lambdaext.Options{
			Config:     cfg,
			RuntimeAPI: runtimeAPI, // os.Getenv("AWS_LAMBDA_RUNTIME_API") in a function
			Name:       "slinkerd",
			Log:        slog.New(slog.DiscardHandler),
			Metrics:    io.Discard,
		})
		fmt.Println(err)
	}
	// Output:
	// lambda: AWS_LAMBDA_RUNTIME_API is not set
	// lambda: AWS_LAMBDA_RUNTIME_API "http://127.0.0.1:9001/": want host:port
}

// When the Extensions API cannot be reached, Run closes the listeners it
// opened and returns the registration's error.
func ExampleRun_unreachable() {
	// An address where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	runtimeAPI := ln.Addr().String()
	ln.Close()

	cfg, err := config.Load(map[string]string{
		"SLINKERD_LISTEN":       "127.0.0.1:0",
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = lambdaext.Run(context.Background(), lambdaext.Options{
		Config:     cfg,
		RuntimeAPI: runtimeAPI,
		Name:       "slinkerd",
		Log:        slog.New(slog.DiscardHandler),
		Metrics:    io.Discard,
	})
	fmt.Println("register failed:", strings.HasPrefix(err.Error(), "lambda: register:"))
	fmt.Println("connection refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// register failed: true
	// connection refused: true
}
