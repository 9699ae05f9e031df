//go:build libsize_cloudrun

package main

import _ "github.com/slinkerd/slinkerd/discovery/cloudrun"
