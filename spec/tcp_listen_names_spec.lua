-- tcp.listen with a host name resolves it (the reference used to say it
-- fails with "noaddress"): through the hosts file (a dns.config one here)
-- or DNS, then binds the first IPv4 address found, else the first one.
-- Only loopback names, and a DNS "server" that is a closed loopback port.
local tcp = require "tls.tcp"
local dns = require "tls.dns"
local helper = require "helper"

local function pack(...) return { n = select("#", ...), ... } end

describe("tcp.listen with a host name", function()
  local dir, servers = nil, {}
  setup(function()
    local p = io.popen("mktemp -d"); dir = p:read("*l"); p:close()
    local f = assert(io.open(dir .. "/hosts", "w"))
    f:write("127.0.0.1 v4only.test\n", "::1 v6only.test\n",
      "::1 both.test\n", "127.0.0.1 both.test\n", "192.0.2.1 elsewhere.test\n")
    f:close()
    -- a name server that is not there: names outside the hosts file fail
    dns.config { hosts = dir .. "/hosts", nameservers = { "127.0.0.1:1" }, timeout = 0.5,
                 attempts = 1, search = {} }
  end)
  teardown(function()
    dns.config { nameservers = false, timeout = false, attempts = false, search = false,
                 hosts = false, ndots = false, cache = true }
    os.execute("rm -rf '" .. dir .. "'")
  end)
  after_each(function()
    for _, s in ipairs(servers) do s:close() end
    servers = {}
    helper.drain()
  end)

  local function listen(host)
    local r = pack(tcp.listen(host, 0, function(ios) ios:write("hi") end))
    if r[1] then servers[#servers + 1] = r[1] end
    return r
  end

  it("binds the address the hosts file gives", function()
    local srv = assert(listen("v4only.test")[1])
    assert.equal("127.0.0.1", srv:address().addr)
    local ios = assert(tcp.connecta(srv:address()))
    assert.equal("hi", ios:read("a"))
    ios:close()
  end)

  it("prefers the IPv4 address of a name that has both", function()
    local srv = assert(listen("both.test")[1])
    assert.equal("127.0.0.1", srv:address().addr)
  end)

  it("binds an IPv6 address when that is all the name has", function()
    if not helper.ipv6() then return end
    local srv = assert(listen("v6only.test")[1])
    assert.equal("::1", srv:address().addr)
  end)

  it("a name of an address that is not local: nil, msg, 'addrnotavail'", function()
    local r = listen("elsewhere.test")
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal("addrnotavail", r[3])
  end)

  it("a name that does not resolve: nil, msg, code from the lookup", function()
    local r = listen("nowhere.test")
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.matches("nowhere.test", r[2], 1, true)
    assert.is_string(r[3])
    assert.are_not.equal("noaddress", r[3])
  end)

  it("resolves in a task too", function()
    local addr = helper.bounded(10, function()
      local srv = assert(tcp.listen("v4only.test", 0, function() end))
      servers[#servers + 1] = srv
      return srv:address().addr
    end)
    assert.equal("127.0.0.1", addr)
  end)
end)
