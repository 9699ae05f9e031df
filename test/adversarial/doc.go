// Package adversarial is slinkerd's attacker's suite: it runs the real
// slinkerd binary in front of origins that misbehave on purpose, written
// byte by byte over raw TCP, and talks to it as callers that misbehave on
// purpose. Each case is a table row holding the bytes sent, the outcome
// expected, and the reason: the RFC 9110/9112 section, or the peer whose
// behaviour slinkerd matches (HAProxy and nginx for HTTP/1.1 strictness,
// Envoy for header handling and limits, net/http's Transport for
// connection reuse).
//
// Every case runs on both HTTP/1.1 data paths: slinkerd's own client
// (SLINKERD_FAST_PATH=on, internal/h1client and internal/proxy/direct.go) and
// net/http's (SLINKERD_FAST_PATH=off). The invariants checked are those
// listed in docs/security.md:
//
//   - a response reaches only the caller whose request produced it (the
//     origin cases follow every probe with tagged requests, and
//     TestCrossTalk checks it under load with origins that misbehave at
//     random);
//   - a caller's framing error closes that caller's connection, and
//     nothing after the error reaches an origin;
//   - every wait has a limit, and every endpoint pick is released (the
//     endpoint's pending count returns to 0).
//
// `go test ./test/adversarial` is part of `make test`; the suite builds
// the binary itself, as test/e2e does.
package adversarial
