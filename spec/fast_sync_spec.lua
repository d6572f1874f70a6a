-- The raw fast path of queue:put, queue:get, cond:wait, cond:signal and
-- cond:broadcast (src/fast/sync.rs): the same answers in a task (fast
-- path) as in blocking mode (general path), values of every type handed
-- over intact, values given up (a put cancelled, timed out or closed) let
-- go, and no fault under garbage-collector stress, with finalizers that
-- use the very queue a put is storing into.
local loop = require "tls.loop"
local helper = require "helper"

local pack = helper.pack

local finalized, stress_gc = helper.finalized, helper.stress_gc

local function full_collect()
  for _ = 1, 4 do collectgarbage("collect") end
end

-- Runs f in a task and returns what it returned (packed), within 5 s.
local function in_task(f, ...)
  local t = loop.spawn(f, ...)
  local r = pack(t:join(5))
  assert(r[1], tostring(r[2]))
  return pack(select(2, (table.unpack or unpack)(r, 1, r.n)))
end

describe("fast path of the queue and cond", function()
  it("hands over values of every type, in order, task to task", function()
    local co = coroutine.create(function() end)
    local t, f = {}, function() end
    local values = { false, true, 0, -1.5, 1 / 0, "", "x", t, f, co, math.huge }
    local q = loop.queue(2)
    local got = {}
    loop.spawn(function()
      for i = 1, #values do assert(q:put(values[i])) end
      q:close()
    end)
    local reader = loop.spawn(function()
      while true do
        local v, msg, code = q:get()
        if v == nil then return msg, code end
        got[#got + 1] = v
      end
    end)
    local r = pack(reader:join(5))
    assert.same({ n = 3, true, "queue:get: queue is closed", "closed" }, r)
    assert.equal(#values, #got)
    for i = 1, #values do assert.equal(values[i], got[i]) end
    -- NaN is a value too (it is never a key of anything).
    local nan = 0 / 0
    local q2 = loop.queue()
    assert.same({ n = 1, true }, in_task(function() return q2:put(nan) end))
    local v = in_task(function() return q2:get() end)[1]
    assert.is_true(v ~= v)
  end)

  it("answers as blocking mode does: closed, timed out, zero timeouts", function()
    local function answers(run)
      local q = loop.queue(1)
      local out = {}
      out[#out + 1] = pack(run(function() return q:put("a") end))
      out[#out + 1] = pack(run(function() return q:put("b", 0) end))
      out[#out + 1] = pack(run(function() return q:put("b", 0.01) end))
      out[#out + 1] = pack(run(function() return q:get() end))
      out[#out + 1] = pack(run(function() return q:get(0) end))
      out[#out + 1] = pack(run(function() return q:get(0.01) end))
      q:put("c")
      q:close()
      out[#out + 1] = pack(run(function() return q:put("d") end))
      out[#out + 1] = pack(run(function() return q:get() end))
      out[#out + 1] = pack(run(function() return q:get() end))
      local c = loop.cond()
      out[#out + 1] = pack(run(function() return c:wait(0.01) end))
      out[#out + 1] = pack(run(function() return c:wait(0) end))
      out[#out + 1] = pack(run(function() return c:signal() end))
      out[#out + 1] = pack(run(function() return c:broadcast() end))
      return out
    end
    local blocking = answers(function(f) return f() end)
    local tasked = answers(function(f) return (table.unpack or unpack)(in_task(f)) end)
    -- Counts may differ (a task's join packs what it got); compare values.
    for i = 1, #blocking do
      local b, t = blocking[i], tasked[i]
      for j = 1, 3 do assert.equal(b[j], t[j], ("answer %d, value %d"):format(i, j)) end
    end
    assert.equal("queue:put: queue is closed", blocking[7][2])
    assert.equal("c", blocking[8][1])
    assert.equal("queue:get: queue is closed", blocking[9][2])
    assert.equal("cond:wait: timed out", blocking[10][2])
    assert.equal(false, blocking[12][1])
    assert.equal(0, blocking[13][1])
  end)

  it("rendezvous at capacity 0, and wakes parked putters and getters on close", function()
    local q = loop.queue(0)
    local put = loop.spawn(function() return q:put("x") end)
    local got = in_task(function() return q:get() end)
    assert.same({ n = 1, "x" }, got)
    assert.same({ n = 2, true, true }, pack(put:join(5)))
    local getter = loop.spawn(function() return q:get() end)
    local putter = loop.spawn(function() return q:put("y") end)
    local q2 = loop.queue(0)
    local putter2 = loop.spawn(function() return q2:put("z") end)
    loop.sleep(0.01)
    -- getter took "y" from the putter.
    assert.same({ n = 2, true, "y" }, pack(getter:join(5)))
    assert.same({ n = 2, true, true }, pack(putter:join(5)))
    q2:close()
    local r = pack(putter2:join(5))
    assert.same({ true, nil, "queue:put: queue is closed", "closed" }, { r[1], r[2], r[3], r[4] })
  end)

  it("raises for misuse with Lua's messages, from tasks too", function()
    local q, c = loop.queue(), loop.cond()
    local function err(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      assert.equal("string", type(e))
      return e
    end
    local function check()
      local e = err(function() return q:put(nil) end)
      assert.matches("bad argument #1 to 'queue:put' (value expected, got nil)", e, 1, true)
      e = err(function() return q:get(-1) end)
      assert.matches("bad argument #1 to 'queue:get'", e, 1, true)
      e = err(function() return q:put(1, "soon") end)
      assert.matches("bad argument #2 to 'queue:put'", e, 1, true)
      e = err(function() return c:wait({}) end)
      assert.matches("bad argument #1 to 'cond:wait'", e, 1, true)
      e = err(function() return q.get(nil) end)
      assert.matches("calling 'queue:get' on bad self (queue expected, got nil)", e, 1, true)
      e = err(function() return q.put(c, 1) end)
      assert.matches("calling 'queue:put' on bad self", e, 1, true)
      e = err(function() return c.wait(q) end)
      assert.matches("calling 'cond:wait' on bad self", e, 1, true)
      e = err(function() return c.signal(42) end)
      assert.matches("calling 'cond:signal' on bad self (cond expected, got number)", e, 1, true)
      return true
    end
    assert.is_true(check())
    assert.same({ n = 1, true }, in_task(check))
    -- The queue still works after all that.
    assert.is_true(q:put(1))
    assert.equal(1, q:get())
  end)

  it("refuses to wait in a coroutine the loop did not start", function()
    local q, c = loop.queue(), loop.cond()
    local r = in_task(function()
      local a = pack(pcall(coroutine.wrap(function() return q:get() end)))
      local b = pack(pcall(coroutine.wrap(function() return c:wait() end)))
      local d = pack(pcall(coroutine.wrap(function() return q:put(1) end)))
      return a[2], b[2], d[1], d[2]
    end)
    assert.matches("queue:get: called from a coroutine that the tls loop did not start", r[1], 1, true)
    assert.matches("cond:wait: called from a coroutine that the tls loop did not start", r[2], 1, true)
    -- A put with room needs no waiting, wherever it runs.
    assert.same({ true, true }, { r[3], r[4] })
  end)

  it("raises the cancellation in a parked put, get and wait, and the queue goes on", function()
    local q, c = loop.queue(1), loop.cond()
    assert(q:put("full"))
    local reason = { "stop" }
    local tasks = {
      loop.spawn(function() return q:put("never") end),
      loop.spawn(function() return loop.queue():get() end),
      loop.spawn(function() return c:wait() end),
      loop.spawn(function() return c:wait(10) end),
    }
    loop.sleep(0.01)
    for _, t in ipairs(tasks) do assert.is_true(t:cancel(reason)) end
    for _, t in ipairs(tasks) do
      assert.same({ n = 2, false, reason }, pack(t:join(5)))
    end
    -- The cancelled put's value never arrives.
    assert.equal("full", q:get())
    assert.same({ n = 3, nil, "queue:get: timed out", "timeout" }, pack(q:get(0)))
    assert.is_false(c:signal())
  end)

  it("lets go of values that were given up: cancelled, timed out, closed", function()
    local freed = 0
    local q = loop.queue(1)
    assert(q:put("full"))
    local function value() return finalized(function() freed = freed + 1 end) end
    local a = loop.spawn(function() return q:put(value()) end)
    local b = loop.spawn(function() return q:put(value(), 0.01) end)
    local c = loop.spawn(function() return q:put(value()) end)
    loop.sleep(0.05)
    a:cancel()
    a:join(5)
    b:join(5)
    q:close()
    c:join(5)
    a, b, c = nil, nil, nil
    full_collect()
    assert.equal(3, freed)
    assert.equal("full", q:get())
  end)

  it("lets go of a collected queue's values", function()
    local freed = 0
    do
      local q = loop.queue()
      for _ = 1, 10 do
        in_task(function() return q:put(finalized(function() freed = freed + 1 end)) end)
      end
    end
    full_collect()
    assert.equal(10, freed)
  end)

  it("collects a queue whose values refer back to it (not Lua 5.1 or LuaJIT)", function()
    if _VERSION == "Lua 5.1" then return pending("weak tables are not ephemerons") end
    local freed = false
    do
      local q = loop.queue()
      local job = function() return q end
      in_task(function()
        assert(q:put(job))
        return q:put(finalized(function() freed = true end))
      end)
    end
    full_collect()
    assert.is_true(freed)
  end)

  describe("under garbage-collector stress", function()
    local restore
    before_each(function() restore = stress_gc() end)
    after_each(function() restore() end)

    it("keeps every value when finalizers put to and get from the same queue mid-put", function()
      local q = loop.queue(4)
      local side = 0
      local N = 3000
      local consumer = loop.spawn(function()
        local seen = {}
        while #seen < N do
          local v = assert(q:get())
          if type(v) == "table" then seen[#seen + 1] = v.i end
        end
        return seen
      end)
      local producer = loop.spawn(function()
        for i = 1, N do
          -- Each value's finalizer puts to the queue when the collector
          -- runs it, which may be inside a later put's store; a zero
          -- timeout, as a finalizer cannot wait.
          local v = { i = i, p = finalized(function()
            side = side + 1
            q:put(side, 0)
          end) }
          assert(q:put(v))
        end
      end)
      assert(producer:join(20))
      local r = pack(consumer:join(20))
      assert.is_true(r[1])
      local seen = r[2]
      -- The tables arrive in order (numbers from finalizers in between).
      for i = 2, #seen do assert.is_true(seen[i] > seen[i - 1]) end
      assert.is_true(#seen > 0)
    end)

    it("ping-pongs through queues and conds with fresh values", function()
      local there, back, c = loop.queue(1), loop.queue(1), loop.cond()
      local flag = false
      local N = 2000
      local a = loop.spawn(function()
        for i = 1, N do
          there:put({ i })
          assert(back:get()[1] == i)
          flag = true
          c:signal()
        end
      end)
      local b = loop.spawn(function()
        for _ = 1, N do
          back:put(there:get())
          while not flag do c:wait() end
          flag = false
        end
      end)
      assert.same({ n = 1, true }, pack(a:join(20)))
      assert.same({ n = 1, true }, pack(b:join(20)))
    end)
  end)

  it("a finalizer run while the Lua state closes still puts and gets, after the queue's handle was finalized", function()
    local ok, _, out = helper.lua([[
      local loop = require "tls.loop"
      local q = loop.queue(2)
      local function fin()
        -- runs at lua_close, after the handles made below were finalized
        local okp, e = pcall(function()
          assert(q:put("a"))
          assert(q:put("b"))
          return q:get(0) .. q:get(0)
        end)
        io.stdout:write("finalizer: ", tostring(okp), " ", tostring(e), "\n")
        io.stdout:flush()
      end
      _G.keep = require("helper").finalized(fin)
      -- the fast path's handle of q, made after the finalizer was set
      local t = loop.spawn(function() return q:get() end)
      loop.step(0)
      assert(q:put("first"))
      assert(t:join() == true)
      print("exiting")
    ]], 20)
    assert.is_true(ok, out)
    assert.matches("finalizer: true ab", out, 1, true)
  end)
end)
