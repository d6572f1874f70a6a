-- A task's coroutine resumed by hand (coroutine.resume on what
-- coroutine.running() gave inside the task) instead of by the loop: the
-- wait it was resumed out of raises a clear error there, forgets what it
-- registered, and the task ends with that error (join says so); the loop
-- never resumes that coroutine again, and nothing it waited on is stuck.
local loop, tcp, udp = require "tls.loop", require "tls.tcp", require "tls.udp"
local helper = require "helper"

local BY_HAND = "resumed by coroutine.resume, not by the loop"

-- Spawns f, lets it start and park, and returns the task and its coroutine.
-- Called from a task (helper.bounded runs each case in one), so the hand
-- that resumes is another task's; the last case resumes from the main
-- thread.
local function parked(f, from_main)
  local co
  local t = loop.spawn(function(...)
    co = coroutine.running()
    return f(...)
  end)
  if from_main then loop.step(0) else loop.sleep(0.02) end
  assert(co, "the task did not start")
  assert.equal("suspended", coroutine.status(co))
  return t, co
end

local function ended_by_hand(t, what)
  local ok, e = t:join(5)
  assert.is_false(ok)
  assert.equal("string", type(e))
  assert.matches(what .. ": this task's coroutine was " .. BY_HAND, e, 1, true)
end

describe("a task's coroutine resumed by hand", function()
  local srv, addr
  setup(function() srv, addr = helper.slow_writer(0.2, "one\ntwo\n") end)
  teardown(function() srv:close() end)

  -- (Lua 5.1: the read inside pcall raises "cannot wait here" at once.)
  local it_pcall = helper.yields_across_pcall and it or pending
  it_pcall("ios:read raises there; the task ends with the error; another task reads the stream", function()
    helper.bounded(10, function()
      local ios = assert(tcp.connecta(addr))
      ios:settimeout(5)
      local seen
      local t, co = parked(function()
        local ok, e = pcall(ios.read, ios, "l")
        seen = { ok, e }
        return "went on"
      end)
      local resumed = helper.pack(coroutine.resume(co, "junk"))
      assert.is_true(resumed[1])
      assert.is_false(seen[1])
      assert.matches("ios:read: this task's coroutine was " .. BY_HAND, seen[2], 1, true)
      ended_by_hand(t, "ios:read")
      local reader = loop.spawn(function() return ios:read("l") end)
      assert.same({ true, "one" }, { reader:join(5) })
      ios:close()
    end)
  end)

  it("a wait that is not caught: the resumer gets the error, join the same", function()
    helper.bounded(10, function()
      local ios = assert(tcp.connecta(addr))
      ios:settimeout(5)
      local t, co = parked(function() return ios:read("l") end)
      local r = helper.pack(coroutine.resume(co))
      -- the task's body runs under the loop's error catcher (xpcall), on
      -- Lua 5.1 in a coroutine of its own: either way the error comes out
      local text = r[1] and r[3] or r[2]
      assert.matches("ios:read: this task's coroutine was " .. BY_HAND, text, 1, true)
      ended_by_hand(t, "ios:read")
      -- the line is still there for the next reader
      assert.equal("one", ios:read("l"))
      ios:close()
    end)
  end)

  it("queue:get: the value put later goes to the next getter, not to the broken one", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      local t, co = parked(function() return q:get() end)
      coroutine.resume(co)
      ended_by_hand(t, "queue:get")
      assert(q:put("v"))
      assert.equal("v", q:get(1))
    end)
  end)

  it("queue:put on a full queue: the broken putter's value is not stored", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      assert(q:put("first"))
      local t, co = parked(function() return q:put("second") end)
      coroutine.resume(co)
      ended_by_hand(t, "queue:put")
      assert.equal("first", q:get(0))
      assert.is_nil((q:get(0)))
    end)
  end)

  it("cond:wait, loop.sleep, task:join and s:recv say the same", function()
    helper.bounded(10, function()
      local c = loop.cond()
      local other = loop.spawn(function() loop.sleep(0.3) return "other" end)
      local s = assert(udp.bind("127.0.0.1", 0))
      local cases = {
        { "cond:wait", function() return c:wait() end },
        { "loop.sleep", function() return loop.sleep(5) end },
        { "task:join", function() return other:join() end },
        { "s:recv", function() return s:recv(5) end },
      }
      for _, case in ipairs(cases) do
        local t, co = parked(case[2])
        coroutine.resume(co)
        ended_by_hand(t, case[1])
      end
      -- nothing of theirs is left waiting: a signal wakes a new waiter,
      -- a datagram goes to a new recv, the joined task ends normally
      local w = loop.spawn(function() return c:wait(2) end)
      loop.sleep(0.02)
      assert.is_true(c:signal())
      assert.same({ true, true }, { w:join(5) })
      local r = loop.spawn(function() return (s:recv(2)) end)
      loop.sleep(0.02)
      s:sendto("dgram", s:getsockname())
      assert.same({ true, "dgram" }, { r:join(5) })
      assert.same({ true, "other" }, { other:join(5) })
      s:close()
    end)
  end)

  it("a task resumed by hand after its value came ends with a clear error too", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      local t, co = parked(function() return q:get() end)
      assert(q:put("v")) -- handed to the parked getter, which is woken
      -- resumed before the loop runs it: the getter takes its value and
      -- the body ends outside the loop
      local r = helper.pack(coroutine.resume(co))
      assert.is_true(r[1])
      local ok, e = t:join(5)
      assert.is_false(ok)
      assert.matches("resumed by coroutine.resume, not by the loop, and ended outside it", e, 1, true)
    end)
  end)

  it("from the main thread as from another task", function()
    local q = loop.queue(1)
    local t, co = parked(function() return q:get() end, true)
    local r = helper.pack(coroutine.resume(co))
    -- the error: raised out of the coroutine (Lua 5.1, where the body runs
    -- in a coroutine of its own), or caught by the task's body
    local text = r[1] and r[3] or r[2]
    assert.matches("queue:get: this task's coroutine was " .. BY_HAND, text, 1, true)
    ended_by_hand(t, "queue:get")
    assert(q:put("v"))
    assert.equal("v", q:get(1))
  end)

  it("the loop itself is unharmed: other tasks run, loop.run ends", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      local t, co = parked(function() return q:get() end)
      coroutine.resume(co)
      local fine = loop.spawn(function() loop.sleep(0.01) return "fine" end)
      -- joined first: a broken task nobody joins is a failure the loop
      -- raises, as any other
      ended_by_hand(t, "queue:get")
      assert.same({ true, "fine" }, { fine:join(5) })
    end)
  end)
end)
