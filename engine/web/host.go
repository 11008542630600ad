package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/thorp-dev/thorp/engine/config"
)

// The Host rule, against DNS rebinding: a web page whose name an attacker
// re-points at this machine reaches the server with its own name in Host,
// so the server answers only the names it serves:
//
//   - the address it is reached on (host:port as bound; for a wildcard bind
//     such as 0.0.0.0 or [::], any IP address of this machine's
//     interfaces), and localhost, both with the listening port;
//   - the names of settings.http_hosts, on any port unless the entry has one.
//
// Anything else gets 421 Misdirected Request. A request without Host
// (HTTP/1.0) is answered: browsers always send one. Requests other than GET
// and HEAD that carry an Origin header are refused with 403 unless the
// Origin is http or https on one of those hosts, whatever token they bear.

// allowedHost is one settings.http_hosts entry, split.
type allowedHost struct {
	host string // lower case, no brackets
	port string // "" matches every port
}

// SetHosts replaces the names the server answers besides its own address
// and localhost (settings.http_hosts: "name" or "name:port"), e.g. after a
// config reload. Entries that are not valid hosts are ignored (config
// validation reports them). Safe for concurrent use.
func (s *Server) SetHosts(hosts []string) {
	list := make([]allowedHost, 0, len(hosts))
	for _, h := range hosts {
		if host, port, err := config.SplitHost(h); err == nil {
			list = append(list, allowedHost{host: host, port: port})
		}
	}
	s.hosts.Store(&list)
}

// checkHost applies the Host and Origin rules to r. It writes the refusal
// and returns false when r must not be served.
func (s *Server) checkHost(w http.ResponseWriter, r *http.Request) bool {
	if r.Host != "" && !s.serves(r, r.Host, "80") {
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
			"this server does not answer for host %.100q; to reach it by that name, add the name to settings.http_hosts", r.Host))
		return false
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return true
	}
	if len(origins) > 1 || !s.servesOrigin(r, origins[0]) {
		writeError(w, http.StatusForbidden, fmt.Sprintf(
			"requests from origin %.100q are refused; only pages of this server's own hosts (its address, localhost, settings.http_hosts) may send them", origins[0]))
		return false
	}
	return true
}

// servesOrigin reports whether origin (an Origin header) is http or https on
// a host the server answers.
func (s *Server) servesOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	switch u.Scheme {
	case "http":
		return s.serves(r, u.Host, "80")
	case "https":
		return s.serves(r, u.Host, "443")
	}
	return false
}

// serves reports whether hostport (a Host value, or an Origin's host with
// defaultPort when it has none) is a name the server answers for r's
// connection.
func (s *Server) serves(r *http.Request, hostport, defaultPort string) bool {
	host, port, err := config.SplitHost(hostport)
	if err != nil {
		return false
	}
	if port == "" {
		port = defaultPort
	}
	if list := s.hosts.Load(); list != nil {
		for _, h := range *list {
			if h.host == host && (h.port == "" || h.port == port) {
				return true
			}
		}
	}
	local, wildcard, ok := s.localAddr(r)
	if !ok || port != strconv.Itoa(int(local.Port())) {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip == local.Addr() || (wildcard && isInterfaceAddr(ip))
}

// localAddr returns the address r reached (its connection's local address,
// else the address the server listens on) and whether the server listens
// on a wildcard address.
func (s *Server) localAddr(r *http.Request) (local netip.AddrPort, wildcard, ok bool) {
	listen := s.listenAddr(r)
	if h, _, err := net.SplitHostPort(listen); err == nil {
		ip, err := netip.ParseAddr(h)
		wildcard = h == "" || (err == nil && ip.IsUnspecified())
	}
	if a, isTCP := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); isTCP {
		local = a.AddrPort()
	} else if local, ok = parseAddrPort(listen); !ok {
		return netip.AddrPort{}, false, false
	}
	return netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), wildcard, true
}

// parseAddrPort parses "ip:port".
func parseAddrPort(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	return ap, err == nil
}

// isInterfaceAddr reports whether ip is an address of one of this machine's
// network interfaces. It asks the kernel each time: addresses come and go.
func isInterfaceAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
