package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/meridian-io/meridian/agent/ui"
)

// fakeFederation answers the HTTP API a federated agent serves (Consul's
// shapes) for three datacenters, dc3 unreachable. It stands in for the
// WAN until federation is wired into the agent, so the switcher and the
// federation view are checked against the API they will meet.
type fakeFederation struct {
	done chan struct{} // closed at the end: releases blocking requests
	mu   sync.Mutex
	dcs  []string // ?dc= of every API request
}

func (f *fakeFederation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dc := r.URL.Query().Get("dc")
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		f.mu.Lock()
		f.dcs = append(f.dcs, r.URL.Path+"?dc="+dc)
		f.mu.Unlock()
	}
	if dc == "" {
		dc = "dc1"
	}
	if r.Header.Get("X-Consul-Token") == "wrong" {
		http.Error(w, "Permission denied", http.StatusForbidden)
		return
	}
	if dc == "dc3" {
		http.Error(w, "rpc error: No path to datacenter", http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Has("index") {
		// Nothing ever changes here: hold the blocking query.
		select {
		case <-f.done:
		case <-r.Context().Done():
		}
	}
	w.Header().Set("X-Consul-Index", "7")
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	n := map[string]int{"dc1": 1, "dc2": 2}[dc]
	switch r.URL.Path {
	case "/v1/agent/self":
		reply(map[string]any{"Config": map[string]any{"Datacenter": "dc1", "NodeName": "dc1-server-1"}})
	case "/v1/catalog/datacenters":
		reply([]string{"dc1", "dc2", "dc3"})
	case "/v1/status/leader":
		reply(fmt.Sprintf("10.0.%d.1:8300", n))
	case "/v1/status/peers":
		reply([]string{fmt.Sprintf("10.0.%d.1:8300", n), fmt.Sprintf("10.0.%d.2:8300", n), fmt.Sprintf("10.0.%d.3:8300", n)})
	case "/v1/internal/ui/services":
		reply([]map[string]any{{"Name": "web-" + dc, "Datacenter": dc, "Tags": []string{}, "Nodes": []string{"a"},
			"InstanceCount": 2, "InstancesPassing": 1, "InstancesWarning": 0, "InstancesCritical": 1}})
	case "/v1/internal/ui/nodes":
		reply([]any{})
	case "/v1/coordinate/datacenters":
		coord := func(x float64) map[string]any {
			return map[string]any{"Vec": []float64{x, 0, 0, 0, 0, 0, 0, 0}, "Error": 0.2, "Adjustment": 0, "Height": 0.0001}
		}
		reply([]map[string]any{
			{"Datacenter": "dc1", "AreaID": "wan", "Coordinates": []map[string]any{{"Node": "s1.dc1", "Coord": coord(0)}, {"Node": "s2.dc1", "Coord": coord(0.001)}}},
			{"Datacenter": "dc2", "AreaID": "wan", "Coordinates": []map[string]any{{"Node": "s1.dc2", "Coord": coord(0.0305)}}},
			{"Datacenter": "dc3", "AreaID": "wan", "Coordinates": []map[string]any{{"Node": "s1.dc3", "Coord": coord(0.08)}}},
		})
	default:
		http.NotFound(w, r)
	}
}

// TestConsoleFederation: the datacenter switcher lists every DC in the
// API's order and keeps the view, requests name the DC, and the
// federation view shows servers, leaders, health, an unreachable DC in
// plain words, and the RTT table and picture from WAN coordinates.
func TestConsoleFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; runs without -short")
	}
	console, err := ui.Handler("")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeFederation{done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/ui/", console)
	mux.Handle("/v1/", fake)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(fake.done) }) // runs first: frees held requests

	b := newBrowser(t)
	b.run(t, "open", chromedp.Navigate(srv.URL+"/ui/#/dc1/federation"))
	b.waitFor(t, "the RTT table", `!!document.querySelector('table[data-rtt]')`)
	b.waitFor(t, "three DC rows", `document.querySelectorAll('table[data-federation] tr[data-dc]').length === 3`)
	if got := b.text(t, `tr[data-dc="dc2"]`); !strings.Contains(got, "10.0.2.1:8300 leader") || !strings.Contains(got, "10.0.2.3:8300") || !strings.Contains(got, "1 critical") {
		t.Errorf("dc2 row %q", got)
	}
	if got := b.text(t, `tr[data-dc="dc3"]`); !strings.Contains(got, "unreachable") || !strings.Contains(got, "cannot be reached") {
		t.Errorf("dc3 row %q does not say it is unreachable", got)
	}
	// dc1 (x=0 and 0.001) to dc2 (x=0.0305): median of 30.5 and 29.5 ms,
	// plus both heights (0.2 ms).
	if got := b.text(t, `td[data-from="dc1"][data-to="dc2"]`); got != "30.2 ms" {
		t.Errorf("dc1 -> dc2 RTT %q, want 30.2 ms", got)
	}
	if got := b.text(t, `td[data-from="dc3"][data-to="dc1"]`); got != "79.7 ms" {
		t.Errorf("dc3 -> dc1 RTT %q, want 79.7 ms", got)
	}
	var edges int
	b.run(t, "picture", chromedp.Evaluate(`document.querySelectorAll('svg.fed-picture line').length`, &edges))
	if edges != 3 {
		t.Errorf("picture has %d edges, want 3", edges)
	}
	b.fullScreenshot(t, "federation-3dc")

	// The switcher lists the DCs nearest first and keeps the view.
	var options []string
	b.run(t, "options", chromedp.Evaluate(`[...document.querySelectorAll('#dc-select option')].map((o) => o.value)`, &options))
	if strings.Join(options, ",") != "dc1,dc2,dc3" {
		t.Errorf("switcher lists %v", options)
	}
	b.run(t, "services", chromedp.Navigate(srv.URL+"/ui/#/dc1/services"))
	b.waitFor(t, "dc1's service", `!!document.querySelector('tr[data-service="web-dc1"]')`)
	b.run(t, "switch", chromedp.SetValue(`#dc-select`, "dc2", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#dc-select').dispatchEvent(new Event('change'))`, nil))
	b.waitFor(t, "dc2's service", `location.hash === '#/dc2/services' && !!document.querySelector('tr[data-service="web-dc2"]')`)
	b.screenshot(t, "services-dc2")
	fake.mu.Lock()
	asked := strings.Join(fake.dcs, " ")
	fake.mu.Unlock()
	if !strings.Contains(asked, "/v1/internal/ui/services?dc=dc2") {
		t.Errorf("no services request named dc2: %s", asked)
	}
	// A DC that cannot be reached is said so, in words.
	b.run(t, "dc3", chromedp.Navigate(srv.URL+"/ui/#/dc3/services"))
	b.waitFor(t, "the error", `document.querySelector('.banner.error')?.textContent.includes('Datacenter dc3 cannot be reached')`)
	b.screenshot(t, "services-dc3-unreachable")

	// A token the agent refuses: said plainly, with the token form at hand.
	b.run(t, "wrong token", chromedp.Evaluate(`localStorage.setItem('meridian.token', 'wrong')`, nil),
		chromedp.Navigate(srv.URL+"/ui/#/dc1/services"), chromedp.Reload())
	b.waitFor(t, "permission denied", `document.body.textContent.includes('Permission denied') && !!document.querySelector('input[data-token]')`)
	b.screenshot(t, "permission-denied")
	b.run(t, "fix token", setValue(`input[data-token]`, ""),
		chromedp.Click(`//button[text()="Save token"]`, chromedp.BySearch))
	b.waitFor(t, "services again", `!!document.querySelector('tr[data-service="web-dc1"]')`)
	b.assertLocalOnly(t)
}
