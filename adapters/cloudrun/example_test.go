package cloudrun_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/slinkerd/slinkerd/adapters/cloudrun"
	"github.com/slinkerd/slinkerd/core/config"
)

// When the sidecar cannot start, Run returns an error whose
// message names the SLINKERD_* variable at fault; here the outbound
// proxy's port is taken.
func ExampleRun() {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer busy.Close()
	environ := map[string]string{"K_SERVICE": "frontend"}
	cfg, err := config.Load(map[string]string{
		"K_SERVICE":             "frontend",
		"SLINKERD_LISTEN":       busy.Addr().String(),
		"SLINKERD_ADMIN_LISTEN": "127.0.0.1:0",
		"GOOGLE_CLOUD_PROJECT":  "proj",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	err = cloudrun.Run(context.Background(), cfg, environ, slog.New(slog.DiscardHandler))
	fmt.Println("names SLINKERD_LISTEN:", strings.HasPrefix(err.Error(), "SLINKERD_LISTEN"))
	// Output:
	// names SLINKERD_LISTEN: true
}
