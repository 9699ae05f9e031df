package main

// Every namer, dtab source and signer; build tags leave the cloud SDKs
// out (see internal/allplugins).
import _ "github.com/slinkerd/slinkerd/internal/allplugins"
