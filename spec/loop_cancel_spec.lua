-- task:cancel([reason]) and task:join([timeout]).
--
-- Lua 5.1 (not LuaJIT) cannot yield across pcall, so the cases where a
-- task catches its cancellation with pcall and then waits again are
-- skipped there (the reference says so); everything else runs everywhere.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local dns = require "tls.dns"
local helper = require "helper"

local unpack = table.unpack or unpack
local PCALL_YIELDS = not (_VERSION == "Lua 5.1" and not rawget(_G, "jit"))
local pit = PCALL_YIELDS and it or pending

local function pack(...) return { n = select("#", ...), ... } end

--- Spawns f, lets it reach its first wait, returns the task.
local function started(f, ...)
  local t = loop.spawn(f, ...)
  loop.step(0)
  return t
end

--- t:join() from a task (so a failure of t is handed over, not raised).
local function joined(t)
  local r = helper.bounded(10, function() return pack(t:join()) end)
  return unpack(r, 1, r.n)
end

describe("task:cancel", function()
  after_each(function() helper.drain() end)

  it("ends a sleeping task: join gives false, \"cancelled\"", function()
    local after = false
    local t = started(function() loop.sleep(30); after = true end)
    assert.is_true(t:cancel())
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.is_false(after)
    assert.equal("tls.task (cancelled)", tostring(t))
  end)

  it("puts a string reason after \"cancelled: \"", function()
    local t = started(function() loop.sleep(30) end)
    t:cancel("shutting down")
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled: shutting down", err)
  end)

  it("takes false as no reason: \"cancelled\", and nothing is raised out of the loop", function()
    local t = started(function() loop.sleep(30) end)
    assert.is_true(t:cancel(false))
    assert.equal(0, helper.drain())
    local ok, err = t:join()
    assert.is_false(ok)
    assert.equal("cancelled", err)
  end)

  it("takes true and numbers as reasons, ended quietly like any reason", function()
    for _, reason in ipairs { true, 42, 2.5 } do
      for _, first_run in ipairs { false, true } do
        -- Cancelled while it waits, or before its first run.
        local t = first_run and loop.spawn(function() loop.sleep(30) end)
          or started(function() loop.sleep(30) end)
        assert.is_true(t:cancel(reason))
        assert.equal(0, helper.drain())
        local ok, err = t:join()
        assert.is_false(ok)
        assert.equal(reason, err)
      end
    end
  end)

  it("raises a reason that is not a string as it is", function()
    local reason = { why = "table reason" }
    local t = started(function() loop.sleep(30) end)
    t:cancel(reason)
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal(reason, err)
  end)

  pit("raises inside the task, where pcall sees it and cleanup runs", function()
    local seen, cleaned
    local t = started(function()
      local ok, e = pcall(loop.sleep, 30)
      seen = { ok, e }
      cleaned = true
      return "finished anyway"
    end)
    t:cancel("bye")
    local ok, a = joined(t)
    assert.same({ false, "cancelled: bye" }, seen)
    assert.is_true(cleaned)
    -- The task caught it and returned without waiting again.
    assert.is_true(ok)
    assert.equal("finished anyway", a)
  end)

  pit("is sticky: every later wait raises again, so a catching task still ends", function()
    local raised = 0
    local t = started(function()
      for _ = 1, 3 do
        local ok = pcall(loop.sleep, 30)
        if not ok then raised = raised + 1 end
      end
      loop.sleep(0)
      error("not reached")
    end)
    t:cancel()
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.equal(3, raised)
  end)

  pit("hands join a different error raised by a cleanup, with its text", function()
    local t = started(function()
      local ok = pcall(loop.sleep, 30)
      assert(not ok)
      error("cleanup failed")
    end)
    -- Someone joins before the failure, so it is handed over, not raised.
    local joiner = started(function() return t:join() end)
    t:cancel()
    local _, ok, err = joined(joiner)
    assert.is_false(ok)
    assert.matches("cleanup failed", tostring(err), 1, true)
  end)

  it("is harmless on a finished task: returns false, join keeps the results", function()
    local t = loop.spawn(function() return 1, 2 end)
    assert.same({ true, 1, 2 }, { helper.bounded(5, function() return t:join() end) })
    assert.is_false(t:cancel())
    assert.is_false(t:cancel("again"))
    assert.same({ true, 1, 2 }, { t:join() })
  end)

  it("keeps the first reason when called twice", function()
    local t = started(function() loop.sleep(30) end)
    assert.is_true(t:cancel("first"))
    assert.is_true(t:cancel("second"))
    local _, err = joined(t)
    assert.equal("cancelled: first", err)
  end)

  it("stops a task that was never started: its function never runs", function()
    local ran = false
    local t = loop.spawn(function() ran = true end)
    t:cancel()
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.is_false(ran)
  end)

  it("lets a task cancel itself: it runs on to its next wait", function()
    local t
    local steps = {}
    t = loop.spawn(function()
      steps[#steps + 1] = "before"
      t:cancel("self")
      steps[#steps + 1] = "still running"
      loop.sleep(0)
      steps[#steps + 1] = "not reached"
    end)
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled: self", err)
    assert.same({ "before", "still running" }, steps)
  end)

  it("does not raise a cancelled task's end out of the loop", function()
    local t = started(function() loop.sleep(30) end)
    t:cancel()
    -- Nobody joins: run the loop until the task is gone; nothing raises.
    assert.equal(0, helper.drain())
    assert.is_true(t:done())
  end)

  it("ends a task blocked in join; the joined task goes on", function()
    local inner = loop.spawn(function() loop.sleep(0.05) return "inner done" end)
    local outer = started(function() return inner:join() end)
    outer:cancel()
    local ok, err = joined(outer)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.same({ true, "inner done" }, { helper.bounded(5, function() return inner:join() end) })
  end)

  it("leaves a cancelled joiner's target raising its own failure", function()
    local inner = loop.spawn(function() loop.sleep(0.05) error("inner failed", 0) end)
    local outer = started(function() return inner:join() end)
    outer:cancel()
    -- Nobody joins `inner` any more, so its failure leaves the loop.
    local ok, err = pcall(helper.drain)
    assert.is_false(ok)
    assert.matches("inner failed", tostring(err), 1, true)
    assert.same({ false, "cancelled" }, { outer:join() })
  end)

  it("ends a task blocked in a read; buffered data stays and the stream works", function()
    local srv, addr = helper.serve(function(ios)
      ios:write("partial")
      ios:flush()
      loop.sleep(0.2)
      ios:write(" line\nnext\n")
      ios:flush()
      loop.sleep(0.2)
      ios:close()
    end)
    local ios = assert(tcp.connecta(addr))
    local reader = loop.spawn(function() return ios:read("l") end)
    -- Wait until "partial" is in our buffer and the reader is parked.
    assert.is_true(helper.wait_until(function()
      loop.step(0.01)
      return reader:done() == false
    end))
    loop.sleep(0.05)
    reader:cancel()
    local ok, err = joined(reader)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    -- Another task (here the main thread) reads on, nothing lost.
    assert.equal("partial line", ios:read("l"))
    assert.equal("next", ios:read("l"))
    ios:close()
    srv:close()
  end)

  it("ends a task blocked in a write; the stream can still be closed", function()
    local peer_gate = loop.cond()
    local srv, addr = helper.serve(function(ios)
      peer_gate:wait(10) -- reads nothing until the test is done
      ios:close()
    end)
    local ios = assert(tcp.connecta(addr))
    local chunk = string.rep("x", 65536)
    local writer = started(function()
      while true do assert(ios:write(chunk)) end
    end)
    -- The peer reads nothing, so the writer blocks once buffers are full.
    helper.wait_until(function() return false end, 0.2)
    assert.is_false(writer:done())
    writer:cancel()
    local ok, err = joined(writer)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.is_true(ios:close())
    peer_gate:broadcast()
    srv:close()
  end)

  it("ends a task blocked in a DNS lookup (and so in tcp.connect)", function()
    local socket = require "socket"
    local silent = assert(socket.udp())
    assert(silent:setsockname("127.0.0.1", 0))
    local _, port = silent:getsockname()
    local saved = dns.config()
    dns.config { nameservers = { "127.0.0.1:" .. port }, timeout = 30, attempts = 1,
                 search = {}, hosts = "/dev/null", cache = false }
    local lookup = started(function() return dns.address("nowhere.test", "ip4", "tcp", 80) end)
    local connect = started(function() return tcp.connect("nowhere.test", 80) end)
    lookup:cancel()
    connect:cancel("stop")
    local ok1, err1 = joined(lookup)
    local ok2, err2 = joined(connect)
    dns.config { nameservers = false, timeout = false, attempts = false, search = false,
                 hosts = false, ndots = false, cache = true }
    silent:close()
    assert.is_false(ok1)
    assert.equal("cancelled", err1)
    assert.is_false(ok2)
    assert.equal("cancelled: stop", err2)
    assert.is_table(saved)
  end)

  it("ends a task blocked in a UDP recv; the socket keeps working", function()
    local udp = require "tls.udp"
    local s = assert(udp.bind("127.0.0.1", 0))
    local peer = assert(udp.connect(s:getsockname()))
    -- Without and with a timeout, before and after the socket's first
    -- datagram (its fast path has a handle from then on).
    for round = 1, 2 do
      for _, timeout in ipairs({ false, 5 }) do
        local t = started(function() return s:recv(timeout or nil) end)
        t:cancel("stop")
        local ok, err = joined(t)
        assert.is_false(ok)
        assert.equal("cancelled: stop", err)
      end
      assert(peer:send("after " .. round))
      local d, from = s:recv(2)
      assert.equal("after " .. round, d)
      assert.equal(tostring(peer:getsockname()), tostring(from))
    end
    s:close(); peer:close()
  end)

  it("ends a task blocked in loop.poll", function()
    local socket = require "socket"
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local c = assert(socket.connect("127.0.0.1", port))
    local t = started(function() return loop.poll(c, "r") end)
    t:cancel()
    local ok, err = joined(t)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    c:close()
    srv:close()
  end)

  it("raises on a bad self", function()
    local t = loop.spawn(function() end)
    assert.has_error(function() t.cancel({}) end)
    assert.has_error(function() t.cancel(nil) end)
    local ok, e = pcall(t.cancel, 42)
    assert.is_false(ok)
    assert.matches("task:cancel", tostring(e), 1, true)
  end)
end)

describe("task:join(timeout)", function()
  after_each(function() helper.drain() end)

  it("returns nil, msg, \"timeout\" when the task is not done; the task goes on", function()
    local gate = loop.cond()
    local t = loop.spawn(function() gate:wait() return "late" end)
    local r = pack(helper.bounded(5, function() return t:join(0.01) end))
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal("task:join: timed out", r[2])
    assert.equal("timeout", r[3])
    gate:signal()
    assert.same({ true, "late" }, { helper.bounded(5, function() return t:join() end) })
  end)

  it("times out in blocking mode too", function()
    local gate = loop.cond()
    local t = loop.spawn(function() gate:wait() return "late" end)
    local a, msg, code = t:join(0.01)
    assert.is_nil(a)
    assert.equal("timeout", code)
    assert.equal("task:join: timed out", msg)
    gate:signal()
    assert.same({ true, "late" }, { t:join(5) })
  end)

  it("answers at once with 0 when the task is done", function()
    local t = loop.spawn(function() return 7 end)
    helper.bounded(5, function() return t:join() end)
    assert.same({ true, 7 }, { t:join(0) })
  end)

  it("leaves a later failure to be raised when the joiner gave up", function()
    local t = loop.spawn(function() loop.sleep(0.05) error("late failure", 0) end)
    assert.equal("timeout", select(3, t:join(0)))
    local ok, err = pcall(helper.drain)
    assert.is_false(ok)
    assert.matches("late failure", tostring(err), 1, true)
  end)

  it("raises on a bad timeout", function()
    local t = loop.spawn(function() end)
    local ok, e = pcall(t.join, t, "soon")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'task:join' (number expected, got string)", tostring(e), 1, true)
    ok, e = pcall(t.join, t, -1)
    assert.is_false(ok)
    assert.matches("task:join", tostring(e), 1, true)
  end)
end)
