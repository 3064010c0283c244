package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestCoordinatesAndEventsAcrossDatacenters drives coordinates and user
// events of two datacenters through dc1's client agent with the official
// Go client. Agents send their coordinate every 200 ms and the leaders
// write them every 200 ms, instead of every 15 s and 5 s.
func TestCoordinatesAndEventsAcrossDatacenters(t *testing.T) {
	f := testcluster.NewFederation(t, 2, testcluster.Options{
		Servers: 1, Clients: 1, CoordinateSync: 200 * time.Millisecond,
		Tune: func(c *dc.Config) { c.CoordinateUpdatePeriod = 200 * time.Millisecond },
	})
	dc1Client, dc2Client := f.DC("dc1").Clients()[0], f.DC("dc2").Clients()[0]
	c1 := client(t, dc1Client)
	c2 := client(t, dc2Client)
	in := func(dc string) *api.QueryOptions { return &api.QueryOptions{Datacenter: dc} }

	t.Run("Datacenters", func(t *testing.T) {
		testcluster.WaitFor(t, 20*time.Second, func() error {
			maps, err := c1.Coordinate().Datacenters()
			if err != nil {
				return err
			}
			var got []string
			for _, m := range maps {
				if m.AreaID != "WAN" || len(m.Coordinates) != 1 || m.Coordinates[0].Coord == nil || len(m.Coordinates[0].Coord.Vec) != 8 {
					return fmt.Errorf("%s: area %q, coordinates %+v", m.Datacenter, m.AreaID, m.Coordinates)
				}
				got = append(got, m.Datacenter+" "+m.Coordinates[0].Node)
			}
			if want := []string{"dc1 dc1-server-1.dc1", "dc2 dc2-server-1.dc2"}; !slices.Equal(got, want) {
				return fmt.Errorf("datacenters %v, want %v", got, want)
			}
			return nil
		})
	})

	t.Run("NodesOfAnotherDC", func(t *testing.T) {
		testcluster.WaitFor(t, 20*time.Second, func() error {
			entries, meta, err := c1.Coordinate().Nodes(in("dc2"))
			if err != nil {
				return err
			}
			var nodes []string
			for _, e := range entries {
				if e.Coord == nil || len(e.Coord.Vec) != 8 {
					return fmt.Errorf("%s has coordinate %+v", e.Node, e.Coord)
				}
				nodes = append(nodes, e.Node)
			}
			if !slices.Equal(nodes, []string{"dc2-client-1", "dc2-server-1"}) || meta.LastIndex == 0 {
				return fmt.Errorf("dc2 coordinates of %v at index %d", nodes, meta.LastIndex)
			}
			return nil
		})
		one, _, err := c1.Coordinate().Node("dc2-client-1", in("dc2"))
		if err != nil || len(one) != 1 || one[0].Node != "dc2-client-1" {
			t.Fatalf("dc2-client-1's coordinate: %+v, %v", one, err)
		}
		local, _, err := c1.Coordinate().Nodes(nil)
		if err != nil || slices.ContainsFunc(local, func(e *api.CoordinateEntry) bool { return strings.HasPrefix(e.Node, "dc2") }) {
			t.Fatalf("dc1's own coordinates hold dc2's nodes: %+v, %v", local, err)
		}
		// ?near= in dc2 sorts by dc2's stored coordinates: this agent
		// has never gossiped with dc2's nodes.
		for _, near := range []string{"dc2-client-1", "dc2-server-1"} {
			nodes, _, err := c1.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2", Near: near})
			if err != nil || len(nodes) != 2 || nodes[0].Node != near {
				t.Fatalf("dc2 nodes near %s: %+v, %v", near, nodes, err)
			}
		}
	})

	t.Run("Update", func(t *testing.T) {
		if _, err := c1.Catalog().Register(&api.CatalogRegistration{Node: "ext-1", Address: "10.1.0.1"}, nil); err != nil {
			t.Fatal(err)
		}
		_, meta, err := c1.Coordinate().Nodes(nil)
		if err != nil {
			t.Fatal(err)
		}
		coord := coordinate.NewCoordinate(coordinate.DefaultConfig())
		coord.Vec[0], coord.Height = 0.042, 0.001
		woke := make(chan error, 1)
		go func() {
			// A blocking read wakes when a batch lands.
			_, m, err := c1.Coordinate().Nodes(&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 10 * time.Second})
			if err == nil && m.LastIndex <= meta.LastIndex {
				err = fmt.Errorf("blocking read returned at index %d, asked to wait past %d", m.LastIndex, meta.LastIndex)
			}
			woke <- err
		}()
		if _, err := c1.Coordinate().Update(&api.CoordinateEntry{Node: "ext-1", Coord: coord}, nil); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 10*time.Second, func() error {
			got, _, err := c1.Coordinate().Node("ext-1", nil)
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].Coord.Vec[0] != 0.042 || got[0].Coord.Height != 0.001 {
				return fmt.Errorf("ext-1: %+v", got)
			}
			return nil
		})
		select {
		case err := <-woke:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("blocking coordinate read did not return")
		}
		// In another datacenter: ext-2 exists in dc2 only.
		if _, err := c1.Catalog().Register(&api.CatalogRegistration{Node: "ext-2", Address: "10.2.0.1"}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.Coordinate().Update(&api.CoordinateEntry{Node: "ext-2", Coord: coord}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 10*time.Second, func() error {
			got, _, err := c2.Coordinate().Node("ext-2", nil)
			if err != nil || len(got) != 1 {
				return fmt.Errorf("ext-2 in dc2: %+v, %v", got, err)
			}
			return nil
		})
	})

	t.Run("BadInput", func(t *testing.T) {
		for name, body := range map[string]string{
			"not json":      `{"Node":`,
			"no node":       `{"Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5}}`,
			"no coordinate": `{"Node":"ext-1"}`,
			"empty vector":  `{"Node":"ext-1","Coord":{"Vec":[],"Error":1.5}}`,
			"wrong types":   `{"Node":"ext-1","Coord":{"Vec":"far"}}`,
		} {
			code, text := do(t, http.MethodPut, "http://"+dc1Client.HTTPAddr+"/v1/coordinate/update", body)
			if code != http.StatusBadRequest {
				t.Errorf("%s: %d %q, want 400", name, code, text)
			}
		}
		code, _ := do(t, http.MethodGet, "http://"+dc1Client.HTTPAddr+"/v1/coordinate/node/nobody", "")
		if code != http.StatusNotFound {
			t.Errorf("coordinate of an unknown node: %d, want 404", code)
		}
		code, text := do(t, http.MethodGet, "http://"+dc1Client.HTTPAddr+"/v1/coordinate/nodes?dc=dc9", "")
		if code != http.StatusInternalServerError || !strings.Contains(text, "No path to datacenter") {
			t.Errorf("coordinates of an unknown dc: %d %q", code, text)
		}
	})

	t.Run("EventFiredInAnotherDC", func(t *testing.T) {
		ev, _, err := c1.Event().Fire(&api.UserEvent{Name: "deploy", Payload: []byte("v2")}, &api.WriteOptions{Datacenter: "dc2"})
		if err != nil || ev == "" {
			t.Fatalf("fire in dc2: %q, %v", ev, err)
		}
		for _, n := range f.DC("dc2").Nodes {
			c := client(t, n)
			testcluster.WaitFor(t, 10*time.Second, func() error {
				events, _, err := c.Event().List("deploy", nil)
				if err != nil {
					return err
				}
				if len(events) != 1 || events[0].ID != ev || string(events[0].Payload) != "v2" {
					return fmt.Errorf("%s received %+v", n.Name, events)
				}
				return nil
			})
		}
		// dc1's agents got nothing: the event was gossiped in dc2 only.
		for _, n := range f.DC("dc1").Nodes {
			events, _, err := client(t, n).Event().List("deploy", nil)
			if err != nil || len(events) != 0 {
				t.Fatalf("%s received %+v (%v)", n.Name, events, err)
			}
		}
		_, _, err = c1.Event().Fire(&api.UserEvent{Name: "deploy"}, &api.WriteOptions{Datacenter: "dc9"})
		if err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
			t.Fatalf("fire in an unknown dc: %v", err)
		}
	})
}

// do sends one HTTP request and returns the status and body.
func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
