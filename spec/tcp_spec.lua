-- tls.tcp: connecta, connect, listen and the server object.
-- Only loopback addresses, ports picked by the kernel (port 0).
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local helper = require "helper"

local pack = helper.pack

local function msg(e) return tostring(e) end

-- Raises unless `f(...)` raises an error whose text contains `text`.
local function raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error mentioning " .. text)
  assert.matches(text, msg(err), 1, true)
end

-- A server that writes `greeting` to each connection, then closes it.
local function greeter(greeting, host)
  local srv = assert(tcp.listen(host or "127.0.0.1", 0, function(ios) ios:write(greeting) end))
  return srv, srv:address().port
end

-- Reads everything from a fresh connection, bounded.
local function slurp(ios)
  ios:settimeout(5)
  local all = ios:read("a")
  ios:close()
  return all
end

-- A raw listener that never accepts (python3, listen(0)): once its tiny
-- queue is full, further connects stall in SYN-SENT on loopback.
local function stalled_listener()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
time.sleep(30)
]])
  f:close()
  local p = helper.process("exec python3 " .. script)
  local port
  helper.wait_until(function()
    port = tonumber(p:output():match("^(%d+)"))
    return port
  end, 10)
  os.remove(script)
  assert(port, "python3 listener did not start: " .. p:output())
  return p, port
end

describe("tls.tcp", function()
  local servers = {}
  local function track(srv) servers[#servers + 1] = srv return srv end

  after_each(function()
    for _, s in ipairs(servers) do s:close() end
    servers = {}
    helper.drain()
  end)

  describe("connecta", function()
    it("connects to \"ip:port\" text and returns an ios", function()
      local srv, port = greeter("hi")
      track(srv)
      local r = pack(tcp.connecta("127.0.0.1:" .. port))
      assert.equal(1, r.n)
      local ios = r[1]
      assert.equal("userdata", type(ios))
      assert.matches("^tls%.ios", tostring(ios))
      assert.equal(port, ios:getpeername().port)
      assert.equal("hi", slurp(ios))
    end)

    it("connects to \"[::1]:port\" text", function()
      if not helper.ipv6() then
        print("IPv6 loopback unavailable: skipping")
        return
      end
      local srv, port = greeter("six", "::1")
      track(srv)
      local ios = assert(tcp.connecta("[::1]:" .. port))
      assert.equal("ip6", ios:getpeername().family)
      assert.equal("six", slurp(ios))
    end)

    it("connects to the address object of server:address()", function()
      local srv = track((greeter("obj")))
      local ios = assert(tcp.connecta(srv:address()))
      assert.equal("obj", slurp(ios))
    end)

    it("connects to a plain table {addr=, port=}", function()
      local srv, port = greeter("tbl")
      track(srv)
      local ios = assert(tcp.connecta({ addr = "127.0.0.1", port = port }))
      assert.equal("tbl", slurp(ios))
    end)

    it("connects from a task as well as from the main thread", function()
      local srv, port = greeter("task")
      track(srv)
      local got = helper.bounded(5, function()
        local ios = assert(tcp.connecta("127.0.0.1:" .. port))
        return slurp(ios)
      end)
      assert.equal("task", got)
    end)

    it("returns nil, msg, 'refused' with the address in msg", function()
      local port = helper.free_port()
      local r = pack(tcp.connecta("127.0.0.1:" .. port))
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.equal("string", type(r[2]))
      assert.matches("127.0.0.1:" .. port, r[2], 1, true)
      assert.equal("refused", r[3])
    end)

    it("returns nil, msg, 'refused' from a task too", function()
      local port = helper.free_port()
      local r = pack(helper.bounded(5, function() return tcp.connecta("127.0.0.1:" .. port) end))
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.matches(tostring(port), r[2], 1, true)
      assert.equal("refused", r[3])
    end)

    it("returns nil, msg, 'refused' for IPv6 with [addr]:port in msg", function()
      if not helper.ipv6() then return end
      local srv = assert(tcp.listen("::1", 0, function() end))
      local port = srv:address().port
      srv:close()
      loop.step(0)
      local r = pack(tcp.connecta("[::1]:" .. port))
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.matches("[::1]:" .. port, r[2], 1, true)
      assert.equal("refused", r[3])
    end)

    describe("raises, naming the argument, for", function()
      for _, case in ipairs({
        { "a number", 42 },
        { "nil", nil },
        { "a boolean", true },
        { "a function", print },
        { "text that is not an address", "not an address" },
        { "a host name (connecta takes addresses)", "localhost:80" },
        { "text without a port", "127.0.0.1" },
        { "a port out of range", "127.0.0.1:70000" },
        { "a table without addr", { port = 80 } },
        { "a table without port", { addr = "127.0.0.1" } },
        { "a table with a bad addr", { addr = "nope", port = 80 } },
        { "a table with a port out of range", { addr = "127.0.0.1", port = 70000 } },
      }) do
        it(case[1], function()
          raises("bad argument #1", tcp.connecta, case[2])
        end)
      end

      it("options that are not a table", function()
        raises("bad argument #2", tcp.connecta, "127.0.0.1:1", 42)
        raises("bad argument #2", tcp.connecta, "127.0.0.1:1", "timeout=1")
      end)
    end)

    it("raises for an unknown option key, naming it", function()
      raises("bogus", tcp.connecta, "127.0.0.1:1", { bogus = 1 })
      raises("unknown option", tcp.connecta, "127.0.0.1:1", { timout = 1 })
    end)

    it("raises for a bad timeout value", function()
      raises("timeout", tcp.connecta, "127.0.0.1:1", { timeout = "soon" })
      raises("timeout", tcp.connecta, "127.0.0.1:1", { timeout = -1 })
      raises("timeout", tcp.connecta, "127.0.0.1:1", { timeout = 0 / 0 })
    end)

    it("accepts opts.timeout and connects well within it", function()
      local srv, port = greeter("in time")
      track(srv)
      local ios = assert(tcp.connecta("127.0.0.1:" .. port, { timeout = 5 }))
      assert.equal("in time", slurp(ios))
    end)

    it("opts.timeout bounds a connect that stalls: nil, msg, 'timeout'", function()
      local p, port = stalled_listener()
      local keep, r = {}, nil
      local ok, err = pcall(function()
        for _ = 1, 16 do
          local t0 = loop.now()
          r = pack(tcp.connecta("127.0.0.1:" .. port, { timeout = 0.3 }))
          if not r[1] then
            r.elapsed = loop.now() - t0
            break
          end
          keep[#keep + 1] = r[1]
        end
      end)
      for _, ios in ipairs(keep) do ios:close() end
      p:stop()
      assert(ok, err)
      assert.is_nil(r[1], "no connect stalled")
      assert.equal(3, r.n)
      assert.equal("timeout", r[3])
      assert.matches("127.0.0.1:" .. port, r[2], 1, true)
      assert.is_true(r.elapsed >= 0.25, "gave up after " .. r.elapsed .. " s")
    end)

    it("opts.timeout bounds a stalled connect made from a task", function()
      local p, port = stalled_listener()
      local ok, res = pcall(helper.bounded, 20, function()
        local keep = {}
        for _ = 1, 16 do
          local r = pack(tcp.connecta("127.0.0.1:" .. port, { timeout = 0.3 }))
          if not r[1] then
            for _, ios in ipairs(keep) do ios:close() end
            return r
          end
          keep[#keep + 1] = r[1]
        end
        for _, ios in ipairs(keep) do ios:close() end
        return { n = 1, "no connect stalled" }
      end)
      p:stop()
      assert(ok, res)
      assert.is_nil(res[1], res[1])
      assert.equal("timeout", res[3])
    end)
  end)

  describe("connect", function()
    it("connects to a literal IPv4 address", function()
      local srv, port = greeter("v4")
      track(srv)
      local ios = assert(tcp.connect("127.0.0.1", port))
      assert.equal("v4", slurp(ios))
    end)

    it("connects to \"localhost\"", function()
      local srv, port = greeter("local")
      track(srv)
      local ios = assert(tcp.connect("localhost", port))
      assert.equal("local", slurp(ios))
    end)

    it("connects to a literal IPv6 address", function()
      if not helper.ipv6() then return end
      local srv, port = greeter("v6", "::1")
      track(srv)
      local ios = assert(tcp.connect("::1", port))
      assert.equal("v6", slurp(ios))
    end)

    it("connects from a task", function()
      local srv, port = greeter("task")
      track(srv)
      assert.equal("task", helper.bounded(5, function()
        return slurp(assert(tcp.connect("127.0.0.1", port)))
      end))
    end)

    it("accepts opts.timeout", function()
      local srv, port = greeter("opts")
      track(srv)
      local ios = assert(tcp.connect("127.0.0.1", port, { timeout = 5 }))
      assert.equal("opts", slurp(ios))
    end)

    it("returns nil, msg, 'refused' with the port in msg", function()
      local port = helper.free_port()
      local r = pack(tcp.connect("127.0.0.1", port))
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.matches(tostring(port), r[2], 1, true)
      assert.equal("refused", r[3])
    end)

    it("raises for a port that is not a port number", function()
      raises("bad argument #2", tcp.connect, "127.0.0.1", 70000)
      raises("bad argument #2", tcp.connect, "127.0.0.1", -1)
      raises("bad argument #2", tcp.connect, "127.0.0.1", {})
      raises("bad argument #2", tcp.connect, "127.0.0.1", nil)
      raises("bad argument #2", tcp.connect, "127.0.0.1", 1.5)
    end)

    it("raises for a host that is not text", function()
      raises("bad argument #1", tcp.connect, {}, 80)
      raises("bad argument #1", tcp.connect, nil, 80)
    end)

    it("raises for an unknown option key", function()
      raises("bogus", tcp.connect, "127.0.0.1", 1, { bogus = true })
    end)
  end)

  describe("listen", function()
    it("returns a server whose address() describes where it listens", function()
      local r = pack(tcp.listen("127.0.0.1", 0, function() end))
      assert.equal(1, r.n)
      local srv = track(r[1])
      local a = srv:address()
      assert.equal("ip4", a.family)
      assert.equal("127.0.0.1", a.addr)
      assert.equal("integer", helper.math_type(a.port))
      assert.is_true(a.port > 0 and a.port < 65536)
      assert.equal("127.0.0.1:" .. a.port, tostring(a))
      assert.equal("string", type(tostring(srv)))
    end)

    it("port 0 picks a different free port each time", function()
      local a = track(assert(tcp.listen("127.0.0.1", 0, function() end)))
      local b = track(assert(tcp.listen("127.0.0.1", 0, function() end)))
      assert.is_not.equal(a:address().port, b:address().port)
    end)

    it("listens on the port asked for", function()
      local port = helper.free_port()
      local srv = track(assert(tcp.listen("127.0.0.1", port, function(ios) ios:write("fixed") end)))
      assert.equal(port, srv:address().port)
      assert.equal("fixed", slurp(assert(tcp.connecta("127.0.0.1:" .. port))))
    end)

    it("runs the handler with an ios for each connection", function()
      local seen = {}
      local srv = track(assert(tcp.listen("127.0.0.1", 0, function(ios)
        seen[#seen + 1] = tostring(ios):match("^tls%.ios") and "ios" or type(ios)
        ios:write(ios:read("l"):upper())
      end)))
      local addr = "127.0.0.1:" .. srv:address().port
      for _, word in ipairs({ "one", "two", "three" }) do
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(5)
        assert(ios:write(word, "\n"))
        assert.equal(word:upper(), ios:read("a"))
        ios:close()
      end
      assert.same({ "ios", "ios", "ios" }, seen)
    end)

    it("runs each connection's handler as its own task", function()
      local srv = track(assert(tcp.listen("127.0.0.1", 0, function(ios)
        ios:settimeout(5)
        local l = ios:read("l")
        if l then ios:write("echo:", l, "\n") end
      end)))
      local addr = "127.0.0.1:" .. srv:address().port
      local slow = assert(tcp.connecta(addr))
      local fast = assert(tcp.connecta(addr))
      fast:settimeout(5)
      -- the first handler waits on `slow`; the second must still answer
      assert(fast:write("quick\n"))
      assert.equal("echo:quick", fast:read("l"))
      slow:settimeout(5)
      assert(slow:write("late\n"))
      assert.equal("echo:late", slow:read("l"))
      slow:close(); fast:close()
    end)

    it("close() frees the port: listening again on it works", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function() end))
      local port = srv:address().port
      srv:close()
      local again, err, code = tcp.listen("127.0.0.1", port, function(ios) ios:write("again") end)
      assert.is_not_nil(again, tostring(err) .. " " .. tostring(code))
      track(again)
      assert.equal(port, again:address().port)
      assert.equal("again", slurp(assert(tcp.connecta("127.0.0.1:" .. port))))
    end)

    it("close() stops accepting: a later connect is refused", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function() end))
      local port = srv:address().port
      srv:close()
      local r = pack(tcp.connecta("127.0.0.1:" .. port))
      if r[1] then r[1]:close() end
      assert.is_nil(r[1])
      assert.equal("refused", r[3])
    end)

    it("close() twice is harmless", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function() end))
      srv:close()
      assert.has_no.errors(function() srv:close() end)
    end)

    it("returns nil, msg, 'addrinuse' on an address already in use", function()
      local srv = track(assert(tcp.listen("127.0.0.1", 0, function() end)))
      local port = srv:address().port
      local r = pack(tcp.listen("127.0.0.1", port, function() end))
      if r[1] then track(r[1]) end
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.matches(tostring(port), r[2], 1, true)
      assert.equal("addrinuse", r[3])
    end)

    it("reuseport = true lets two listeners share one port", function()
      local a = track(assert(tcp.listen("127.0.0.1", 0, function(ios) ios:write("a") end, { reuseport = true })))
      local port = a:address().port
      local b, err = tcp.listen("127.0.0.1", port, function(ios) ios:write("b") end, { reuseport = true })
      assert.is_not_nil(b, err)
      track(b)
      assert.equal(port, b:address().port)
      -- every connection is served by one of them
      for _ = 1, 8 do
        local got = slurp(assert(tcp.connecta("127.0.0.1:" .. port)))
        assert.is_true(got == "a" or got == "b", got)
      end
    end)

    it("listens on the IPv6 loopback", function()
      if not helper.ipv6() then
        print("IPv6 loopback unavailable: skipping")
        return
      end
      local srv = track(assert(tcp.listen("::1", 0, function(ios) ios:write("v6") end)))
      local a = srv:address()
      assert.equal("ip6", a.family)
      assert.equal("::1", a.addr)
      assert.equal("[::1]:" .. a.port, tostring(a))
      local ios = assert(tcp.connecta(a))
      assert.equal("v6", slurp(ios))
    end)

    it("listens on \"localhost\"", function()
      local srv = track(assert(tcp.listen("localhost", 0, function(ios) ios:write("lh") end)))
      assert.equal("lh", slurp(assert(tcp.connect("localhost", srv:address().port))))
    end)

    it("returns nil, msg, code for an address that is not local", function()
      -- 192.0.2.1 (TEST-NET-1) is never assigned here: bind fails locally,
      -- nothing is sent.
      local r = pack(tcp.listen("192.0.2.1", 0, function() end))
      if r[1] then track(r[1]) end
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.equal("string", type(r[2]))
      assert.equal("string", type(r[3]))
    end)

    it("raises, naming the argument, for wrong argument types", function()
      local f = function() end
      raises("bad argument #1", tcp.listen, {}, 0, f)
      raises("bad argument #2", tcp.listen, "127.0.0.1", 70000, f)
      raises("bad argument #2", tcp.listen, "127.0.0.1", {}, f)
      raises("bad argument #3", tcp.listen, "127.0.0.1", 0, 42)
      raises("bad argument #3", tcp.listen, "127.0.0.1", 0, nil)
      raises("bad argument #4", tcp.listen, "127.0.0.1", 0, f, 42)
    end)

    it("raises for an unknown option key and for bad option values", function()
      local f = function() end
      raises("nope", tcp.listen, "127.0.0.1", 0, f, { nope = 1 })
      raises("reuseport", tcp.listen, "127.0.0.1", 0, f, { reuseport = "yes" })
      raises("backlog", tcp.listen, "127.0.0.1", 0, f, { backlog = "many" })
    end)

    it("reports a handler error on stderr and goes on serving the next connection", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local tcp = require "tls.tcp"
        local n = 0
        local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
          n = n + 1
          if n == 1 then error("handler exploded") end
          ios:write("served ", n)
        end))
        local addr = "127.0.0.1:" .. srv:address().port
        local first = assert(tcp.connecta(addr))
        first:settimeout(5)
        print("first", first:read("a"))
        first:close()
        local second = assert(tcp.connecta(addr))
        second:settimeout(5)
        print("second", second:read("a"))
        second:close()
        srv:close()
        local d = loop.now() + 5
        while loop.step(0.01) > 0 and loop.now() < d do end
        print("done")
        os.exit(0)
      ]], 20)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("handler exploded", out, 1, true)
      assert.matches("first\t\n", out, 1, true)    -- that connection was closed
      assert.matches("second\tserved 2", out, 1, true)
      assert.matches("done", out, 1, true)
    end)

    it("a handler error is not raised out of the loop", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local tcp = require "tls.tcp"
        local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) error("quietly reported") end))
        local c = assert(tcp.connecta("127.0.0.1:" .. srv:address().port))
        c:settimeout(5)
        local r = c:read("a")
        local ok = pcall(function()
          local d = loop.now() + 0.2
          while loop.now() < d do loop.step(0.01) end
        end)
        print("stepped", ok)
        srv:close()
        os.exit(0)
      ]], 20)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("stepped\ttrue", out, 1, true)
      assert.matches("quietly reported", out, 1, true)
    end)
  end)
end)
