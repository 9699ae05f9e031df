//go:build !slinkerd_nolambdafn

package allplugins

import _ "github.com/slinkerd/slinkerd/discovery/lambdafn" // /#/io.l5d.lambda (Lambda functions by name); -tags slinkerd_nolambdafn leaves it out
