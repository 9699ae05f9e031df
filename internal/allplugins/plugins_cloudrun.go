//go:build !slinkerd_nocloudrun

package allplugins

// /#/io.l5d.cloudrun and Google's ID token credentials (application
// default credentials, impersonation); -tags slinkerd_nocloudrun leaves
// them, and the Google SDK and gRPC, out.
import (
	_ "github.com/slinkerd/slinkerd/discovery/cloudrun"
	_ "github.com/slinkerd/slinkerd/discovery/idtoken/googleauth"
)
