package fs_test

import (
	"fmt"

	"github.com/slinkerd/slinkerd/discovery/fs"
)

func ExampleParseFile() {
	addrs, err := fs.ParseFile("users", []byte(`
# users, with a canary at a tenth of the weight
10.0.0.1 8080
2001:db8::7 8080
canary.internal 8080 * 0.1
`))
	fmt.Println(addrs, err)

	_, err = fs.ParseFile("users", []byte("10.0.0.1 8080\n10.0.0.2:8080\n"))
	fmt.Println(err)
	// Output:
	// [{10.0.0.1 8080 0 map[]} {2001:db8::7 8080 0 map[]} {canary.internal 8080 0.1 map[]}] <nil>
	// users:2: expected "host port" or "host port * weight": separate host and port with white space, not ":" (line "10.0.0.2:8080")
}
