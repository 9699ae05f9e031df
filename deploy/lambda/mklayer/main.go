// Command mklayer packs the slinkerd binary as an AWS Lambda layer (see
// package layerzip). `make layer` runs it.
//
// Usage:
//
//	go run ./deploy/lambda/mklayer -bin bin/layer-amd64/slinkerd -o bin/slinkerd-layer-amd64.zip
//
// The zip is reproducible: the same binary gives the same bytes (entries
// are dated SOURCE_DATE_EPOCH, or 2000-01-01 UTC when it is unset).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/slinkerd/slinkerd/deploy/internal/layerzip"
)

func main() {
	bin := flag.String("bin", "", "the slinkerd binary (static, linux) to pack")
	out := flag.String("o", "slinkerd-layer.zip", "the layer zip to write")
	entry := flag.String("entry", layerzip.ExtensionPath, "the executable's path in the zip (bootstrap for a function's package)")
	flag.Parse()
	if *bin == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mklayer -bin PATH [-o ZIP] [-entry PATH]")
		os.Exit(2)
	}
	mod, err := layerzip.ModTime(os.Getenv("SOURCE_DATE_EPOCH"))
	if err == nil {
		err = layerzip.WriteAt(*out, *bin, *entry, mod)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mklayer:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}
