-- Timeouts too long to reach (1e300 seconds, or a socket option that
-- large) wait without limit, as math.huge does: the deadline they give
-- cannot be represented, and it must not panic or cut the wait short.
-- The task-side and main-thread forms are both exercised, and the loop is
-- checked to be usable afterwards.
local loop = require "tls.loop"
local udp = require "tls.udp"
local helper = require "helper"

local HUGE = 1e300

-- Sends "late" to `addr` over UDP from a task after a short sleep.
local function send_late(addr)
  loop.spawn(function()
    loop.sleep(0.05)
    local s = assert(udp.connect(addr))
    assert(s:send("late"))
    s:close()
  end)
end

describe("a timeout too long to reach", function()
  after_each(function()
    -- The loop is still the main thread's: a plain step works.
    loop.step(0)
    assert.is_true(helper.bounded(5, function() loop.sleep(0) return true end))
  end)

  it("waits for a datagram (udp recv, in a task and on the main thread)", function()
    local s = assert(udp.bind("127.0.0.1", 0))
    send_late(s:getsockname())
    assert.equal("late", helper.bounded(5, function() return (s:recv(HUGE)) end))
    send_late(s:getsockname())
    assert.equal("late", (s:recv(HUGE)))
    s:close()
  end)

  it("waits for a datagram with the udp socket option timeout", function()
    local s = assert(udp.bind("127.0.0.1", 0, { timeout = HUGE }))
    send_late(s:getsockname())
    assert.equal("late", helper.bounded(5, function() return (s:recv()) end))
    s:close()
  end)

  it("waits for a stream read (ios:settimeout)", function()
    local srv, addr = helper.serve(function(ios)
      loop.sleep(0.05)
      ios:write("late\n")
      ios:close()
    end)
    local tcp = require "tls.tcp"
    assert.equal("late", helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr, { timeout = HUGE }))
      ios:settimeout(HUGE)
      local line = ios:read("l")
      ios:close()
      return line
    end))
    srv:close()
  end)

  it("waits for queue:get, cond:wait and task:join", function()
    local q, c = loop.queue(), loop.cond()
    local sleeper = loop.spawn(function() loop.sleep(0.05) return "joined" end)
    loop.spawn(function()
      loop.sleep(0.05)
      q:put("late")
      -- The getter waits on the cond only once its get returned.
      loop.sleep(0.05)
      c:signal()
    end)
    local got = { helper.bounded(5, function()
      local v = q:get(HUGE)
      local signalled = c:wait(HUGE)
      local ok, j = sleeper:join(HUGE)
      return v, signalled, ok, j
    end) }
    assert.same({ "late", true, true, "joined" }, got)
  end)

  it("waits in loop.poll and loop.sleep until the task is cancelled", function()
    local s = assert(udp.bind("127.0.0.1", 0))
    local poller = loop.spawn(function() return loop.poll(s:getfd(), "r", HUGE) end)
    local sleeper = loop.spawn(function() loop.sleep(HUGE) end)
    send_late(s:getsockname())
    assert.same({ true, "r" }, { helper.bounded(5, function() return poller:join(5) end) })
    sleeper:cancel()
    local joined, err = helper.bounded(5, function() return sleeper:join(5) end)
    assert.is_false(joined)
    assert.matches("cancelled", tostring(err))
    s:close()
  end)
end)
