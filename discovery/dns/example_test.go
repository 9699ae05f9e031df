package dns_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/dns"
)

// serveRecords starts a tiny authoritative DNS server on 127.0.0.1 (UDP)
// that answers from records in zone file syntax, and returns its address
// and a func that stops it.
func serveRecords(records ...string) (addr string, stop func()) {
	answers := map[string][]mdns.RR{}
	for _, s := range records {
		rr, err := mdns.NewRR(s)
		if err != nil {
			panic(err)
		}
		k := strings.ToLower(rr.Header().Name) + " " + mdns.TypeToString[rr.Header().Rrtype]
		answers[k] = append(answers[k], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{
		PacketConn:        pc,
		NotifyStartedFunc: func() { close(started) },
		Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
			m := new(mdns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			q := r.Question[0]
			m.Answer = answers[strings.ToLower(q.Name)+" "+mdns.TypeToString[q.Qtype]]
			if len(m.Answer) == 0 {
				m.Rcode = mdns.RcodeNameError
			}
			_ = w.WriteMsg(m)
		}),
	}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	return pc.LocalAddr().String(), func() { _ = srv.Shutdown() }
}

func ExampleNewResolver() {
	addr, stop := serveRecords(
		"users.example.test. 30 IN A 127.0.0.1",
		"users.example.test. 20 IN A 127.0.0.2",
		"users.example.test. 60 IN AAAA ::1",
	)
	defer stop()

	r, err := dns.NewResolver(dns.ResolverConfig{
		Servers:   []string{addr},
		Search:    []string{"example.test"},
		HostsFile: "-", // answer from DNS only
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The least TTL of the records says how long the answer may be cached.
	ips, ttl, err := r.LookupNetIPTTL(ctx, "users") // through the search list
	fmt.Println(ips, ttl, err)

	ips, err = r.LookupNetIP(ctx, "ip4", "users.example.test")
	fmt.Println(ips, err)

	_, _, err = r.LookupNetIPTTL(ctx, "nosuch.example.test.")
	var de *net.DNSError
	fmt.Println(errors.As(err, &de) && de.IsNotFound)
	// Output:
	// [127.0.0.1 127.0.0.2 ::1] 20s <nil>
	// [127.0.0.1 127.0.0.2] <nil>
	// true
}

func ExampleResolver_LookupSRV() {
	addr, stop := serveRecords(
		"_http._tcp.users.example.test. 30 IN SRV 10 60 8080 a.users.example.test.",
		"_http._tcp.users.example.test. 30 IN SRV 20 100 9090 backup.users.example.test.",
	)
	defer stop()

	r, err := dns.NewResolver(dns.ResolverConfig{Servers: []string{addr}, HostsFile: "-"})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srvs, ttl, err := r.LookupSRV(ctx, "_http._tcp.users.example.test")
	if err != nil {
		panic(err)
	}
	for _, s := range srvs {
		fmt.Println(s.Target, s.Port, s.Priority, s.Weight)
	}
	fmt.Println(ttl)
	// Output:
	// a.users.example.test. 8080 10 60
	// backup.users.example.test. 9090 20 100
	// 30s
}

// The io.l5d.dnssrv namer binds the SRV records of the lowest priority to
// endpoints, weighted by the records' weights.
func ExampleNewSRV() {
	addr, stop := serveRecords(
		"_http._tcp.users.example.test. 30 IN SRV 10 60 8080 a.users.example.test.",
		"_http._tcp.users.example.test. 30 IN SRV 10 20 8081 b.users.example.test.",
		"_http._tcp.users.example.test. 30 IN SRV 20 100 9090 backup.users.example.test.",
		"a.users.example.test. 30 IN A 127.0.0.1",
		"b.users.example.test. 30 IN A 127.0.0.2",
	)
	defer stop()

	r, err := dns.NewResolver(dns.ResolverConfig{Servers: []string{addr}, HostsFile: "-"})
	if err != nil {
		panic(err)
	}
	n, err := dns.NewSRV(dns.SRVConfig{Resolver: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer n.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tree, err := n.Lookup(ctx, name.MustParsePath("/_http._tcp.users.example.test/v1"))
	if err != nil {
		panic(err)
	}
	fmt.Println(tree.Kind, tree.Value)
	for _, a := range tree.Value.Addr.Sample().Addresses {
		fmt.Println(a.HostPort(), a.Weight)
	}
	for _, st := range n.State() {
		fmt.Println(st.Name, st.State, len(st.Endpoints))
	}

	tree, _ = n.Lookup(ctx, name.MustParsePath("/_http._tcp.nosuch.example.test"))
	fmt.Println(tree.Kind)

	_, err = n.Lookup(ctx, name.MustParsePath("/"))
	fmt.Println(errors.Is(err, dns.ErrInvalidPath))
	// Output:
	// leaf /#/io.l5d.dnssrv/_http._tcp.users.example.test/v1
	// 127.0.0.1:8080 60
	// 127.0.0.2:8081 20
	// _http._tcp.users.example.test bound 2
	// neg
	// true
}
