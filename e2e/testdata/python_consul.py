"""python-consul against a Meridian agent: every call of Debian's
python3-consul 0.7.1 that uses Consul 1.0's verbs. Usage: HOST PORT.
Prints "python-consul VERSION: OK" when every assertion held."""
import sys, threading, time
import consul

c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
# KV
assert c.kv.put("py/a", "1")
idx, v = c.kv.get("py/a")
assert v["Value"] == b"1", v
assert c.kv.put("py/a", "2", cas=v["ModifyIndex"])
assert not c.kv.put("py/a", "3", cas=v["ModifyIndex"])
idx, vs = c.kv.get("py/", recurse=True)
assert [x["Key"] for x in vs] == ["py/a"], vs
idx, keys = c.kv.get("", keys=True)
assert "py/a" in keys
# blocking get
res = {}
def watch():
    res["v"] = c.kv.get("py/a", index=idx, wait="10s")
t = threading.Thread(target=watch); t.start()
# Whether the write lands before or during the wait, the get returns it.
c.kv.put("py/a", "4")
t.join(15)
assert res["v"][1]["Value"] == b"4", res
assert c.kv.delete("py/", recurse=True)
# agent services and checks. Debian's python-consul 0.7.1 predates Consul
# 1.0's verbs: it GETs check pass/warn/fail, service and check
# deregistration, join and force-leave, which Consul (like Meridian)
# answers 405; everything else it sends is used here.
c.agent.service.register("web", service_id="web1", port=80, tags=["v1"], check=consul.Check.ttl("10s"))
assert "web1" in c.agent.services()
assert c.agent.checks()["service:web1"]["Status"] == "critical"
for i in range(100):
    idx, nodes = c.health.service("web")
    if nodes: break
    time.sleep(0.05)
assert len(nodes) == 1 and nodes[0]["Service"]["ID"] == "web1", nodes
idx, passing = c.health.service("web", passing=True)
assert passing == [], passing
assert c.catalog.register("ext", "10.1.2.3", service={"Service": "db", "ID": "db1", "Port": 5432, "Tags": ["primary"]},
                          check={"CheckID": "db-ok", "Name": "db", "Status": "passing", "ServiceID": "db1"})
idx, nodes = c.health.service("db", passing=True)
assert len(nodes) == 1 and nodes[0]["Service"]["Port"] == 5432 and nodes[0]["Node"]["Address"] == "10.1.2.3", nodes
idx, svcs = c.catalog.services()
assert svcs.get("web") == ["v1"] and svcs.get("db") == ["primary"], svcs
idx, cs = c.catalog.service("web")
assert cs[0]["ServicePort"] == 80, cs
idx, checks = c.health.checks("db")
assert checks and checks[0]["Status"] == "passing", checks
idx, st = c.health.state("passing")
assert any(x["CheckID"] == "db-ok" for x in st), st
idx, node = c.catalog.node("ext")
assert "db1" in node["Services"], node
idx, hn = c.health.node("ext")
assert hn[0]["CheckID"] == "db-ok", hn
idx, n = c.catalog.nodes()
assert {x["Node"] for x in n} >= {"ext"}, n
assert c.agent.self()["Config"]["Datacenter"] == "dc1"
assert c.catalog.datacenters() == ["dc1"]
assert c.agent.members()
assert c.agent.check.register("disk", consul.Check.ttl("30s"))
assert "disk" in c.agent.checks()
assert c.agent.service.maintenance("web1", "true", "upgrade")
assert any(k.startswith("_service_maintenance") for k in c.agent.checks()), c.agent.checks()
assert c.catalog.deregister("ext")
# sessions and locks
s = c.session.create(name="py", ttl=15)
assert c.kv.put("py/lock", "me", acquire=s)
s2 = c.session.create(name="py2")
assert not c.kv.put("py/lock", "you", acquire=s2)
idx, info = c.session.info(s)
assert info["Name"] == "py", info
idx, all_ = c.session.list()
assert len(all_) >= 2
c.session.renew(s)
assert c.kv.put("py/lock", "me", release=s)
c.session.destroy(s); c.session.destroy(s2)
# events, status, coordinates, acl-less txn
c.event.fire("deploy", "v2")
idx, evs = c.event.list(name="deploy")
assert evs and evs[-1]["Name"] == "deploy", evs
assert c.status.leader()
assert c.status.peers()
idx, co = c.coordinate.nodes()
dcs = c.coordinate.datacenters()
assert dcs, dcs
# query
q = c.query.create("web", name="webq")
r = c.query.execute("webq")
c.query.delete(q["ID"])
print("python-consul %s: OK" % consul.__version__)
