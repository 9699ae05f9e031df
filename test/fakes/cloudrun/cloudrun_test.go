package cloudrun_test

import (
	"context"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/slinkerd/slinkerd/test/fakes/cloudrun"
)

// TestWithTheRealClient drives the fake with cloud.google.com/go/run.
func TestWithTheRealClient(t *testing.T) {
	f, err := cloudrun.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer f.Close()
	f.SetService(cloudrun.ReadyService("p", "r", "b", "https://b.run.app"))
	f.SetService(cloudrun.ReadyService("p", "r", "a", "https://a.run.app"))
	f.SetService(cloudrun.ReadyService("p", "other", "c", "https://c.run.app"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c, err := run.NewServicesClient(ctx, option.WithGRPCConn(conn))
	require.NoError(t, err)

	svc, err := c.GetService(ctx, &runpb.GetServiceRequest{Name: cloudrun.ServiceName("p", "r", "a")})
	require.NoError(t, err)
	assert.Equal(t, "https://a.run.app", svc.GetUri())
	assert.Equal(t, runpb.Condition_CONDITION_SUCCEEDED, svc.GetTerminalCondition().GetState())

	_, err = c.GetService(ctx, &runpb.GetServiceRequest{Name: cloudrun.ServiceName("p", "r", "nosuch")})
	assert.Equal(t, codes.NotFound, status.Code(err))

	var names []string
	it := c.ListServices(ctx, &runpb.ListServicesRequest{Parent: "projects/p/locations/r"})
	for {
		s, err := it.Next()
		if err == iterator.Done {
			break
		}
		require.NoError(t, err)
		names = append(names, s.GetName())
	}
	assert.Equal(t, []string{cloudrun.ServiceName("p", "r", "a"), cloudrun.ServiceName("p", "r", "b")}, names)

	f.FailWith(codes.ResourceExhausted)
	_, err = c.GetService(ctx, &runpb.GetServiceRequest{Name: cloudrun.ServiceName("p", "r", "a")})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, 3, f.Calls("GetService"))
	assert.Equal(t, 1, f.Calls("ListServices"))
}
