//go:build libsize_fs

package main

import _ "github.com/slinkerd/slinkerd/discovery/fs"
