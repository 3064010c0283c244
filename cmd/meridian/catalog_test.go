package main

import (
	"slices"
	"testing"
)

const catalogNodesJSON = `[
 {"ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"web-1","Address":"10.0.0.5","Datacenter":"dc1",
  "TaggedAddresses":{"lan":"10.0.0.5","wan":"198.51.100.5"},"Meta":{"rack":"r1","env":"prod"},"CreateIndex":1,"ModifyIndex":2},
 {"ID":"","Node":"db","Address":"10.0.0.6","Datacenter":"dc1","TaggedAddresses":null,"Meta":null}
]`

const catalogServiceJSON = `[
 {"ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"web-1","Address":"10.0.0.5","Datacenter":"dc1",
  "TaggedAddresses":{"lan":"10.0.0.5"},"NodeMeta":{"rack":"r1"},"ServiceID":"web","ServiceName":"web","ServicePort":80}
]`

func TestCatalog(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		reply  fakeReply
		req    string // "METHOD path?query"
		stdout string
		stderr string
	}{
		{
			name: "datacenters", args: []string{"catalog", "datacenters"},
			reply: fakeReply{body: `["dc1","dc3","dc2"]`}, req: "GET /v1/catalog/datacenters?",
			stdout: "dc1\ndc3\ndc2\n",
		},
		{
			name: "nodes", args: []string{"catalog", "nodes"},
			reply: fakeReply{body: catalogNodesJSON}, req: "GET /v1/catalog/nodes?",
			stdout: "" +
				"Node   ID        Address   DC\n" +
				"web-1  40e4a748  10.0.0.5  dc1\n" +
				"db               10.0.0.6  dc1\n",
		},
		{
			name: "nodes detailed with meta filters", args: []string{"catalog", "nodes", "-detailed", "-node-meta=rack:r1", "-node-meta", "env=prod", "-near=_agent"},
			reply: fakeReply{body: `[{"ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"web-1","Address":"10.0.0.5","Datacenter":"dc1",
				"TaggedAddresses":{"lan":"10.0.0.5","wan":"198.51.100.5"},"Meta":{"rack":"r1","env":"prod"}}]`},
			req: "GET /v1/catalog/nodes?near=_agent&node-meta=env%3Aprod&node-meta=rack%3Ar1",
			stdout: "" +
				"Node   ID                                    Address   DC   TaggedAddresses                 Meta\n" +
				"web-1  40e4a748-2192-161a-0510-9bf59fe950b5  10.0.0.5  dc1  lan=10.0.0.5, wan=198.51.100.5  env=prod, rack=r1\n",
		},
		{
			name: "nodes of a service", args: []string{"catalog", "nodes", "-service=web"},
			reply: fakeReply{body: catalogServiceJSON}, req: "GET /v1/catalog/service/web?",
			stdout: "" +
				"Node   ID        Address   DC\n" +
				"web-1  40e4a748  10.0.0.5  dc1\n",
		},
		{
			name: "no nodes", args: []string{"catalog", "nodes", "-service=nope"},
			reply: fakeReply{body: `[]`}, req: "GET /v1/catalog/service/nope?",
			stderr: "No nodes match the given query - try expanding your search.\n",
		},
		{
			name: "services", args: []string{"catalog", "services", "-node-meta=rack:r1"},
			reply:  fakeReply{body: `{"web":["v2","v1"],"consul":[],"db":["primary"]}`},
			req:    "GET /v1/catalog/services?node-meta=rack%3Ar1",
			stdout: "consul\ndb\nweb\n",
		},
		{
			name: "services with tags", args: []string{"catalog", "services", "-tags"},
			reply: fakeReply{body: `{"web":["v2","v1","v1"],"consul":[],"db":["primary"]}`},
			req:   "GET /v1/catalog/services?",
			stdout: "" +
				"consul\n" +
				"db          primary\n" +
				"web         v1,v2\n",
		},
		{
			name: "services of every datacenter", args: []string{"catalog", "services", "-dc", "*", "-tags"},
			reply: fakeReply{body: `{"web":["dc1-tag","dc2-tag"],"consul":[]}`},
			req:   "GET /v1/catalog/services?dc=%2A",
			stdout: "" +
				"consul\n" +
				"web         dc1-tag,dc2-tag\n",
		},
		{
			name: "services of a node", args: []string{"catalog", "services", "-node=web-1", "-tags"},
			reply: fakeReply{body: `{"Node":{"Node":"web-1"},"Services":{
				"web-a":{"ID":"web-a","Service":"web","Tags":["a"]},
				"web-b":{"ID":"web-b","Service":"web","Tags":["b"]},
				"redis":{"ID":"redis","Service":"redis","Tags":null}}}`},
			req: "GET /v1/catalog/node/web-1?",
			stdout: "" +
				"redis\n" +
				"web        a,b\n",
		},
		{
			name: "services of a missing node", args: []string{"catalog", "services", "-node=ghost"},
			reply: fakeReply{body: `null`}, req: "GET /v1/catalog/node/ghost?",
			stderr: "No services match the given query - try expanding your search.\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(tc.reply))
			res := runCLI(t, agent, nil, "", tc.args...)
			if res.code != exitOK || res.stdout != tc.stdout || res.stderr != tc.stderr {
				t.Errorf("code %d\nstdout:\n%s\nwant:\n%s\nstderr %q, want %q", res.code, res.stdout, tc.stdout, res.stderr, tc.stderr)
			}
			req := agent.only(t)
			// The client writes repeated node-meta filters from a map, in
			// no fixed order: compare each key's values as a set.
			for _, vs := range req.Query {
				slices.Sort(vs)
			}
			if got := req.Method + " " + req.Path + "?" + req.Query.Encode(); got != tc.req {
				t.Errorf("request %q, want %q", got, tc.req)
			}
		})
	}
}
