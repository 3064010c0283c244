package agent_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// Autopilot and leadership transfer through Consul's Go client:
// configuration get/set/cas, server health (429 when unhealthy), state.
func TestConsulAPIAutopilotCompat(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	leader := c.WaitForLeader(10 * time.Second)
	fc := client(t, c.Followers()[0])
	op := fc.Operator()

	conf, err := op.AutopilotGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !conf.CleanupDeadServers || conf.LastContactThreshold.Duration() != 200*time.Millisecond || conf.MaxTrailingLogs != 250 ||
		conf.ServerStabilizationTime.Duration() != 10*time.Second || conf.MinQuorum != 0 || conf.ModifyIndex != 0 {
		t.Fatalf("default configuration %+v", conf)
	}
	conf.MinQuorum = 3
	conf.LastContactThreshold = api.NewReadableDuration(time.Second)
	if err := op.AutopilotSetConfiguration(conf, nil); err != nil {
		t.Fatal(err)
	}
	got, err := client(t, leader).Operator().AutopilotGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.MinQuorum != 3 || got.LastContactThreshold.Duration() != time.Second || got.ModifyIndex == 0 || got.CreateIndex != got.ModifyIndex {
		t.Fatalf("stored configuration %+v", got)
	}
	stale := *got
	stale.ModifyIndex--
	if ok, err := op.AutopilotCASConfiguration(&stale, nil); err != nil || ok {
		t.Fatalf("cas with a stale index: %v %v", ok, err)
	}
	got.MaxTrailingLogs = 500
	if ok, err := op.AutopilotCASConfiguration(got, nil); err != nil || !ok {
		t.Fatalf("cas with the current index: %v %v", ok, err)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+leader.HTTPAddr+"/v1/operator/autopilot/configuration",
		strings.NewReader(`{"LastContactThreshold": "soon"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad duration: %d, want 400", resp.StatusCode)
	}

	var health *api.OperatorHealthReply
	testcluster.WaitFor(t, 20*time.Second, func() error {
		health, err = op.AutopilotServerHealth(nil)
		if err != nil {
			return err
		}
		if !health.Healthy || health.FailureTolerance != 1 || len(health.Servers) != 3 {
			return fmt.Errorf("health %+v", health)
		}
		return nil
	})
	byName := map[string]api.ServerHealth{}
	leaders := 0
	for _, s := range health.Servers {
		byName[s.Name] = s
		if s.Leader {
			leaders++
		}
		if s.ID == "" || s.Address == "" || s.SerfStatus != "alive" || s.Version != agent.Version || !s.Voter ||
			s.LastIndex == 0 || s.LastTerm == 0 || s.StableSince.IsZero() || s.LastContact == nil {
			t.Fatalf("server health %+v", s)
		}
	}
	if leaders != 1 || !byName[leader.Name].Leader {
		t.Fatalf("leader in health: %+v", health.Servers)
	}
	state, err := op.AutopilotState(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !state.Healthy || state.Leader != byName[leader.Name].ID || len(state.Voters) != 3 || len(state.Servers) != 3 ||
		state.Servers[state.Leader].Status != api.AutopilotServerLeader || state.FailureTolerance != 1 {
		t.Fatalf("state %+v", state)
	}

	// Leadership to a named follower, through another server.
	target := c.Followers()[1]
	tr, err := op.RaftLeaderTransfer(byName[target.Name].ID, nil)
	if err != nil || !tr.Success {
		t.Fatalf("transfer to %s: %+v %v", target.Name, tr, err)
	}
	if now := c.WaitForLeader(10 * time.Second); now != target {
		t.Fatalf("leader %s after the transfer, want %s", now.Name, target.Name)
	}
	if _, err := op.RaftLeaderTransfer("no-such-server", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("transfer to an unknown server: %v", err)
	}

	// One server down: 429 with the body, which the client decodes.
	down := c.Followers()[0]
	c.Stop(down)
	testcluster.WaitFor(t, 20*time.Second, func() error {
		h, err := client(t, target).Operator().AutopilotServerHealth(nil)
		if err != nil {
			return err
		}
		if h.Healthy || h.FailureTolerance != 0 {
			return fmt.Errorf("health with a server down: %+v", h)
		}
		for _, s := range h.Servers {
			if s.Name == down.Name && !s.Healthy {
				return nil
			}
		}
		return errors.New("the stopped server is still healthy")
	})
	raw, err := http.Get("http://" + target.HTTPAddr + "/v1/operator/autopilot/health")
	if err != nil {
		t.Fatal(err)
	}
	raw.Body.Close()
	if raw.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("health with a server down: %d, want 429", raw.StatusCode)
	}
}
