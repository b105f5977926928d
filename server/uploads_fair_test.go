package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/widget/widgettest"
)

// trickle starts an upload of v's session from the local address src
// that sends a chunk's worth of a PNG at once and then one byte every
// 100 ms, as an attacker holding an upload slot would; the answer arrives
// on the channel.
func (v *siteVisitor) trickle(src string) <-chan uploadAnswer {
	v.e.tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", v.e.srv.Listener.Addr().String())
	if err != nil {
		v.e.tb.Fatal(err)
	}
	v.e.tb.Cleanup(func() { conn.Close() })
	const boundary = "trickleboundary"
	fmt.Fprintf(conn, "POST /v1/upload?site=%s&session=%s HTTP/1.1\r\nHost: x\r\nX-Parley-Token: %s\r\nOrigin: %s\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n",
		v.site, url.QueryEscape(v.session), v.token, testOrigin, boundary, 900<<10)
	fmt.Fprintf(conn, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.png\"\r\nContent-Type: image/png\r\n\r\n", boundary)
	conn.Write(samplePNG(v.e.tb, 300, 300)[:300<<10])
	out := make(chan uploadAnswer, 1)
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	go func() {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			out <- uploadAnswer{Code: "read: " + err.Error()}
			return
		}
		defer resp.Body.Close()
		a := uploadAnswer{Status: resp.StatusCode}
		json.NewDecoder(resp.Body).Decode(&a)
		out <- a
	}()
	return out
}

// uploadFrom is upload sent from the local address src.
func (v *siteVisitor) uploadFrom(src string, parts ...formPart) uploadAnswer {
	v.e.tb.Helper()
	body, ct := multipartBody(parts...)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(v.uploadRequest(bytes.NewReader(body), ct))
	if err != nil {
		v.e.tb.Fatal(err)
	}
	defer resp.Body.Close()
	a := uploadAnswer{Status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(&a)
	return a
}

func TestUpload_FairShare(t *testing.T) {
	// 16 uploads trickling from one visitor, or from one address, take
	// only their share of the 16 slots: another visitor's upload (and
	// turn) goes through at once, the trickles are cut at the overall deadline with
	// 408 upload_too_slow (the ones past the share get 429 at once), and
	// nothing of them stays stored.
	for _, tc := range []struct {
		name     string
		visitors int // the attacker's visitors, all at 127.0.0.1
		slots    int // how many of its 16 uploads get a slot
	}{
		{"OneVisitor", 1, 2},
		{"OneAddress", 16, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnvWith(t, fileupload.Limits{MaxDuration: 2 * time.Second})
			var attackers []*siteVisitor
			for range tc.visitors {
				attackers = append(attackers, e.visitor("free"))
			}
			start := time.Now()
			var answers []<-chan uploadAnswer
			for i := range 16 {
				answers = append(answers, attackers[i%len(attackers)].trickle("127.0.0.1"))
			}
			time.Sleep(300 * time.Millisecond) // every trickle is in
			other := e.visitor("free")
			sent := time.Now()
			a := other.uploadFrom("127.0.0.2", filePart("ok.png", "image/png", samplePNG(t, 8, 8)))
			if a.Status != http.StatusCreated {
				t.Fatalf("another visitor's upload during the attack: %d %s %s", a.Status, a.Code, a.Message)
			}
			d := time.Since(sent)
			t.Logf("another visitor's upload took %v during the attack", d.Round(time.Millisecond))
			if d > time.Second {
				t.Errorf("another visitor's upload took %v", d)
			}
			// And its conversation goes on: a turn is acked.
			other.MustText("t1", "still there?")
			other.Until(widgettest.TypeAck)
			codes := map[string]int{}
			for _, ch := range answers {
				select {
				case a := <-ch:
					codes[fmt.Sprintf("%d %s", a.Status, a.Code)]++
				case <-time.After(15 * time.Second):
					t.Fatal("a trickle was not cut")
				}
			}
			want := map[string]int{"408 upload_too_slow": tc.slots, "429 too_many_uploads": 16 - tc.slots}
			if fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Errorf("the trickles got %v, want %v", codes, want)
			}
			d = time.Since(start)
			t.Logf("the trickles got %v, the last %v after they began", codes, d.Round(time.Millisecond))
			if d > 6*time.Second {
				t.Errorf("the trickles ended after %v, the deadline is 2s", d)
			}
			if got := e.fileKeys(); got["f/"] != 1 || got["vf/"] != 1 || got["fc/"] != 1 {
				t.Errorf("stored file keys %v, want the other visitor's file only", got)
			}
		})
	}
}
