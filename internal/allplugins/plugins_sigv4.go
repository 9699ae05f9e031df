//go:build !slinkerd_nosigv4

package allplugins

import _ "github.com/slinkerd/slinkerd/discovery/sigv4" // sign:<service> in SLINKERD_SVC_POLICY; -tags slinkerd_nosigv4 leaves it out
