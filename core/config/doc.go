// Package config holds slinkerd's one configuration struct, Config, read
// from SLINKERD_* environment variables.
//
// Every setting is an environment variable: there is no configuration file.
// Load reads an explicit environment (so tests never touch the process
// environment), LoadFromProcess reads os.Environ. Both fill Config with
// github.com/caarlos0/env/v11, whose envDefault struct tags are the one place
// where defaults live, and then validate it: every problem is reported at
// once, each as a *VarError naming the variable, the bad value and what is
// allowed, for example
//
//	SLINKERD_BALANCER="foo": must be one of ewma, p2c, roundrobin
//
// Setting a variable to the empty string is the same as leaving it unset.
// Unknown SLINKERD_* variables are errors (with a "did you mean" hint)
// unless Load is given AllowUnknown, so a typo never goes unnoticed.
//
// Values that may be secret have the type Secret, which redacts itself
// wherever it is printed: Print, JSON, fmt, log/slog and error messages.
//
// The reference table in docs/config.md is generated from the struct and
// its doc comments; regenerate it after changing a field with
//
//	go run ./core/config/gen > docs/config.md
//
// (or go generate ./core/config). A test fails when it is out of date.
package config

//go:generate sh -c "go run ./gen > ../../docs/config.md"
