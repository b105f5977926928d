package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/parley-chat/parley/widget"
)

// TrustedProxies are the networks of the reverse proxies in front of
// Parley. Only a request whose TCP peer is inside one of them has its
// X-Forwarded-For believed; anyone else could write that header.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 192.168.1.10, ::1"). An empty string trusts no
// proxy. It returns an error naming the first entry that does not parse.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR like 10.0.0.0/8 or an address", f)
			}
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR like 10.0.0.0/8 or an address", f)
		}
		a = a.Unmap()
		t = append(t, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// String lists the networks as ParseTrustedProxies reads them.
func (t TrustedProxies) String() string {
	s := make([]string, len(t))
	for i, p := range t {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r. It is the TCP
// peer, unless the peer is a trusted proxy: then X-Forwarded-For is read
// from the right (the entry the nearest proxy added) past every trusted
// proxy, and the first address not trusted is the client. Entries left of
// it were written by the client and are ignored. A malformed entry stops
// the walk at the last address known good.
func (t TrustedProxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(t) == 0 || !t.trusts(peer) {
		return host
	}
	client := peer
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(strings.Trim(h, "[]"))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !t.trusts(client) {
			break
		}
	}
	return client.String()
}

// clientKey names the client of r for the per-address limits outside the
// gateway (upload slots, failed sign-ins), as the gateway's per-IP cap
// does: the address ClientIP gives (behind a trusted proxy, the client it
// names), an IPv6 client by its /64.
func (s *Server) clientKey(r *http.Request) string {
	ip := s.cfg.Limits.ClientIP
	if ip == nil {
		ip = widget.PeerIP
	}
	addr := ip(r)
	if key, ok := widget.AddrKey(addr); ok {
		return key.String()
	}
	return addr
}
