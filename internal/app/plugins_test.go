package app_test

// The namers and signers the binary links (build tags leave some out).
import _ "github.com/slinkerd/slinkerd/internal/allplugins"
