// Command libsize is the smallest program that routes through the
// slinkerd library, for the size and package-init figures of
// docs/library.md (make bench-lib). Its namer is chosen by build tag:
// libsize_fs, libsize_cloudmap or libsize_cloudrun (namer_*.go).
package main

import (
	"fmt"
	"os"

	"github.com/slinkerd/slinkerd"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-init-only" {
		return // package init, then nothing: what GODEBUG=inittrace=1 measures
	}
	c, err := slinkerd.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	resp, err := c.HTTPClient().Get("http://" + os.Getenv("SERVICE") + "/")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = resp.Body.Close()
	fmt.Println(resp.Status)
}
