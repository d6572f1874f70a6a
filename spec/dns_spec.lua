-- tls.dns against a real server (dnsmasq on a loopback port, started here)
-- and a misbehaving one of our own (spec/fixtures/baddns.py); connect by
-- name (Happy Eyeballs) against our own listeners. Loopback only, every
-- wait bounded.

local loop = require "tls.loop"
local tcp = require "tls.tcp"
local dns = require "tls.dns"
local helper = require "helper"

local ROOT = helper.root

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/tls-dns-spec.XXXXXX")
  local d = p:read("*l"); p:close()
  return d
end

local function write(path, text)
  local f = assert(io.open(path, "w")); f:write(text); f:close()
end

local function readfile(path)
  local f = io.open(path); if not f then return nil end
  local s = f:read("*a"); f:close(); return s
end

-- Waits (running the loop) until `path` exists and holds something.
local function wait_file(path, seconds)
  local deadline = loop.now() + seconds
  while loop.now() < deadline do
    local s = readfile(path)
    if s and #s > 0 then return s end
    loop.sleep(0.02)
  end
  error("no " .. path .. " after " .. seconds .. " s")
end

local function kill(pidfile)
  local pid = tonumber(readfile(pidfile) or "")
  if pid then os.execute(("kill %d 2>/dev/null"):format(pid)) end
end

local function addrs(list)
  local out = {}
  for i, a in ipairs(list) do out[i] = a.addr end
  return out
end

local function sorted(list)
  local t = addrs(list); table.sort(t); return t
end

-- Runs f, which must raise; checks the message contains `text`.
local function raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "did not raise")
  assert.matches(text, tostring(err), 1, true)
end

local function timed(f, ...)
  local t0 = loop.now()
  local r = helper.pack(f(...))
  return loop.now() - t0, helper.unpack(r, 1, r.n)
end

-- The system settings, to restore after each group.
local SYSTEM = dns.config()

local function reset()
  dns.config { nameservers = false, timeout = false, attempts = false, search = false,
               hosts = false, ndots = false, cache = true }
end

describe("tls.dns without the network", function()
  local dir
  setup(function()
    dir = tmpdir()
    write(dir .. "/hosts", table.concat({
      "# a hosts file of our own",
      "192.0.2.1   alpha.example alpha",
      "2001:db8::1 alpha.example",
      "192.0.2.2   beta.example",
      "::1 localhost",
      "127.0.0.1 localhost",
    }, "\n") .. "\n")
    -- A server that is not there: any query would wait out the timeout.
    dns.config { nameservers = { "127.0.0.1:9" }, timeout = 5, attempts = 1,
                 hosts = dir .. "/hosts", search = {} }
  end)
  teardown(function()
    reset()
    os.execute("rm -rf " .. dir)
  end)

  it("answers literals at once, with the port", function()
    local dt, r = timed(dns.address, "192.0.2.7", "ip", "tcp", 80)
    assert.is_true(dt < 0.5)
    assert.equal(1, #r)
    assert.equal("ip4", r[1].family)
    assert.equal("192.0.2.7", r[1].addr)
    assert.equal(80, r[1].port)
    assert.equal("192.0.2.7:80", tostring(r[1]))
    r = assert(dns.address("::1", "ip6", "tcp", 443))
    assert.equal("ip6", r[1].family)
    assert.equal("[::1]:443", tostring(r[1]))
    r = assert(dns.address("[2001:db8::5]"))
    assert.equal("2001:db8::5", r[1].addr)
    assert.equal(0, r[1].port)
  end)

  it("says noaddress for a literal of the other family", function()
    local r, msg, code = dns.address("::1", "ip4")
    assert.is_nil(r)
    assert.equal("noaddress", code)
    assert.matches("::1", msg, 1, true)
    r, msg, code = dns.address("127.0.0.1", "ip6")
    assert.is_nil(r)
    assert.equal("noaddress", code)
  end)

  it("refuses a host with ':' that is no IPv6 address at once, asking no server", function()
    local udp, tcp = require "tls.udp", require "tls.tcp"
    local listener = assert(udp.bind("127.0.0.1", 0)) -- the only server configured
    dns.config { nameservers = { tostring(listener:getsockname()) } }
    for _, host in ipairs({ "::zz", "example.com:443", "1.2.3.4:80", "[::1" }) do
      local r, msg, code = dns.address(host)
      assert.is_nil(r, host)
      assert.equal("nxdomain", code, host)
      assert.matches("invalid host name", msg, 1, true)
      local ios, _, tcode = tcp.connect(host, 80)
      assert.is_nil(ios, host)
      assert.equal("nxdomain", tcode, host)
    end
    local got, _, code = listener:recv(0.2)
    assert.is_nil(got, "a query was sent")
    assert.equal("timeout", code)
    listener:close()
    dns.config { nameservers = { "127.0.0.1:9" } }
  end)

  it("answers names from the hosts file at once, any case, aliases too", function()
    local dt, r = timed(dns.address, "ALPHA.example", "ip")
    assert.is_true(dt < 0.5)
    assert.same({ "192.0.2.1", "2001:db8::1" }, sorted(r))
    assert.same({ "192.0.2.1" }, addrs(assert(dns.address("alpha", "ip4"))))
    assert.same({ "2001:db8::1" }, addrs(assert(dns.address("alpha.example.", "ip6"))))
    assert.same({ "192.0.2.2" }, addrs(assert(dns.address("beta.example"))))
  end)

  it("answers localhost without the network, from a task too", function()
    local r = helper.bounded(2, function() return dns.address("localhost", "ip", "tcp", 8080) end)
    assert.same({ "127.0.0.1", "::1" }, sorted(r))
    for _, a in ipairs(r) do assert.equal(8080, a.port) end
    -- Names under .localhost are loopback even when the file does not list them.
    r = assert(dns.address("foo.localhost", "ip4"))
    assert.same({ "127.0.0.1" }, addrs(r))
  end)

  it("puts IPv6 first when the host can reach it, IPv4 first otherwise", function()
    -- ::1 is routable wherever the loopback has IPv6, as here.
    local r = assert(dns.address("localhost"))
    assert.equal("ip6", r[1].family)
    assert.equal("ip4", r[2].family)
  end)

  it("takes service names for ports", function()
    assert.equal(443, assert(dns.address("127.0.0.1", "ip", "tcp", "https"))[1].port)
    assert.equal(80, assert(dns.address("127.0.0.1", "ip", "tcp", "http"))[1].port)
    assert.equal(53, assert(dns.address("127.0.0.1", "ip", "udp", "domain"))[1].port)
    assert.equal(8443, assert(dns.address("127.0.0.1", nil, nil, "8443"))[1].port)
  end)

  it("says nxdomain for invalid names without asking anyone", function()
    local dt, r, msg, code = timed(dns.address, "bad..name")
    assert.is_true(dt < 0.5)
    assert.is_nil(r)
    assert.equal("nxdomain", code)
    assert.matches("bad..name", msg, 1, true)
    r, msg, code = dns.address(("x"):rep(64) .. ".example")
    assert.is_nil(r)
    assert.equal("nxdomain", code)
  end)

  it("raises on misuse, naming the argument", function()
    raises("bad argument #1 to 'dns.address' (string expected, got nil)", dns.address)
    assert.has_error(function() dns.address(42) end)
    raises("bad argument #2 to 'dns.address' (family must be 'ip', 'ip4' or 'ip6', got 'ipx')",
      dns.address, "x", "ipx")
    assert.has_error(function() dns.address("x", "ip", "sctp") end)
    assert.has_error(function() dns.address("x", "ip", "tcp", 70000) end)
    assert.has_error(function() dns.address("x", "ip", "tcp", -1) end)
    assert.has_error(function() dns.address("x", "ip", "tcp", 1.5) end)
    raises("bad argument #4 to 'dns.address' (unknown tcp service 'no-such-service')",
      dns.address, "x", "ip", "tcp", "no-such-service")
    assert.has_error(function() dns.address("x", "ip", "tcp", {}) end)
  end)
end)

describe("dns.config", function()
  after_each(reset)

  it("returns the settings in force", function()
    local c = dns.config()
    assert.is_table(c.nameservers)
    assert.is_true(#c.nameservers >= 1)
    assert.is_number(c.timeout)
    assert.is_number(c.attempts)
    assert.is_number(c.ndots)
    assert.is_table(c.search)
    assert.is_string(c.hosts)
    assert.is_true(c.cache)
  end)

  it("overrides for this state and resets with false", function()
    local c = dns.config { nameservers = { "127.0.0.1:5353", "[::1]:53", "10.0.0.1" },
                           timeout = 0.5, attempts = 3, search = { "a.example", "b.example" },
                           hosts = "/nonexistent/hosts", cache = false, ndots = 2 }
    assert.same({ "127.0.0.1:5353", "[::1]:53", "10.0.0.1:53" }, c.nameservers)
    assert.equal(0.5, c.timeout)
    assert.equal(3, c.attempts)
    assert.same({ "a.example", "b.example" }, c.search)
    assert.equal("/nonexistent/hosts", c.hosts)
    assert.is_false(c.cache)
    assert.equal(2, c.ndots)
    -- Keys not given keep their values.
    c = dns.config { timeout = 1 }
    assert.equal(1, c.timeout)
    assert.equal(3, c.attempts)
    c = dns.config { nameservers = false, attempts = false, search = false, hosts = false,
                     ndots = false, timeout = false }
    assert.same(SYSTEM.nameservers, c.nameservers)
    assert.same(SYSTEM.search, c.search)
    assert.equal(SYSTEM.attempts, c.attempts)
    assert.equal(SYSTEM.hosts, c.hosts)
  end)

  it("raises on unknown keys and bad values", function()
    raises("bad argument #1 to 'dns.config' (unknown option 'bogus'", dns.config, { bogus = 1 })
    raises("bad argument #1 to 'dns.config' (option 'timeout': number expected, got string)",
      dns.config, { timeout = "x" })
    assert.has_error(function() dns.config { timeout = -1 } end)
    assert.has_error(function() dns.config { attempts = 0 } end)
    assert.has_error(function() dns.config { nameservers = {} } end)
    assert.has_error(function() dns.config { nameservers = { "not an address" } } end)
    assert.has_error(function() dns.config { search = { "bad..domain" } } end)
    assert.has_error(function() dns.config { cache = "yes" } end)
    assert.has_error(function() dns.config { ndots = 99 } end)
    assert.has_error(function() dns.config(42) end)
    -- A failed call changes nothing.
    assert.has_error(function() dns.config { timeout = 2, bogus = 1 } end)
    assert.equal(SYSTEM.timeout, dns.config().timeout)
  end)

  it("reads the hosts file again when it changes", function()
    local dir = tmpdir()
    local file = dir .. "/hosts"
    write(file, "192.0.2.40 changing.example\n")
    dns.config { hosts = file, nameservers = { "127.0.0.1:9" }, attempts = 1, timeout = 1 }
    assert.same({ "192.0.2.40" }, addrs(assert(dns.address("changing.example", "ip4"))))
    write(file, "192.0.2.41 changing.example\n")
    loop.sleep(1.1)
    assert.same({ "192.0.2.41" }, addrs(assert(dns.address("changing.example", "ip4"))))
    os.execute("rm -rf " .. dir)
  end)
end)

describe("tls.dns against dnsmasq", function()
  local dir, port, pidfile
  local N_BIG = 150

  setup(function()
    dir = tmpdir()
    local big = {}
    for i = 1, N_BIG do
      big[i] = ("10.1.%d.%d big.test"):format(math.floor(i / 200), i % 200 + 1)
    end
    write(dir .. "/big", table.concat(big, "\n") .. "\n")
    port = helper.free_port()
    pidfile = dir .. "/pid"
    local cmd = table.concat({
      "exec dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces",
      "--listen-address=127.0.0.1 --user=root --local=/#/",
      "--port=" .. port, "--pid-file=" .. pidfile,
      "--addn-hosts=" .. dir .. "/big",
      "--host-record=www.test,192.0.2.10,2001:db8::10",
      "--host-record=v4only.test,192.0.2.11",
      "--host-record=v6only.test,2001:db8::12",
      "--host-record=www.corp.test,192.0.2.20",
      "--host-record=loop.test,127.0.0.1",
      "--cname=alias.test,www.test",
      "--cname=alias2.test,alias.test",
      "--txt-record=txtonly.test,hello",
      "--address=/wild.test/192.0.2.99",
    }, " ")
    helper.process(cmd, dir .. "/log")
    helper.wait_port(port, 10)
    dns.config { nameservers = { "127.0.0.1:" .. port }, timeout = 2, attempts = 2, search = {},
                 hosts = dir .. "/nohosts" }
  end)
  teardown(function()
    reset()
    kill(pidfile)
    os.execute("rm -rf " .. dir)
  end)

  it("finds A and AAAA records, from the main thread (blocking mode)", function()
    local r = assert(dns.address("www.test", "ip", "tcp", 443))
    assert.same({ "192.0.2.10", "2001:db8::10" }, sorted(r))
    for _, a in ipairs(r) do assert.equal(443, a.port) end
    assert.same({ "192.0.2.10" }, addrs(assert(dns.address("www.test", "ip4"))))
    assert.same({ "2001:db8::10" }, addrs(assert(dns.address("www.test", "ip6"))))
  end)

  it("finds them from a task", function()
    local r = helper.bounded(5, function() return assert(dns.address("www.test.", "ip4", "udp", "domain")) end)
    assert.same({ "192.0.2.10" }, addrs(r))
    assert.equal(53, r[1].port)
  end)

  it("follows CNAME chains", function()
    assert.same({ "192.0.2.10" }, addrs(assert(dns.address("alias.test", "ip4"))))
    assert.same({ "192.0.2.10", "2001:db8::10" }, sorted(assert(dns.address("alias2.test"))))
  end)

  it("says nxdomain for a name that does not exist, naming it", function()
    local r, msg, code = dns.address("nope.test")
    assert.is_nil(r)
    assert.equal("nxdomain", code)
    assert.matches("nope.test", msg, 1, true)
  end)

  it("says noaddress for a name without records of the family", function()
    local r, msg, code = dns.address("v6only.test", "ip4")
    assert.is_nil(r)
    assert.equal("noaddress", code)
    assert.matches("v6only.test", msg, 1, true)
    r, msg, code = dns.address("v4only.test", "ip6")
    assert.equal("noaddress", code)
    r, msg, code = dns.address("txtonly.test")
    assert.equal("noaddress", code)
    assert.matches("txtonly.test", msg, 1, true)
    -- Either family is enough for "ip".
    assert.same({ "2001:db8::12" }, addrs(assert(dns.address("v6only.test"))))
  end)

  it("falls back to TCP when the answer is too big for UDP", function()
    local r = assert(dns.address("big.test", "ip4"))
    assert.equal(N_BIG, #r)
    local seen = {}
    for _, a in ipairs(r) do seen[a.addr] = true end
    assert.is_true(seen["10.1.0.2"])
    assert.is_true(seen[("10.1.%d.%d"):format(math.floor(N_BIG / 200), N_BIG % 200 + 1)])
  end)

  it("applies the search list by the ndots rule", function()
    dns.config { search = { "corp.test", "test" } }
    -- No dot: the search domains first, in order.
    assert.same({ "192.0.2.20" }, addrs(assert(dns.address("www", "ip4"))))
    assert.same({ "192.0.2.11" }, addrs(assert(dns.address("v4only", "ip4"))))
    -- A name found nowhere is nxdomain, naming what was asked.
    local r, msg, code = dns.address("nothere", "ip4")
    assert.equal("nxdomain", code)
    assert.matches("nothere", msg, 1, true)
    -- With ndots 0 the name as given is tried first: "www" itself does not
    -- exist, so the search list still finds www.corp.test.
    dns.config { ndots = 0 }
    assert.same({ "192.0.2.20" }, addrs(assert(dns.address("www", "ip4"))))
    -- A trailing dot turns the search off.
    r, msg, code = dns.address("www.", "ip4")
    assert.equal("nxdomain", code)
    dns.config { search = {}, ndots = false }
  end)

  it("runs 2,000 lookups at once without holding up the loop", function()
    local N = 2000
    local tasks, ticks, done = {}, 0, 0
    local t0 = loop.now()
    local ticker = loop.spawn(function()
      while done < N and loop.now() - t0 < 30 do ticks = ticks + 1; loop.sleep(0.01) end
    end)
    for i = 1, N do
      tasks[i] = loop.spawn(function()
        -- No pcall around it: Lua 5.1 cannot yield across one. An error
        -- ends the task, and join() below reports it.
        local r, msg = dns.address(("host%d.wild.test"):format(i), "ip4", "tcp", i % 65536)
        done = done + 1
        return r, msg
      end)
    end
    for i = 1, N do
      local ok, r, msg = tasks[i]:join()
      assert.is_true(ok, r)
      assert(r, msg)
      assert.equal("192.0.2.99", r[1].addr)
      assert.equal(i % 65536, r[1].port)
      assert.is_true(loop.now() - t0 < 30, "2,000 lookups took too long")
    end
    assert(ticker:join())
    assert.is_true(ticks >= 1)
  end)

  it("raises a clear error from a coroutine the loop did not start", function()
    local ok, err = helper.bounded(5, function()
      return pcall(coroutine.wrap(function() return dns.address("www.test") end))
    end)
    assert.is_false(ok)
    assert.matches("did not start", tostring(err), 1, true)
    -- What needs no waiting works anywhere.
    local r = helper.bounded(5, function()
      return coroutine.wrap(function() return dns.address("127.0.0.1") end)()
    end)
    assert.equal("127.0.0.1", r[1].addr)
  end)

  it("connects to a name from DNS", function()
    local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) ios:write("hello\n"); ios:close() end))
    local port = srv:address().port
    local ios = assert(tcp.connect("loop.test", port))
    assert.equal("hello", ios:read("l"))
    ios:close()
    ios = helper.bounded(5, function() return assert(tcp.connect("loop.test", port, { timeout = 2 })) end)
    assert.equal("hello", ios:read("l"))
    ios:close()
    srv:close()
    local msg, code
    ios, msg, code = tcp.connect("nope.test", port)
    assert.is_nil(ios)
    assert.equal("nxdomain", code)
    assert.matches("nope.test", msg, 1, true)
  end)

  it("listens on a name from DNS, from the main thread and from a task", function()
    local function handler(ios) ios:close() end
    local srv = assert(tcp.listen("loop.test", 0, handler))
    assert.equal("127.0.0.1", srv:address().addr)
    srv:close()
    srv = helper.bounded(5, function() return assert(tcp.listen("loop.test", 0, handler)) end)
    assert.equal("127.0.0.1", srv:address().addr)
    srv:close()
    local s, msg, code = tcp.listen("nope.test", 0, handler)
    assert.is_nil(s)
    assert.equal("nxdomain", code)
    assert.matches("tcp.listen: nope.test", msg, 1, true)
    s, msg, code = helper.bounded(5, function() return tcp.listen("nope.test", 0, handler) end)
    assert.is_nil(s)
    assert.equal("nxdomain", code)
  end)
end)

describe("tls.dns against a misbehaving server", function()
  local dir, port, server

  setup(function()
    dir = tmpdir()
    server = helper.process(("exec python3 %s/spec/fixtures/baddns.py %s/port 120"):format(ROOT, dir),
      dir .. "/log")
    port = tonumber(wait_file(dir .. "/port", 10))
    dns.config { nameservers = { "127.0.0.1:" .. port }, timeout = 0.3, attempts = 1, search = {},
                 hosts = dir .. "/nohosts", cache = true }
  end)
  teardown(function()
    reset()
    server:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("answers normally when it behaves", function()
    assert.same({ "1.2.3.4" }, addrs(assert(dns.address("fine.bad.test", "ip4"))))
  end)

  it("times out on silence, with the code and the host", function()
    local dt, r, msg, code = timed(dns.address, "silent.bad.test", "ip4")
    assert.is_nil(r)
    assert.equal("timeout", code)
    assert.matches("silent.bad.test", msg, 1, true)
    assert.is_true(dt >= 0.29 and dt < 2, "took " .. dt)
    -- attempts = 2: twice the wait.
    dns.config { attempts = 2 }
    dt, r, msg, code = timed(dns.address, "silent.bad.test", "ip4")
    assert.equal("timeout", code)
    assert.is_true(dt >= 0.59 and dt < 3, "took " .. dt)
    dns.config { attempts = 1 }
  end)

  it("times out in a task while the loop goes on", function()
    local ticks = 0
    local r, msg, code = helper.bounded(5, function()
      local t = loop.spawn(function()
        for _ = 1, 10 do ticks = ticks + 1; loop.sleep(0.01) end
      end)
      local a, b, c = dns.address("silent.bad.test", "ip")
      t:join()
      return a, b, c
    end)
    assert.is_nil(r)
    assert.equal("timeout", code)
    assert.equal(10, ticks)
  end)

  it("says servfail on SERVFAIL and REFUSED", function()
    local r, msg, code = dns.address("servfail.bad.test", "ip4")
    assert.is_nil(r)
    assert.equal("servfail", code)
    assert.matches("servfail.bad.test", msg, 1, true)
    r, msg, code = dns.address("refused.bad.test", "ip4")
    assert.equal("servfail", code)
  end)

  it("never hangs on garbage", function()
    local dt, r, msg, code = timed(dns.address, "garbage.bad.test", "ip4")
    assert.is_nil(r)
    assert.is_true(code == "servfail" or code == "timeout", code)
    assert.is_true(dt < 2)
    dt, r, msg, code = timed(dns.address, "malformed.bad.test", "ip4")
    assert.is_nil(r)
    assert.equal("servfail", code)
    assert.matches("malformed.bad.test", msg, 1, true)
    assert.is_true(dt < 2)
  end)

  it("ignores a spoofed answer with the wrong ID that arrives first", function()
    assert.same({ "1.2.3.4" }, addrs(assert(dns.address("spoof.bad.test", "ip4"))))
  end)

  it("ignores an answer from the wrong port or for another question", function()
    assert.same({ "1.2.3.4" }, addrs(assert(dns.address("spoofsrc.bad.test", "ip4"))))
    assert.same({ "1.2.3.4" }, addrs(assert(dns.address("wrongq.bad.test", "ip4"))))
  end)

  it("caches answers for their TTL, and not when told not to", function()
    local first = addrs(assert(dns.address("count.bad.test", "ip4")))[1]
    assert.equal(first, addrs(assert(dns.address("count.bad.test", "ip4")))[1])
    dns.config { cache = false }
    local a = addrs(assert(dns.address("count.bad.test", "ip4")))[1]
    local b = addrs(assert(dns.address("count.bad.test", "ip4")))[1]
    assert.are_not.equal(first, a)
    assert.are_not.equal(a, b)
    dns.config { cache = true }
  end)

  it("bounds tcp.connect by its timeout while the name is resolving", function()
    local dt, ios, msg, code = timed(tcp.connect, "silent.bad.test", 80, { timeout = 0.1 })
    assert.is_nil(ios)
    assert.equal("timeout", code)
    assert.is_true(dt < 0.29, "took " .. dt)
    -- Without a timeout of its own, the resolver's error comes back.
    ios, msg, code = tcp.connect("servfail.bad.test", 80)
    assert.is_nil(ios)
    assert.equal("servfail", code)
  end)
end)

describe("connect by name", function()
  local dir
  setup(function()
    dir = tmpdir()
    write(dir .. "/hosts", table.concat({
      "::1 localhost", "127.0.0.1 localhost",
      -- 127.0.0.2 is a listener that never answers (spec/fixtures/fullbacklog.py).
      "127.0.0.2 stagger.example", "127.0.0.1 stagger.example",
      "127.0.0.2 hang.example",
    }, "\n") .. "\n")
    dns.config { hosts = dir .. "/hosts", nameservers = { "127.0.0.1:9" }, attempts = 1, timeout = 1 }
  end)
  teardown(function()
    reset()
    os.execute("rm -rf " .. dir)
  end)

  local function echo(ios)
    helper.echo_lines(ios)
    ios:close()
  end

  it("reaches a server on 127.0.0.1 only (IPv6 first, then falls through)", function()
    local srv = assert(tcp.listen("127.0.0.1", 0, echo))
    local port = srv:address().port
    local dt, ios = timed(tcp.connect, "localhost", port)
    assert(ios)
    assert.is_true(dt < 0.25, "the refused attempt should start the next at once, took " .. dt)
    assert.equal("127.0.0.1", ios:getpeername().addr)
    assert(ios:write("hi\n"))
    assert.equal("hi", ios:read("l"))
    ios:close()
    srv:close()
  end)

  it("reaches a server on ::1 only", function()
    local srv = assert(tcp.listen("::1", 0, echo))
    local port = srv:address().port
    local ios = assert(helper.bounded(5, function() return tcp.connect("localhost", port) end))
    assert.equal("::1", ios:getpeername().addr)
    ios:close()
    srv:close()
  end)

  it("lists what each attempt got when all fail", function()
    local port = helper.free_port()
    local ios, msg, code = tcp.connect("localhost", port)
    assert.is_nil(ios)
    assert.equal("refused", code)
    assert.equal(("connect to localhost port %d: [::1]:%d connection refused; 127.0.0.1:%d connection refused")
      :format(port, port, port), msg)
  end)

  it("starts the next attempt 250 ms after one that hangs (RFC 8305)", function()
    local srv = assert(tcp.listen("127.0.0.1", 0, echo))
    local port = srv:address().port
    local ready = dir .. "/ready"
    local hang = helper.process(("exec python3 %s/spec/fixtures/fullbacklog.py 127.0.0.2 %d %s 30")
      :format(ROOT, port, ready), dir .. "/fullbacklog.log")
    local ok, err = pcall(function()
      wait_file(ready, 10)
      local dt, ios = timed(tcp.connect, "stagger.example", port)
      assert(ios)
      assert.equal("127.0.0.1", ios:getpeername().addr)
      assert.is_true(dt >= 0.24 and dt < 0.9, "took " .. dt)
      ios:close()
      -- Nothing else to try: the timeout ends it, and says what hung.
      local msg, code
      dt, ios, msg, code = timed(tcp.connect, "hang.example", port, { timeout = 0.3 })
      assert.is_nil(ios)
      assert.equal("timeout", code)
      assert.equal(("connect to hang.example port %d: timed out (127.0.0.2:%d timed out)"):format(port, port), msg)
      assert.is_true(dt >= 0.29 and dt < 0.9, "took " .. dt)
    end)
    hang:stop()
    srv:close()
    assert(ok, err)
  end)

  it("takes service names and literal hosts", function()
    local srv = assert(tcp.listen("127.0.0.1", 0, echo))
    local port = srv:address().port
    local ios = assert(tcp.connect("127.0.0.1", tostring(port)))
    ios:close()
    local msg, code
    ios, msg, code = tcp.connect("[::1]", port)
    assert.is_nil(ios)
    assert.equal("refused", code)
    assert.equal(("connect to [::1]:%d: connection refused"):format(port), msg)
    raises("bad argument #2 to 'tcp.connect' (unknown service 'no-such-service')",
      tcp.connect, "localhost", "no-such-service")
    srv:close()
  end)

  it("says what went wrong with the name", function()
    local ios, msg, code = tcp.connect("nope.invalid..", 80)
    assert.is_nil(ios)
    assert.equal("nxdomain", code)
  end)

  it("listens on host names: localhost is its IPv4 address", function()
    local srv = assert(tcp.listen("localhost", 0, echo))
    assert.equal("127.0.0.1", srv:address().addr)
    srv:close()
    local ok, code
    srv, ok, code = tcp.listen("nope.invalid..", 0, echo)
    assert.is_nil(srv)
    assert.equal("nxdomain", code)
  end)

  it("listens on a service port", function()
    -- Binding a privileged port may fail for other reasons; only the name
    -- matters here.
    local srv, msg = tcp.listen("127.0.0.1", "http-alt", echo)
    if srv then
      assert.equal(8080, srv:address().port)
      srv:close()
    else
      assert.matches("8080", msg, 1, true)
    end
  end)

  it("leaves the loop with nothing to do", function()
    assert.equal(0, loop.step(0))
    assert.is_true(loop.run())
  end)
end)
