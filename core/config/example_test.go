package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/slinkerd/slinkerd/core/config"
)

func ExampleLoad() {
	environ := map[string]string{
		"SLINKERD_BALANCER":      "p2c",
		"SLINKERD_TIMEOUT_TOTAL": "2s",
		"K_SERVICE":              "users",
	}
	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Balancer.Kind, cfg.Retry.TimeoutTotal, cfg.ResolveMode(environ))
	// Output: p2c 2s cloudrun
}

func ExampleLoad_errors() {
	_, err := config.Load(map[string]string{
		"SLINKERD_BALANCER":      "fastest",
		"SLINKERD_RETRY_PERCENT": "20%",
		"SLINKERD_DTAB_OVERIDE":  "on",
	})
	fmt.Println(err)

	var ve *config.VarError
	if errors.As(err, &ve) {
		fmt.Println("first bad variable:", ve.Var)
	}
	// Output:
	// SLINKERD_DTAB_OVERIDE="on": unknown variable; did you mean SLINKERD_DTAB_OVERRIDE?
	// SLINKERD_BALANCER="fastest": must be one of ewma, p2c, roundrobin
	// SLINKERD_RETRY_PERCENT="20%": must be a number such as 0.25
	// first bad variable: SLINKERD_DTAB_OVERIDE
}

func ExampleConfig_Print() {
	cfg, _ := config.Load(map[string]string{
		"SLINKERD_DTAB":         "/svc => /#/io.l5d.fs",
		"SLINKERD_OTLP_HEADERS": "authorization=Bearer%20abc",
	})
	var b bytes.Buffer
	_ = cfg.Print(&b, config.FormatText)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "SLINKERD_DTAB=") || strings.HasPrefix(line, "SLINKERD_OTLP_") || strings.HasPrefix(line, "SLINKERD_BALANCER=") {
			fmt.Println(line)
		}
	}
	// Output:
	// SLINKERD_DTAB='/svc => /#/io.l5d.fs'
	// SLINKERD_BALANCER=ewma
	// SLINKERD_OTLP_ENDPOINT=
	// SLINKERD_OTLP_HEADERS='[REDACTED]'
}
