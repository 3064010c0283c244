services = [
  {
    id      = "hello1"
    name    = "hello"
    tags    = ["primary"]
    address = "172.17.0.5"
    port    = 5000
    checks = [
      {
        http            = "http://localhost:5000/"
        tls_skip_verify = false
        method          = "Get"
        interval        = "10s"
        timeout         = "1s"
      }
    ]
  }
]
