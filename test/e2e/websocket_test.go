package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"
)

// TestWebSocket opens a WebSocket through slinkerd (an HTTP/1.1 Upgrade)
// to an echo backend and checks that frames pass both ways.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	be := startHTTPBackend(t, websocket.Handler(func(ws *websocket.Conn) {
		// Say hello with what the upgrade request carried, then echo.
		r := ws.Request()
		_ = websocket.Message.Send(ws, "hello "+r.Header.Get("l5d-dst-service")+" "+r.URL.Path)
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, "echo: "+msg); err != nil {
				return
			}
		}
	}))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("ws", be.Port)})

	conn, err := net.DialTimeout("tcp", p.ProxyAddr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	// The URL names the service (Host: ws); the connection goes to slinkerd.
	cfg, err := websocket.NewConfig("ws://ws/chat", "http://ws/")
	require.NoError(t, err)
	ws, err := websocket.NewClient(cfg, conn)
	require.NoError(t, err, "the WebSocket handshake through slinkerd")
	defer ws.Close()

	var hello string
	require.NoError(t, websocket.Message.Receive(ws, &hello))
	assert.Equal(t, "hello /svc/ws /chat", hello)

	tests := []struct {
		name string
		msg  string
	}{
		{name: "short", msg: "ping"},
		{name: "unicode", msg: "héllo wörld ☺ 😈"},
		{name: "empty", msg: ""},
		{name: "large", msg: strings.Repeat("0123456789abcdef", 16<<10)}, // 256 KiB
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, websocket.Message.Send(ws, tc.msg))
			var got string
			require.NoError(t, websocket.Message.Receive(ws, &got))
			assert.Equal(t, "echo: "+tc.msg, got)
		})
	}
}
