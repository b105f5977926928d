package server

import (
	"io"
	"net/http"
	"testing"
	"time"
)

func TestProxy_ClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.10, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"DirectNoHeader", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"UntrustedPeerHeaderIgnored", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"TrustedPeer", "10.1.2.3:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"ChainOfTrusted", "10.1.2.3:4000", []string{"198.51.100.9, 192.168.1.10, 10.9.9.9"}, "198.51.100.9"},
		{"SpoofedLeftIgnored", "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"TwoHeaders", "10.1.2.3:4000", []string{"6.6.6.6", "198.51.100.9"}, "198.51.100.9"},
		{"AllTrusted", "10.1.2.3:4000", []string{"10.0.0.1"}, "10.0.0.1"},
		{"TrustedNoHeader", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"Garbage", "10.1.2.3:4000", []string{"198.51.100.9, not-an-ip"}, "10.1.2.3"},
		{"GarbageLeftOfClient", "10.1.2.3:4000", []string{"not-an-ip, 198.51.100.9"}, "198.51.100.9"},
		{"IPv6Proxy", "[::1]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"MappedIPv4", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/v1/ws", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := trusted.ClientIP(r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("Bad", func(t *testing.T) {
		for _, s := range []string{"10.0.0.0/33", "example.org", "10.0.0.1/x"} {
			if _, err := ParseTrustedProxies(s); err == nil {
				t.Errorf("%q parsed", s)
			}
		}
	})
}

func TestLimit_Flags(t *testing.T) {
	env := map[string]string{"PARLEY_MSG_RATE": "2.5", "PARLEY_TRUSTED_PROXIES": "10.0.0.0/8"}
	cfg, err := ParseServeFlags([]string{"--max-conns-per-ip", "7", "--ping-interval", "1m", "--max-conns", "-1"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.MsgRate != 2.5 || l.MaxConnsPerIP != 7 || l.PingInterval != time.Minute || l.MaxConns != -1 || l.ClientIP == nil {
		t.Fatalf("limits = %+v", l)
	}
	// The limits of new visitors, sessions and host variables (issue 11).
	env = map[string]string{"PARLEY_NEW_VISITORS_PER_IP": "30", "PARLEY_HOST_VARIABLE_BYTES": "4096"}
	cfg2, err := ParseServeFlags([]string{"--new-sessions-per-ip", "-1", "--new-sessions-per-visitor", "5", "--host-variables", "10"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg2.Limits; l.NewVisitorsPerIP != 30 || l.NewSessionsPerIP != -1 || l.NewSessionsPerVisitor != 5 || l.HostVariables != 10 || l.HostVariableBytes != 4096 {
		t.Fatalf("start and host variable limits = %+v", l)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Header = "10.0.0.1:1", http.Header{"X-Forwarded-For": {"198.51.100.9"}}
	if got := l.ClientIP(r); got != "198.51.100.9" {
		t.Errorf("ClientIP = %q", got)
	}

	env["PARLEY_UPLOAD_IDLE_TIMEOUT"] = "5s"
	env["PARLEY_UPLOAD_MAX_DURATION"] = "90s"
	env["PARLEY_UPLOAD_CONCURRENCY_PER_IP"] = "-1"
	cfg, err = ParseServeFlags([]string{"--upload-quota-files", "3", "--upload-quota-bytes", "-1", "--upload-concurrency", "2",
		"--upload-concurrency-per-visitor", "1"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.UploadLimits; u.Quota.Files != 3 || u.Quota.Bytes != -1 || u.MaxConcurrent != 2 || u.IdleTimeout != 5*time.Second ||
		u.MaxDuration != 90*time.Second || u.MaxConcurrentPerVisitor != 1 || u.MaxConcurrentPerAddr != -1 {
		t.Fatalf("upload limits = %+v", u)
	}

	env["PARLEY_MSG_BURST"] = "lots"
	if _, err := ParseServeFlags(nil, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Error("a bad PARLEY_MSG_BURST was accepted")
	}
	if _, err := ParseServeFlags([]string{"--trusted-proxies", "nope"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("a bad --trusted-proxies was accepted")
	}
}
