-- tls.udp: datagram sockets. Only loopback; ports picked by the kernel.
local loop = require "tls.loop"
local udp = require "tls.udp"
local helper = require "helper"

local function raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error mentioning " .. text)
  assert.matches(text, tostring(err), 1, true)
end

local function count(...) return select("#", ...) end

-- A UDP echo server in Python (a real peer): answers each datagram with
-- the same bytes. Returns the process and its port.
local function python_echo()
  local portfile = os.tmpname()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(([[
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(%q, "w").write(str(s.getsockname()[1]))
while True:
    data, peer = s.recvfrom(65536)
    s.sendto(data, peer)
]]):format(portfile))
  f:close()
  local p = helper.process("exec python3 " .. script)
  local port
  helper.wait_until(function()
    local h = io.open(portfile)
    if h then port = tonumber(h:read("*a")); h:close() end
    return port
  end, 10)
  os.remove(portfile)
  assert(port, "python echo did not start: " .. p:output())
  return p, port
end

describe("tls.udp", function()
  after_each(function() helper.drain() end)

  it("is require 'tls.udp' and a field of require 'tls'", function()
    assert.equals(udp, require("tls").udp)
    assert.is_function(udp.bind)
    assert.is_function(udp.connect)
  end)

  describe("bind", function()
    it("binds port 0 to a free port and reports it", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local a = s:getsockname()
      assert.equals("ip4", a.family)
      assert.equals("127.0.0.1", a.addr)
      assert.is_true(a.port > 0)
      assert.matches("^tls.udp %(udp 127.0.0.1:%d+%)$", tostring(s))
      s:close()
      assert.matches("%(closed%)$", tostring(s))
    end)

    it("returns nil, msg, 'addrinuse' for a port already bound", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local n, msg, code = udp.bind("127.0.0.1", s:getsockname().port)
      assert.is_nil(n)
      assert.equals("addrinuse", code)
      assert.matches("udp bind to 127.0.0.1:", msg, 1, true)
      s:close()
    end)

    it("lets two sockets share a port with reuseaddr and reuseport", function()
      local a = assert(udp.bind("127.0.0.1", 0, { reuseaddr = true, reuseport = true }))
      local b = assert(udp.bind("127.0.0.1", a:getsockname().port, { reuseaddr = true, reuseport = true }))
      assert.equals(a:getsockname().port, b:getsockname().port)
      a:close(); b:close()
    end)

    it("accepts broadcast, ttl and buffer sizes", function()
      local s = assert(udp.bind("127.0.0.1", 0, { broadcast = true, ttl = 7, rcvbuf = 65536, sndbuf = 65536 }))
      assert.equals(5, s:sendto("hello", s:getsockname()))
      assert.equals("hello", (s:recv(5)))
      s:close()
    end)

    it("resolves a name from the hosts file (localhost)", function()
      local s = assert(udp.bind("localhost", 0))
      assert.equals("127.0.0.1", s:getsockname().addr)
      s:close()
    end)

    it("raises on bad arguments", function()
      raises("bad argument #1 to 'udp.bind' (host expected, got nil)", udp.bind)
      raises("bad argument #2 to 'udp.bind'", udp.bind, "127.0.0.1", 70000)
      raises("bad argument #2 to 'udp.bind'", udp.bind, "127.0.0.1", {})
      raises("unknown option 'colour'", udp.bind, "127.0.0.1", 0, { colour = "red" })
      raises("option 'ttl'", udp.bind, "127.0.0.1", 0, { ttl = 300 })
      raises("option 'broadcast' must be a boolean", udp.bind, "127.0.0.1", 0, { broadcast = 1 })
      raises("is not a multicast address", udp.bind, "127.0.0.1", 0, { multicast = { group = "10.0.0.1" } })
      raises("needs 'group'", udp.bind, "127.0.0.1", 0, { multicast = {} })
    end)
  end)

  describe("connect", function()
    it("takes an address object or text, and host plus port", function()
      local srv = assert(udp.bind("127.0.0.1", 0))
      local a = assert(udp.connect(srv:getsockname()))
      local b = assert(udp.connect(tostring(srv:getsockname())))
      local c = assert(udp.connect("localhost", srv:getsockname().port))
      for i, s in ipairs({ a, b, c }) do
        assert.equals(tostring(srv:getsockname()), tostring(s:getpeername()))
        assert.equals(2, s:send("#" .. i))
        local data, from = srv:recv(5)
        assert.equals("#" .. i, data)
        assert.equals(tostring(s:getsockname()), tostring(from))
        s:close()
      end
      srv:close()
    end)

    it("returns nil, msg, 'refused' when nothing listens (ICMP port unreachable)", function()
      local gone = assert(udp.bind("127.0.0.1", 0))
      local port = gone:getsockname().port
      gone:close()
      local s = assert(udp.connect("127.0.0.1", port))
      assert.equals(4, s:send("ping"))
      local n, msg, code = s:recv(5)
      assert.is_nil(n)
      assert.equals("refused", code)
      assert.matches("connection refused", msg, 1, true)
      s:close()
    end)

    it("raises on bad arguments", function()
      raises("bad argument #1 to 'udp.connect'", udp.connect, "nonsense")
      raises("bad argument #1 to 'udp.connect'", udp.connect, 42)
      raises("bad argument #2 to 'udp.connect' (options table expected", udp.connect, "127.0.0.1:9", true)
    end)
  end)

  describe("datagram socket", function()
    it("talks to itself: sendto and recv give data and the sender's address", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      assert.equals(3, s:sendto("abc", s:getsockname()))
      local data, from = s:recv(5)
      assert.equals("abc", data)
      assert.equals(tostring(s:getsockname()), tostring(from))
      assert.equals("ip4", from.family)
      s:close()
    end)

    it("keeps datagram boundaries and empty datagrams", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local to = s:getsockname()
      s:sendto("one", to); s:sendto("", to); s:sendto("three", to)
      assert.equals("one", (s:recv(5)))
      assert.equals("", (s:recv(5)))
      assert.equals("three", (s:recv(5)))
      s:close()
    end)

    it("returns nil, msg, 'timeout' and does not wait with recv(0)", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local n, msg, code = s:recv(0)
      assert.is_nil(n); assert.equals("timeout", code)
      assert.matches("timed out", msg, 1, true)
      n, msg, code = s:recv(0.05)
      assert.equals("timeout", code)
      s:settimeout(0.05)
      n, msg, code = s:recv()
      assert.equals("timeout", code)
      s:close()
    end)

    it("reports a datagram longer than maxsize: nil, msg, 'toolong', partial, from", function()
      local s = assert(udp.bind("127.0.0.1", 0, { maxsize = 8 }))
      local peer = assert(udp.bind("127.0.0.1", 0))
      peer:sendto("0123456789abcdef", s:getsockname())
      peer:sendto("01234567", s:getsockname())
      local n, msg, code, partial, from = s:recv(5)
      assert.is_nil(n)
      assert.equals("toolong", code)
      assert.matches("longer than 8 bytes", msg, 1, true)
      assert.equals("01234567", partial)
      assert.equals(tostring(peer:getsockname()), tostring(from))
      -- exactly maxsize is whole
      assert.equals("01234567", (s:recv(5)))
      s:close(); peer:close()
    end)

    it("hands over a 65507-byte datagram whole by default", function()
      local s = assert(udp.bind("127.0.0.1", 0, { rcvbuf = 262144 }))
      local big = ("x"):rep(65507)
      assert.equals(65507, s:sendto(big, s:getsockname()))
      assert.equals(big, (s:recv(5)))
      local n, _, code = s:sendto(big .. "y", s:getsockname())
      assert.is_nil(n); assert.equals("toolong", code)
      s:close()
    end)

    it("returns nil, msg, 'closed' after close; closing twice is harmless", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      assert.is_true(s:close())
      assert.is_true(s:close())
      local n, msg, code = s:recv()
      assert.is_nil(n); assert.equals("closed", code); assert.matches("closed", msg)
      assert.equals("closed", select(3, s:sendto("x", "127.0.0.1:9")))
      assert.equals("closed", select(3, s:getsockname()))
    end)

    it("send on an unconnected socket returns nil, msg, 'notconnected'", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      assert.equals("notconnected", select(3, s:send("x")))
      assert.equals("notconnected", select(3, s:getpeername()))
      s:close()
    end)

    it("wakes a task waiting in recv when another task closes the socket", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local t = loop.spawn(function() return s:recv(10) end)
      loop.spawn(function() loop.sleep(0.02); s:close() end)
      local ok, n, _, code = t:join()
      assert.is_true(ok); assert.is_nil(n); assert.equals("closed", code)
    end)

    it("raises on bad arguments", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      raises("bad argument #1 to 's:sendto' (string expected, got number)", s.sendto, s, 5, "127.0.0.1:9")
      raises("bad argument #2 to 's:sendto'", s.sendto, s, "x", "nowhere")
      raises("bad argument #1 to 's:send' (string expected, got table)", s.send, s, {})
      raises("bad argument #1 to 's:recv'", s.recv, s, "soon")
      raises("calling 's:recv' on bad self (s expected, got number)", s.recv, 42)
      raises("bad argument #1 to 's:settimeout' (non-negative number of seconds expected", s.settimeout, s, -1)
      s:close()
    end)

    it("works from many tasks at once, one socket each and one shared", function()
      local srv = assert(udp.bind("127.0.0.1", 0))
      local to = srv:getsockname()
      local echo = loop.spawn(function()
        for _ = 1, 200 do
          local data, from = srv:recv(10)
          assert(data, from)
          srv:sendto(data, from)
        end
      end)
      local tasks = {}
      for i = 1, 20 do
        tasks[i] = loop.spawn(function()
          local c = assert(udp.connect(to))
          for j = 1, 10 do
            local m = i .. ":" .. j
            assert.equals(#m, c:send(m))
            assert.equals(m, (c:recv(10)))
          end
          c:close()
          return true
        end)
      end
      for i = 1, 20 do assert.same({ true, true }, { tasks[i]:join() }) end
      assert.is_true((echo:join()))
      -- several tasks waiting on one socket each get a datagram
      local got, waiters = {}, {}
      for i = 1, 5 do
        waiters[i] = loop.spawn(function() local d = srv:recv(10); got[#got + 1] = d end)
      end
      loop.spawn(function()
        loop.sleep(0.02)
        for i = 1, 5 do srv:sendto("d" .. i, to) end
      end)
      for i = 1, 5 do assert.is_true((waiters[i]:join())) end
      table.sort(got)
      assert.same({ "d1", "d2", "d3", "d4", "d5" }, got)
      srv:close()
    end)

    it("blocks in the main thread while tasks progress", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local to = s:getsockname()
      loop.spawn(function()
        local c = assert(udp.bind("127.0.0.1", 0))
        loop.sleep(0.02)
        c:sendto("from a task", to)
        c:close()
      end)
      assert.equals("from a task", (s:recv(5)))
      s:close()
    end)

    it("raises a clear error from a coroutine the loop did not start", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local ok, err = loop.spawn(function()
        local co = coroutine.wrap(function() return s:recv(1) end)
        return co()
      end):join()
      assert.is_false(ok)
      assert.matches("coroutine that the tls loop did not start", tostring(err), 1, true)
      s:close()
    end)

    it("IPv6 on ::1", function()
      if not helper.ipv6() then pending("no IPv6 loopback here") return end
      local s = assert(udp.bind("::1", 0))
      local a = s:getsockname()
      assert.equals("ip6", a.family)
      assert.equals("::1", a.addr)
      local c = assert(udp.connect(a))
      assert.equals(2, c:send("v6"))
      local data, from = s:recv(5)
      assert.equals("v6", data)
      assert.equals("ip6", from.family)
      assert.equals(2, s:sendto("ok", from))
      assert.equals("ok", (c:recv(5)))
      assert.matches("^%[::1%]:%d+$", tostring(c:getsockname()))
      s:close(); c:close()
    end)

    it("multicast: joins 239.255.x on the loopback interface and hears its own datagram", function()
      local s, msg = udp.bind("0.0.0.0", 0, {
        reuseaddr = true,
        multicast = { group = "239.255.42.99", interface = "127.0.0.1", loop = true, ttl = 0 },
      })
      if not s then pending("cannot join a multicast group here: " .. tostring(msg)) return end
      local port = s:getsockname().port
      local n, err = s:sendto("to the group", "239.255.42.99:" .. port)
      if not n then
        s:close()
        pending("no multicast route in this sandbox: " .. tostring(err))
        return
      end
      local data, _, code = s:recv(2)
      s:close()
      if code == "timeout" then pending("multicast loopback not delivered here") return end
      assert.equals("to the group", data)
    end)
  end)

  describe("real peers", function()
    it("talks to a Python UDP echo server", function()
      local p, port = python_echo()
      local c = assert(udp.connect("127.0.0.1", port, { timeout = 5 }))
      for i = 1, 20 do
        local m = ("datagram %d "):format(i) .. ("."):rep(i * 50)
        assert.equals(#m, c:send(m))
        assert.equals(m, (c:recv()))
      end
      -- and unconnected, in tasks
      local s = assert(udp.bind("127.0.0.1", 0))
      local t = loop.spawn(function()
        assert(s:sendto("hi from a task", "127.0.0.1:" .. port))
        local data, from = s:recv(5)
        return data, from.port
      end)
      local ok, data, fromport = t:join()
      p:stop()
      c:close(); s:close()
      assert.is_true(ok)
      assert.equals("hi from a task", data)
      assert.equals(port, fromport)
    end)

    it("receives from socat", function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local port = s:getsockname().port
      local cmd = ("printf 'from socat' | socat -u - UDP-SENDTO:127.0.0.1:%d"):format(port)
      assert(os.execute(cmd))
      local data, from = s:recv(5)
      assert.equals("from socat", data)
      assert.equals("127.0.0.1", from.addr)
      s:close()
    end)
  end)

  it("recv returns exactly two values on success", function()
    local s = assert(udp.bind("127.0.0.1", 0))
    s:sendto("x", s:getsockname())
    assert.equals(2, count(s:recv(5)))
    s:close()
  end)
end)
