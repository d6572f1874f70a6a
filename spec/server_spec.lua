-- Server limits: opts.max_connections, server:connections() and
-- server:close([drain_seconds]), on tcp.listen and tls.listen.
local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"

local pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- Runs f as a task, bounded (on Lua 5.1, which cannot yield across
-- xpcall, as the task itself).
local bounded = T.bounded

local function raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error mentioning " .. text)
  assert(tostring(err):find(text, 1, true), ("error %q lacks %q"):format(tostring(err), text))
end

local servers = {}
local function listen(handler, opts)
  local srv = assert(tcp.listen("127.0.0.1", 0, handler, opts))
  servers[#servers + 1] = srv
  return srv, "127.0.0.1:" .. srv:address().port
end

--- A gate handlers wait at: `gate.open = true` lets them all go.
local function gate() return { open = false } end
local function wait_at(g) while not g.open do loop.sleep(0.01) end end

describe("servers", function()
  after_each(function()
    for i = #servers, 1, -1 do servers[i]:close(); servers[i] = nil end
    helper.drain(2)
  end)

  describe("connections()", function()
    it("counts running handlers: up as clients come, down as handlers end", function()
      local g, started = gate(), 0
      local srv, addr = listen(function(ios)
        started = started + 1
        wait_at(g)
        ios:write("bye\n")
      end)
      bounded(20, function()
        assert.equal(0, srv:connections())
        local a = assert(tcp.connecta(addr))
        local b = assert(tcp.connecta(addr))
        assert(helper.hold(function() return started == 2 end, 10))
        assert.equal(2, srv:connections())
        g.open = true
        assert.equal("bye", a:read("l"))
        assert.equal("bye", b:read("l"))
        assert(helper.hold(function() return srv:connections() == 0 end, 10))
        a:close(); b:close()
      end)
    end)

    it("a handler that fails still leaves the count", function()
      local started, during = false, nil
      local srv, addr
      srv, addr = listen(function()
        started, during = true, srv:connections()
        error("handler bug (expected by the test)")
      end)
      bounded(20, function()
        local a = assert(tcp.connecta(addr))
        assert(helper.hold(function() return started end, 10))
        assert.equal(1, during)
        assert(helper.hold(function() return srv:connections() == 0 end, 10))
        a:close()
      end)
    end)
  end)

  describe("max_connections", function()
    it("20 clients, at most 3 handlers at once; the others wait in the backlog and are all served", function()
      local g, running, peak, served = gate(), 0, 0, 0
      local srv, addr = listen(function(ios)
        running = running + 1
        if running > peak then peak = running end
        wait_at(g)
        ios:write("served\n")
        running = running - 1
        served = served + 1
      end, { max_connections = 3 })
      bounded(30, function()
        local clients = {}
        for i = 1, 20 do clients[i] = assert(tcp.connecta(addr)) end
        assert(helper.hold(function() return running == 3 end, 10))
        -- Give the loop a chance to (wrongly) accept more before opening.
        loop.sleep(0.1)
        assert.equal(3, srv:connections())
        assert.equal(3, peak)
        g.open = true
        for i = 1, 20 do
          assert.equal("served", clients[i]:read("l"))
          clients[i]:close()
        end
        assert(helper.hold(function() return served == 20 end, 10))
        assert.equal(3, peak)
        assert.equal(0, srv:connections())
      end)
    end)

    it("tls.listen: a waiting client's handshake does not start until a slot frees", function()
      T.certs()
      local g = gate()
      local srv = assert(tls.listen("127.0.0.1", 0, function(ios)
        wait_at(g)
        ios:write("hello\n")
      end, T.server_opts("server", { max_connections = 1 })))
      servers[#servers + 1] = srv
      local addr = "127.0.0.1:" .. srv:address().port
      bounded(30, function()
        local first = assert(tls.connecta(addr, "localhost", T.trust()))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        local r = pack(tls.connecta(addr, "localhost", T.trust { timeout = 0.3 }))
        assert.is_nil(r[1])
        assert.equal("timeout", r[3])
        g.open = true
        assert.equal("hello", first:read("l"))
        first:close()
        local again = assert(tls.connecta(addr, "localhost", T.trust()))
        assert.equal("hello", again:read("l"))
        again:close()
      end)
    end)

    it("bad values raise", function()
      local h = function() end
      local why = "bad argument #4 to 'tcp.listen' (option 'max_connections': positive integer expected, got "
      raises(why .. "number)", tcp.listen, "127.0.0.1", 0, h, { max_connections = 0 })
      raises(why .. "number)", tcp.listen, "127.0.0.1", 0, h, { max_connections = -1 })
      raises(why .. "number)", tcp.listen, "127.0.0.1", 0, h, { max_connections = 1.5 })
      raises(why .. "string)", tcp.listen, "127.0.0.1", 0, h, { max_connections = "2" })
      T.certs()
      raises("option 'max_connections': positive integer expected", tls.listen, "127.0.0.1", 0, h,
        T.server_opts("server", { max_connections = false }))
    end)
  end)

  describe("close([drain_seconds])", function()
    it("without a drain: stops accepting at once, running handlers go on", function()
      local g = gate()
      local srv, addr = listen(function(ios)
        wait_at(g)
        ios:write("finished\n")
      end)
      bounded(20, function()
        local a = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        assert.is_true(srv:close())
        local r = pack(tcp.connecta(addr))
        assert.is_nil(r[1])
        assert.equal("refused", r[3])
        g.open = true
        assert.equal("finished", a:read("l"))
        a:close()
      end)
    end)

    it("a drain lets a slow handler finish; close waits for it and returns true", function()
      local g, finished = gate(), false
      local srv, addr = listen(function(ios)
        wait_at(g)
        ios:write("done\n")
        finished = true
      end)
      bounded(20, function()
        local a = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        loop.spawn(function() loop.sleep(0.2); g.open = true end)
        assert.is_true(srv:close(10))
        -- close returned only once the handler had ended.
        assert.is_true(finished)
        assert.equal(0, srv:connections())
        assert.equal("done", a:read("l"))
        a:close()
      end)
    end)

    it("from the main thread a drain blocks, running the loop, and returns true", function()
      local g = gate()
      local srv, addr = listen(function(ios)
        wait_at(g)
        ios:write("done\n")
      end)
      local a = assert(tcp.connecta(addr))
      assert(helper.wait_until(function() return srv:connections() == 1 end, 10))
      loop.spawn(function() loop.sleep(0.1); g.open = true end)
      assert.is_true(srv:close(10))
      assert.equal(0, srv:connections())
      assert.equal("done", a:read("l"))
      a:close()
    end)

    it("when the drain runs out it closes the stuck handler's stream: its read is nil, msg, 'closed'", function()
      local got
      local srv, addr = listen(function(ios)
        got = pack(ios:read("a")) -- the client never ends
      end)
      bounded(20, function()
        local a = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        local r = pack(srv:close(0.2))
        assert.is_nil(r[1])
        assert.equal("timeout", r[3])
        assert.truthy(r[2]:find("1 connection still open", 1, true), r[2])
        assert(helper.hold(function() return got end, 10))
        assert.is_nil(got[1])
        assert.equal("closed", got[3])
        assert.equal("", a:read("a")) -- the client sees the end
        assert(helper.hold(function() return srv:connections() == 0 end, 10))
        a:close()
      end)
    end)

    it("from inside one of its own handlers: waits for the others, not for itself", function()
      local g, srv = gate(), nil
      local addr
      srv, addr = listen(function(ios)
        if ios:read("l") == "shutdown" then
          local t0 = loop.now()
          local r = pack(srv:close(10))
          -- The caller's own stream is still open: it answers.
          ios:write(tostring(r[1]), " ", tostring(r[3]), " ", srv:connections(), " ",
            loop.now() - t0 < 5 and "soon" or "late", "\n")
        else
          wait_at(g)
          ios:write("done\n")
        end
      end)
      bounded(20, function()
        local b = assert(tcp.connecta(addr))
        assert(b:write("work\n"))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        local a = assert(tcp.connecta(addr))
        assert(a:write("shutdown\n"))
        loop.spawn(function() loop.sleep(0.2); g.open = true end)
        -- close returned once b's handler ended; a's handler still runs.
        assert.equal("true nil 1 soon", a:read("l"))
        assert.equal("done", b:read("l"))
        a:close(); b:close()
      end)
    end)

    it("from inside a handler, a drain that runs out closes the others only", function()
      local srv, addr
      local got
      srv, addr = listen(function(ios)
        if ios:read("l") == "shutdown" then
          local r = pack(srv:close(0.2))
          ios:write(tostring(r[1]), "|", r[2], "|", r[3], "\n")
        else
          got = pack(ios:read("a")) -- the client never ends
        end
      end)
      bounded(20, function()
        local b = assert(tcp.connecta(addr))
        assert(b:write("stay\n"))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        local a = assert(tcp.connecta(addr))
        assert(a:write("shutdown\n"))
        local line = a:read("l")
        assert.matches("^nil|server .*: 1 connection still open after a 0.2 s drain, closed|timeout$", line)
        assert(helper.hold(function() return got end, 10))
        assert.equal("closed", got[3])
        assert.equal("", b:read("a"))
        a:close(); b:close()
      end)
    end)

    it("two handlers draining at once do not wait for each other, nor close each other", function()
      local srv, addr
      srv, addr = listen(function(ios)
        if ios:read("l") == "shutdown" then
          local t0 = loop.now()
          local r = pack(srv:close(10))
          ios:write(tostring(r[1]), " ", tostring(r[3]), " ", loop.now() - t0 < 5 and "soon" or "late", "\n")
        end
      end)
      bounded(30, function()
        local a = assert(tcp.connecta(addr))
        local b = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 2 end, 10))
        assert(a:write("shutdown\n"))
        assert(b:write("shutdown\n"))
        assert.equal("true nil soon", a:read("l"))
        assert.equal("true nil soon", b:read("l"))
        a:close(); b:close()
      end)
    end)

    it("handlers draining at once, each serving on after its drain, never close each other", function()
      -- Two handlers in close(2) when a third ends: both drains are over
      -- then, and each handler goes on with its client afterwards.
      local srv, addr
      srv, addr = listen(function(ios)
        local cmd = ios:read("l")
        if cmd == "shutdown" then
          local t0 = loop.now()
          local r = pack(srv:close(2))
          ios:write(tostring(r[1]), " ", tostring(r[3]), " ", loop.now() - t0 < 1.5 and "soon" or "late", "\n")
          ios:write("after: ", tostring(ios:read("l")), "\n")
        elseif cmd == "idle" then
          ios:read("l")
        end
      end)
      bounded(30, function()
        local c = assert(tcp.connecta(addr))
        assert(c:write("idle\n"))
        local a = assert(tcp.connecta(addr))
        local b = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 3 end, 10))
        assert(a:write("shutdown\n"))
        assert(b:write("shutdown\n"))
        loop.sleep(0.3) -- both handlers are in their drains now
        assert(c:write("end\n"))
        a:settimeout(5); b:settimeout(5)
        assert.equal("true nil soon", a:read("l"))
        assert.equal("true nil soon", b:read("l"))
        -- well past both drains' deadlines: neither stream was closed
        loop.sleep(2.2)
        assert(a:write("bye a\n"))
        assert(b:write("bye b\n"))
        assert.equal("after: bye a", a:read("l"))
        assert.equal("after: bye b", b:read("l"))
        a:close(); b:close(); c:close()
      end)
    end)

    it("a drain from outside the handlers waits for a handler that drains too", function()
      local g, srv = gate(), nil
      local addr, order = nil, {}
      srv, addr = listen(function(ios)
        if ios:read("l") == "shutdown" then
          local r = pack(srv:close(10))
          wait_at(g) -- still finishing its reply when the drain it started is over
          order[#order + 1] = "handler"
          ios:write(tostring(r[1]), "\n")
        end
      end)
      bounded(30, function()
        local a = assert(tcp.connecta(addr))
        assert(a:write("shutdown\n"))
        assert(helper.hold(function() return srv:connections() == 1 end, 10))
        loop.spawn(function() loop.sleep(0.2); g.open = true end)
        assert.is_true(srv:close(10))
        order[#order + 1] = "outside"
        assert.same({ "handler", "outside" }, order)
        assert.equal("true", a:read("l"))
        a:close()
      end)
    end)

    it("close(0) closes every running handler's stream at once", function()
      local srv, addr = listen(function(ios) ios:read("a") end)
      bounded(20, function()
        local a = assert(tcp.connecta(addr))
        local b = assert(tcp.connecta(addr))
        assert(helper.hold(function() return srv:connections() == 2 end, 10))
        local r = pack(srv:close(0))
        assert.equal("timeout", r[3])
        assert.truthy(r[2]:find("2 connections", 1, true), r[2])
        assert.equal("", a:read("a"))
        assert.equal("", b:read("a"))
        a:close(); b:close()
      end)
    end)

    it("serves connections already queued in the backlog instead of resetting them", function()
      -- LuaSocket connects without running our loop: the kernel completes
      -- the connection and queues it, and our accept loop has not run yet.
      local socket = require "socket"
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) ios:write("hello\n") end))
      local c = assert(socket.connect("127.0.0.1", srv:address().port))
      assert.is_true(srv:close())
      assert.equal(1, srv:connections())
      assert(helper.wait_until(function() return srv:connections() == 0 end, 10))
      c:settimeout(5)
      assert.equal("hello", c:receive("*l"))
      c:close()
    end)

    it("twice is harmless, with or without a drain", function()
      local srv = listen(function() end)
      assert.is_true(srv:close())
      assert.is_true(srv:close())
      assert.is_true(srv:close(1))
      assert.matches("%(closed%)$", tostring(srv))
    end)

    it("bad arguments raise", function()
      local srv = listen(function() end)
      raises("bad argument #1 to 'server:close' (number of seconds >= 0 expected, got a negative number)", srv.close, srv, -1)
      raises("bad argument #1 to 'server:close' (number of seconds >= 0 expected, got string)", srv.close, srv, "soon")
      raises("bad argument #1 to 'server:close' (number of seconds >= 0 expected, got nan)", srv.close, srv, 0 / 0)
      raises("calling 'server:close' on bad self (server expected, got number)", srv.close, 42)
      -- Misuse changed nothing: the server still listens.
      assert.is_nil(tostring(srv):find("closed", 1, true))
    end)
  end)
end)
