# The same service written with HCL blocks instead of lists.
service {
  id      = "hello1"
  name    = "hello"
  tags    = ["primary"]
  address = "172.17.0.5"
  port    = 5000
  check {
    http            = "http://localhost:5000/"
    tls_skip_verify = false
    method          = "Get"
    interval        = "10s"
    timeout         = "1s"
  }
}
