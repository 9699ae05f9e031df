//go:build libsize_cloudmap

package main

import _ "github.com/slinkerd/slinkerd/discovery/cloudmap"
