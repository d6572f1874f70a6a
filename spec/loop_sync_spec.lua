-- loop.cond() and loop.queue([capacity]): waiting for other tasks.
local loop = require "tls.loop"
local helper = require "helper"

local function pack(...) return { n = select("#", ...), ... } end

--- Spawns f and lets it run to its first wait.
local function started(f, ...)
  local t = loop.spawn(f, ...)
  loop.step(0)
  return t
end

local function result(t)
  return helper.bounded(10, function() return pack(t:join()) end)
end

describe("loop.cond", function()
  after_each(function() helper.drain() end)

  it("signal wakes one waiter, the longest waiting first", function()
    local c = loop.cond()
    local order = {}
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = started(function() assert.is_true(c:wait()) order[#order + 1] = i end)
    end
    assert.is_true(c:signal())
    loop.step(0) loop.step(0)
    assert.same({ 1 }, order)
    assert.is_true(c:signal())
    assert.is_true(c:signal())
    for i = 1, 3 do result(tasks[i]) end
    assert.same({ 1, 2, 3 }, order)
  end)

  it("signal and broadcast with nobody waiting do nothing (and say so)", function()
    local c = loop.cond()
    assert.is_false(c:signal())
    assert.equal(0, c:broadcast())
    -- A signal is not remembered: a later wait waits.
    assert.same({ n = 3, nil, "cond:wait: timed out", "timeout" }, pack(c:wait(0.01)))
  end)

  it("broadcast wakes every waiter and counts them", function()
    local c = loop.cond()
    local woken = 0
    local tasks = {}
    for i = 1, 4 do
      tasks[i] = started(function() c:wait() woken = woken + 1 end)
    end
    assert.equal(4, c:broadcast())
    for i = 1, 4 do result(tasks[i]) end
    assert.equal(4, woken)
  end)

  it("wait(timeout) gives nil, msg, \"timeout\" in a task and goes on", function()
    local c = loop.cond()
    local t = loop.spawn(function() return c:wait(0.01) end)
    local r = result(t)
    assert.same({ true, nil, "cond:wait: timed out", "timeout" }, { r[1], r[2], r[3], r[4] })
    assert.equal(4, r.n)
    -- The timed-out waiter left the line: the next signal finds nobody.
    assert.is_false(c:signal())
  end)

  it("waits in blocking mode while tasks run", function()
    local c = loop.cond()
    loop.spawn(function() loop.sleep(0.01) c:signal() end)
    assert.is_true(c:wait(10))
  end)

  it("a cancelled waiter leaves the line; the signal goes to the next", function()
    local c = loop.cond()
    local got = {}
    local a = started(function() c:wait() got[#got + 1] = "a" end)
    local b = started(function() c:wait() got[#got + 1] = "b" end)
    a:cancel()
    loop.step(0)
    assert.is_true(c:signal())
    result(b)
    assert.same({ "b" }, got)
    assert.same({ false, "cancelled" }, { a:join() })
  end)

  it("a blocking wait ended by another task's error passes its signal on", function()
    local c = loop.cond()
    local got = {}
    local function waiter(name)
      return function() assert.is_true(c:wait(5)) got[#got + 1] = name end
    end
    local a = started(waiter("a"))
    local b
    -- In line: a, the blocking wait, b. The second signal goes to the
    -- blocking wait, and the same task's error ends the blocking call
    -- before it takes it: the signal must reach b instead of being lost.
    loop.spawn(function()
      loop.sleep(0.01)
      b = loop.spawn(waiter("b"))
      loop.sleep(0)
      c:signal()
      c:signal()
      error("boom", 0)
    end)
    local ok, e = pcall(c.wait, c, 5)
    assert.is_false(ok)
    assert.matches("^boom", e)
    result(a)
    result(b)
    assert.same({ "a", "b" }, got)
  end)

  it("raises on misuse", function()
    local c = loop.cond()
    local ok, e = pcall(c.wait, c, "x")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'cond:wait' (number expected, got string)", tostring(e), 1, true)
    ok, e = pcall(c.signal, {})
    assert.is_false(ok)
    assert.matches("cond:signal", tostring(e), 1, true)
    assert.has_error(function() c.broadcast(nil) end)
    assert.has_error(function() c.wait(loop.queue()) end)
  end)

  it("raises a clear error from a coroutine the loop did not start", function()
    local c = loop.cond()
    local r = helper.bounded(5, function()
      local co = coroutine.wrap(function() return pcall(c.wait, c) end)
      return pack(co())
    end)
    assert.is_false(r[1])
    assert.matches("did not start", tostring(r[2]), 1, true)
  end)
end)

describe("loop.queue", function()
  after_each(function() helper.drain() end)

  it("passes values in order between tasks; #q counts what is queued", function()
    local q = loop.queue()
    assert.equal(0, #q)
    for i = 1, 5 do assert.is_true(q:put(i)) end
    assert.equal(5, #q)
    local t = loop.spawn(function()
      local got = {}
      for _ = 1, 5 do got[#got + 1] = q:get() end
      return got
    end)
    local r = result(t)
    assert.same({ 1, 2, 3, 4, 5 }, r[2])
    assert.equal(0, #q)
  end)

  it("keeps any Lua value but nil: tables by reference, false", function()
    local q = loop.queue()
    local tbl = {}
    assert.is_true(q:put(tbl))
    assert.is_true(q:put(false))
    assert.is_true(q:put("s"))
    assert.equal(tbl, q:get())
    assert.is_false(q:get())
    assert.equal("s", q:get())
    local ok, e = pcall(q.put, q, nil)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'queue:put' (value expected, got nil)", tostring(e), 1, true)
  end)

  it("put waits while the queue is full, get when it is empty", function()
    local q = loop.queue(2)
    local log = {}
    local producer = loop.spawn(function()
      for i = 1, 5 do q:put(i) log[#log + 1] = "put " .. i end
    end)
    loop.step(0)
    assert.same({ "put 1", "put 2" }, log)
    assert.equal(2, #q)
    local consumer = loop.spawn(function()
      local got = {}
      for _ = 1, 5 do got[#got + 1] = q:get() end
      return got
    end)
    assert.same({ 1, 2, 3, 4, 5 }, result(consumer)[2])
    result(producer)
    assert.equal(5, #log)
  end)

  it("times out: put on a full queue and get on an empty one", function()
    local q = loop.queue(1)
    assert.is_true(q:put("a"))
    assert.same({ n = 3, nil, "queue:put: timed out", "timeout" }, pack(q:put("b", 0)))
    assert.same({ n = 3, nil, "queue:put: timed out", "timeout" }, pack(q:put("b", 0.01)))
    assert.equal(1, #q)
    assert.equal("a", q:get())
    assert.same({ n = 3, nil, "queue:get: timed out", "timeout" }, pack(q:get(0)))
    local t = loop.spawn(function() return q:get(0.01) end)
    local r = result(t)
    assert.same({ true, nil, "queue:get: timed out", "timeout" }, { r[1], r[2], r[3], r[4] })
  end)

  it("serves waiting getters first come, first served", function()
    local q = loop.queue()
    local got = {}
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = started(function() got[i] = q:get() end)
    end
    -- A newcomer that asks before the woken getters run gets nothing early.
    q:put("x") q:put("y") q:put("z")
    assert.same({ n = 3, nil, "queue:get: timed out", "timeout" }, pack(q:get(0)))
    for i = 1, 3 do result(tasks[i]) end
    assert.same({ "x", "y", "z" }, got)
  end)

  it("serves waiting putters in order when room is made", function()
    local q = loop.queue(1)
    q:put(0)
    local tasks = {}
    for i = 1, 3 do tasks[i] = started(function() return q:put(i) end) end
    -- A newcomer cannot jump the line of waiting putters.
    assert.equal("timeout", select(3, q:put(99, 0)))
    local got = {}
    for _ = 1, 4 do got[#got + 1] = q:get(5) end
    assert.same({ 0, 1, 2, 3 }, got)
    for i = 1, 3 do assert.same({ true, true }, { result(tasks[i])[1], result(tasks[i])[2] }) end
  end)

  it("capacity 0 is a rendezvous: put returns once a get took the value", function()
    local q = loop.queue(0)
    assert.equal("timeout", select(3, q:put("now?", 0)))
    local done = false
    local putter = started(function() q:put("hand") done = true end)
    assert.is_false(done)
    assert.equal(0, #q)
    assert.equal("hand", q:get(5))
    result(putter)
    assert.is_true(done)
  end)

  it("close wakes every waiter with \"closed\" and refuses later puts", function()
    local q = loop.queue()
    local getters = {}
    for i = 1, 2 do getters[i] = started(function() return q:get() end) end
    assert.is_true(q:close())
    assert.is_true(q:close()) -- twice is harmless
    for i = 1, 2 do
      local r = result(getters[i])
      assert.same({ true, nil, "queue:get: queue is closed", "closed" }, { r[1], r[2], r[3], r[4] })
    end
    assert.same({ n = 3, nil, "queue:put: queue is closed", "closed" }, pack(q:put(1)))
    assert.is_true(q:closed())
  end)

  it("delivers what was queued before close, then says \"closed\"", function()
    local q = loop.queue()
    q:put("a") q:put("b")
    q:close()
    assert.equal(2, #q)
    assert.equal("a", q:get())
    assert.equal("b", q:get())
    assert.same({ n = 3, nil, "queue:get: queue is closed", "closed" }, pack(q:get()))
    assert.matches("closed", tostring(q), 1, true)
  end)

  it("close wakes blocked putters with \"closed\"; their values are not queued", function()
    local q = loop.queue(1)
    q:put("kept")
    local p = started(function() return q:put("dropped") end)
    q:close()
    local r = result(p)
    assert.same({ true, nil, "queue:put: queue is closed", "closed" }, { r[1], r[2], r[3], r[4] })
    assert.equal(1, #q)
    assert.equal("kept", q:get())
    assert.equal("closed", select(3, q:get()))
  end)

  it("a cancelled getter leaves the line and loses nothing", function()
    local q = loop.queue()
    local a = started(function() return q:get() end)
    local b = started(function() return q:get() end)
    a:cancel()
    loop.step(0)
    q:put("for b")
    assert.same({ true, "for b" }, { result(b)[1], result(b)[2] })
    assert.same({ false, "cancelled" }, { a:join() })
  end)

  it("a cancelled putter's value is not queued", function()
    local q = loop.queue(1)
    q:put(1)
    local p = started(function() return q:put(2) end)
    p:cancel()
    loop.step(0)
    assert.equal(1, q:get())
    assert.equal("timeout", select(3, q:get(0)))
  end)

  it("a blocking get ended by another task's error gives its item back", function()
    for _, capacity in ipairs { 0, 1 } do
      local q = loop.queue(capacity)
      -- Once the main thread waits, the put hands "precious" straight to
      -- it; the task's error then ends the blocking get before it takes it.
      loop.spawn(function() loop.sleep(0.01) q:put("precious", 5) error("boom", 0) end)
      local ok, e = pcall(q.get, q, 5)
      assert.is_false(ok)
      assert.matches("^boom", e)
      assert.equal("precious", q:get(0))
      assert.equal("timeout", select(3, q:get(0)))
    end
  end)

  it("an item given back over capacity: later gets drain it before a waiting putter's value goes in", function()
    local q = loop.queue(1)
    loop.spawn(function()
      loop.sleep(0.01)
      q:put("precious", 5) -- handed to the main thread's get
      q:put("second", 5)   -- into the queue: now full
      error("boom", 0)     -- ends that get: "precious" comes back, over capacity
    end)
    local ok, e = pcall(q.get, q, 5)
    assert.is_false(ok)
    assert.matches("^boom", e)
    local putter = started(function() return q:put("third", 5) end)
    assert.equal("precious", q:get(0))
    loop.step(0)
    -- the queue still holds "second", its capacity: the put goes on waiting
    assert.is_false(putter:done())
    assert.equal("second", q:get(0))
    assert.same({ true, true }, { putter:join(5) })
    assert.equal("third", q:get(0))
    assert.equal("timeout", select(3, q:get(0)))
  end)

  it("a blocking put ended by another task's error lets go of its value", function()
    local q = loop.queue(1)
    assert.is_true(q:put("first"))
    local seen = setmetatable({}, { __mode = "k" })
    local value = {}
    seen[value] = true
    -- The queue is full, so the put waits; the task's error ends it
    -- before any get makes room: the value did not go in, and the queue
    -- must not keep it.
    loop.spawn(function() loop.sleep(0.01) error("boom", 0) end)
    local ok, e = pcall(q.put, q, value, 5)
    assert.is_false(ok)
    assert.matches("^boom", e)
    value = nil
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(seen))
    assert.equal("first", q:get(0))
    assert.equal("timeout", select(3, q:get(0)))
  end)

  it("works from the main thread in blocking mode while tasks run", function()
    local q = loop.queue(1)
    loop.spawn(function() for i = 1, 3 do q:put(i) end end)
    assert.equal(1, q:get(5))
    assert.equal(2, q:get(5))
    assert.equal(3, q:get(5))
  end)

  it("raises on misuse", function()
    for _, bad in ipairs { -1, 1.5, "x", {} } do
      local ok, e = pcall(loop.queue, bad)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'loop.queue'", tostring(e), 1, true)
    end
    local q = loop.queue()
    local ok, e = pcall(q.get, q, "soon")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'queue:get' (number expected, got string)", tostring(e), 1, true)
    ok, e = pcall(q.put, q, 1, {})
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'queue:put' (number expected, got table)", tostring(e), 1, true)
    ok, e = pcall(q.put, loop.cond(), 1)
    assert.is_false(ok)
    assert.matches("queue:put", tostring(e), 1, true)
    assert.has_error(function() q.close("q") end)
  end)
end)
