//go:build !slinkerd_nocloudmap

package allplugins

import _ "github.com/slinkerd/slinkerd/discovery/cloudmap" // /#/io.l5d.cloudmap (AWS Cloud Map); -tags slinkerd_nocloudmap leaves it out
