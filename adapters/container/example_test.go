package container_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/slinkerd/slinkerd/adapters/container"
	"github.com/slinkerd/slinkerd/core/config"
)

// exampleFreeAddr returns a loopback address that was free a moment ago.
func exampleFreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// When slinkerd cannot start, Run returns an error whose
// message names the SLINKERD_* variable at fault; here the proxy's port
// is taken.
func ExampleRun() {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer busy.Close()
	cfg, err := config.Load(map[string]string{
		"SLINKERD_LISTEN":       busy.Addr().String(),
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	err = container.Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	fmt.Println("names SLINKERD_LISTEN:", strings.HasPrefix(err.Error(), "SLINKERD_LISTEN"))
	// Output:
	// names SLINKERD_LISTEN: true
}
