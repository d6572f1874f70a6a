-- tls.loop: tasks, join, run, step, sleep, now, timeout, fd.
--
-- loop.run() and a bare loop.step() can wait without limit, so every spec
-- that calls them runs in a fresh interpreter under `timeout` (helper.lua);
-- in-process specs drive the loop with bounded steps (helper.bounded).
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local helper = require "helper"

local pack = helper.pack

-- tostring() of an error, whatever its type (mlua raises userdata errors).
local function msg(e) return tostring(e) end

describe("tls.loop", function()
  after_each(function() helper.drain() end)

  describe("spawn", function()
    it("returns a task with join and done methods", function()
      local task = loop.spawn(function() end)
      assert.equal("userdata", type(task))
      assert.is_function(task.join)
      assert.is_function(task.done)
      assert.matches("tls.task", tostring(task), 1, true)
      helper.bounded(5, function() return task:join() end)
    end)

    it("passes every argument, nils included, to the function", function()
      local task = loop.spawn(function(...) return select("#", ...), ... end, 1, nil, "three", nil)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.same({ n = 6, true, 4, 1, nil, "three", nil }, r)
    end)

    it("does not run the function before the loop runs", function()
      local ran = false
      local task = loop.spawn(function() ran = true end)
      assert.is_false(ran)
      assert.is_false(task:done())
      helper.wait_until(function() return task:done() end)
      assert.is_true(ran)
    end)

    for _, bad in ipairs({ { "a number", 42 }, { "nil", nil }, { "a string", "print" },
                           { "a plain table", {} }, { "a boolean", true } }) do
      it("raises \"bad argument #1 to 'loop.spawn'\" for " .. bad[1], function()
        local ok, err = pcall(loop.spawn, bad[2])
        assert.is_false(ok)
        assert.matches("bad argument #1 to 'loop.spawn'", msg(err), 1, true)
      end)
    end

    it("raises for a call with no argument at all", function()
      local ok, err = pcall(loop.spawn)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'loop.spawn'", msg(err), 1, true)
    end)

    it("accepts a callable table", function()
      local callable = setmetatable({}, { __call = function(_, x) return x * 2 end })
      local task = loop.spawn(callable, 21)
      assert.same({ n = 2, true, 42 }, pack(helper.bounded(5, function() return task:join() end)))
    end)
  end)

  describe("task:join", function()
    it("returns true and the results, trailing nils included", function()
      local task = loop.spawn(function() return 1, nil, "x", nil end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.same({ n = 5, true, 1, nil, "x", nil }, r)
    end)

    it("returns exactly true for a task that returns nothing", function()
      local task = loop.spawn(function() end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.same({ n = 1, true }, r)
    end)

    it("returns many values", function()
      local task = loop.spawn(function()
        local t = {}
        for i = 1, 500 do t[i] = i end
        return helper.unpack(t)
      end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.equal(501, r.n)
      assert.is_true(r[1])
      for i = 1, 500 do assert.equal(i, r[i + 1]) end
    end)

    it("returns values of every type unchanged", function()
      local t, f = {}, function() end
      local task = loop.spawn(function() return t, f, 1.5, 7, "s", false end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.equal(7, r.n)
      assert.is_true(rawequal(t, r[2]))
      assert.is_true(rawequal(f, r[3]))
      assert.equal("float", helper.math_type(r[4]))
      assert.equal("integer", helper.math_type(r[5]))
      assert.equal("s", r[6])
      assert.is_false(r[7])
    end)

    it("returns false and the error with its traceback", function()
      -- it fails after the joiner waits (a failure nobody waits for is raised)
      local task = loop.spawn(function() loop.sleep(0.01) error("boom in task") end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.equal(2, r.n)
      assert.is_false(r[1])
      assert.equal("string", type(r[2]))
      assert.matches("boom in task", r[2], 1, true)
      assert.matches("stack traceback", r[2], 1, true)
      assert.matches("loop_spec.lua", r[2], 1, true)
    end)

    it("returns a table error object as the same table", function()
      local e = { code = 42 }
      local task = loop.spawn(function() loop.sleep(0.01) error(e) end)
      local r = pack(helper.bounded(5, function() return task:join() end))
      assert.equal(2, r.n)
      assert.is_false(r[1])
      assert.is_true(rawequal(e, r[2]))
    end)

    it("gives the same results to every join", function()
      local task = loop.spawn(function() return "a", "b" end)
      helper.bounded(5, function() return task:join() end)
      assert.same({ n = 3, true, "a", "b" }, pack(task:join()))
      assert.same({ n = 3, true, "a", "b" }, pack(task:join()))
    end)

    it("waits for the task from another task", function()
      local order = {}
      local worker = loop.spawn(function()
        loop.sleep(0.02)
        order[#order + 1] = "worker"
        return "done"
      end)
      local r = pack(helper.bounded(5, function()
        local res = pack(worker:join())
        order[#order + 1] = "joiner"
        return helper.unpack(res, 1, res.n)
      end))
      assert.same({ n = 2, true, "done" }, r)
      assert.same({ "worker", "joiner" }, order)
    end)

    it("waits for the task from the main thread (blocking mode)", function()
      local task = loop.spawn(function() loop.sleep(0.02) return "late" end)
      assert.same({ n = 2, true, "late" }, pack(task:join()))
    end)

    it("lets several tasks join one task", function()
      local target = loop.spawn(function() loop.sleep(0.02) return 7 end)
      local a = loop.spawn(function() return target:join() end)
      local b = loop.spawn(function() return target:join() end)
      helper.wait_until(function() return a:done() and b:done() end)
      assert.same({ n = 3, true, true, 7 }, pack(a:join()))
      assert.same({ n = 3, true, true, 7 }, pack(b:join()))
    end)

    it("hands the error to the joiner instead of raising it from the loop", function()
      local task = loop.spawn(function() loop.sleep(0.01) error("joined failure") end)
      local joiner = loop.spawn(function() return task:join() end)
      local ok = pcall(helper.wait_until, function() return joiner:done() end)
      assert.is_true(ok)
      local r = pack(joiner:join())
      assert.is_true(r[1])
      assert.is_false(r[2])
      assert.matches("joined failure", r[3], 1, true)
    end)
  end)

  describe("task:done", function()
    it("is false while the task runs and true once it has ended", function()
      local task = loop.spawn(function() loop.sleep(0.02) end)
      assert.is_false(task:done())
      loop.step(0)
      assert.is_false(task:done())
      assert.is_truthy(helper.wait_until(function() return task:done() end))
    end)

    it("is true for a task that failed", function()
      local task = loop.spawn(function() error("x") end)
      -- nobody joined it: its error is raised by the step that ran it
      assert.is_false(pcall(loop.step, 0))
      assert.is_true(task:done())
      assert.is_false((task:join()))
    end)
  end)

  describe("run", function()
    it("returns true when there is nothing to do", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        print("result", loop.run())
      ]], 10)
      assert.is_true(ok, out)
      assert.matches("result\ttrue", out, 1, true)
    end)

    it("returns true once a task that ends at once has run", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local ran = false
        loop.spawn(function() ran = true end)
        print("result", loop.run(), ran)
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. " (124: loop.run() hung)\n" .. out)
      assert.matches("result\ttrue\ttrue", out, 1, true)
    end)

    it("returns true after every task has ended, sleeping ones included", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local n = 0
        for i = 1, 3 do loop.spawn(function() loop.sleep(0.01 * i) n = n + 1 end) end
        print("result", loop.run(), n)
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("result\ttrue\t3", out, 1, true)
    end)

    it("raises an unjoined task's error with its traceback, and can be called again", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local later = false
        loop.spawn(function() error("unjoined boom") end)
        loop.spawn(function() loop.sleep(0.05) later = true end)
        local ok, err = pcall(loop.run)
        print("first", ok, later)
        print("err", tostring(err))
        print("second", loop.run(), later)
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("first\tfalse\tfalse", out, 1, true)
      assert.matches("unjoined boom", out, 1, true)
      assert.matches("stack traceback", out, 1, true)
      assert.matches("second\ttrue\ttrue", out, 1, true)
    end)

    it("raises the errors of two failing tasks one run at a time", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        loop.spawn(function() error("first failure") end)
        loop.spawn(function() loop.sleep(0.01) error("second failure") end)
        local a, ea = pcall(loop.run)
        local b, eb = pcall(loop.run)
        print("a", a, tostring(ea):match("first failure"))
        print("b", b, tostring(eb):match("second failure"))
        print("c", loop.run())
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("a\tfalse\tfirst failure", out, 1, true)
      assert.matches("b\tfalse\tsecond failure", out, 1, true)
      assert.matches("c\ttrue", out, 1, true)
    end)

    it("raises an unjoined task's table error", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        loop.spawn(function() error({ code = 7 }) end)
        local ok, err = pcall(loop.run)
        print("ok", ok)
        print("again", loop.run())
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("ok\tfalse", out, 1, true)
      assert.matches("again\ttrue", out, 1, true)
    end)

    it("keeps running while a server listens, and returns once it is closed", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local tcp = require "tls.tcp"
        local srv = assert(tcp.listen("127.0.0.1", 0, function() end))
        local t0 = loop.now()
        loop.spawn(function() loop.sleep(0.1) srv:close() end)
        print("result", loop.run(), loop.now() - t0 >= 0.09)
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("result\ttrue\ttrue", out, 1, true)
    end)

    it("raises an error mentioning 'inside a task' when called from a task", function()
      local r = pack(helper.bounded(5, function() return pcall(loop.run) end))
      assert.is_false(r[1])
      assert.matches("inside a task", msg(r[2]), 1, true)
    end)
  end)

  describe("step", function()
    it("returns 0 when nothing is live", function()
      assert.equal(0, loop.step(0))
    end)

    it("step(0) returns the number of live tasks", function()
      local tasks = {}
      for i = 1, 3 do tasks[i] = loop.spawn(function() loop.sleep(0.05) end) end
      local n = loop.step(0)
      assert.equal("integer", helper.math_type(n))
      assert.equal(3, n)
      helper.wait_until(function() return tasks[1]:done() and tasks[2]:done() and tasks[3]:done() end)
      assert.equal(0, loop.step(0))
    end)

    it("runs ready tasks", function()
      local ran = false
      local task = loop.spawn(function() ran = true end)
      loop.step(0)
      assert.is_true(ran)
      assert.is_true(task:done())
    end)

    it("raises an unjoined task's error and can be called again to go on", function()
      local later = false
      loop.spawn(function() error("step boom") end)
      local other = loop.spawn(function() loop.sleep(0.03) later = true end)
      local ok, err = pcall(loop.step, 0)
      assert.is_false(ok)
      assert.matches("step boom", msg(err), 1, true)
      assert.matches("stack traceback", msg(err), 1, true)
      assert.is_truthy(helper.wait_until(function() return other:done() end))
      assert.is_true(later)
    end)

    it("raises an error mentioning 'inside a task' when called from a task", function()
      local r = pack(helper.bounded(5, function() return pcall(loop.step, 0) end))
      assert.is_false(r[1])
      assert.matches("inside a task", msg(r[2]), 1, true)
    end)

    it("raises for a negative timeout", function()
      assert.has_error(function() loop.step(-1) end)
    end)

    it("without a timeout returns once the last task has ended", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        loop.spawn(function() end)
        print("result", loop.step())
      ]], 10)
      assert.is_true(ok, "exit " .. tostring(code) .. " (124: loop.step() hung)\n" .. out)
      assert.matches("result\t0", out, 1, true)
    end)

    it("with a timeout returns while a sleeping task is still live", function()
      local task = loop.spawn(function() loop.sleep(0.3) end)
      loop.step(0)
      assert.equal(1, loop.step(0.01))
      assert.is_false(task:done())
      helper.wait_until(function() return task:done() end)
    end)
  end)

  describe("sleep", function()
    it("wakes tasks in deadline order", function()
      local order = {}
      local tasks = {}
      for i, d in ipairs({ 0.03, 0.01, 0.02 }) do
        tasks[i] = loop.spawn(function() loop.sleep(d) order[#order + 1] = i end)
      end
      assert.is_truthy(helper.wait_until(function()
        return tasks[1]:done() and tasks[2]:done() and tasks[3]:done()
      end))
      assert.same({ 2, 3, 1 }, order)
    end)

    it("returns nothing, and sleeps at least as long as asked", function()
      local r = pack(helper.bounded(5, function()
        local t0 = loop.now()
        local res = pack(loop.sleep(0.05))
        return res.n, loop.now() - t0
      end))
      assert.equal(0, r[1])
      assert.is_true(r[2] >= 0.045, "slept only " .. r[2])
    end)

    it("works from the main thread and lets tasks progress meanwhile", function()
      local progressed = false
      local task = loop.spawn(function() loop.sleep(0.01) progressed = true end)
      local t0 = loop.now()
      local r = pack(loop.sleep(0.05))
      assert.equal(0, r.n)
      assert.is_true(loop.now() - t0 >= 0.045)
      assert.is_true(progressed)
      assert.is_true(task:done())
    end)

    it("sleep(0) yields to the other ready tasks", function()
      local order = {}
      local a = loop.spawn(function()
        order[#order + 1] = "a1"; loop.sleep(0); order[#order + 1] = "a2"
      end)
      local b = loop.spawn(function()
        order[#order + 1] = "b1"; loop.sleep(0); order[#order + 1] = "b2"
      end)
      helper.wait_until(function() return a:done() and b:done() end)
      assert.same({ "a1", "b1", "a2", "b2" }, order)
    end)

    it("sleep() with no argument yields like sleep(0)", function()
      local order = {}
      local a = loop.spawn(function() order[#order + 1] = "a1"; loop.sleep(); order[#order + 1] = "a2" end)
      local b = loop.spawn(function() order[#order + 1] = "b1" end)
      helper.wait_until(function() return a:done() and b:done() end)
      assert.same({ "a1", "b1", "a2" }, order)
    end)

    it("raises for a negative duration", function()
      assert.has_error(function() loop.sleep(-1) end)
    end)

    it("raises for a non-number duration", function()
      assert.has_error(function() loop.sleep({}) end)
    end)

    it("raises an unjoined task's error out of a main-thread sleep", function()
      loop.spawn(function() error("raised from sleep") end)
      local ok, err = pcall(loop.sleep, 0.02)
      assert.is_false(ok)
      assert.matches("raised from sleep", msg(err), 1, true)
      assert.matches("stack traceback", msg(err), 1, true)
      -- and the next blocking call goes on normally
      assert.equal(0, pack(loop.sleep(0.01)).n)
    end)
  end)

  describe("now", function()
    it("is a number that never decreases", function()
      local prev = loop.now()
      assert.equal("number", type(prev))
      for _ = 1, 10000 do
        local t = loop.now()
        assert(t >= prev, "loop.now() went backwards")
        prev = t
      end
    end)

    it("advances across a sleep", function()
      local t0 = loop.now()
      loop.sleep(0.02)
      assert.is_true(loop.now() - t0 >= 0.015)
    end)
  end)

  describe("timeout", function()
    it("is nil when the loop is idle", function()
      helper.drain()
      assert.is_nil(loop.timeout())
    end)

    it("is a number no larger than the pending timer when a task sleeps", function()
      local task = loop.spawn(function() loop.sleep(0.5) end)
      loop.step(0)
      local t = loop.timeout()
      assert.equal("number", type(t))
      assert.is_true(t > 0 and t <= 0.5, "timeout() = " .. tostring(t))
      helper.wait_until(function() return task:done() end)
      assert.is_nil(loop.timeout())
    end)

    it("is 0 when a task is ready to run", function()
      local task = loop.spawn(function() end)
      assert.equal(0, loop.timeout())
      loop.step(0)
      assert.is_true(task:done())
    end)
  end)

  describe("fd", function()
    it("is a non-negative integer, the same on every call", function()
      local fd = loop.fd()
      assert.equal("integer", helper.math_type(fd))
      assert.is_true(fd >= 0)
      assert.equal(fd, loop.fd())
    end)

    it("becomes readable when a socket has an event (checked with luv)", function()
      local ok, code, out = helper.lua([[
        local loop = require "tls.loop"
        local tcp = require "tls.tcp"
        local uv = require "luv"
        local accepted = false
        local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) accepted = true end))
        loop.step(0)                      -- the accept loop now waits on the socket
        local readable = false
        local poll = uv.new_poll(loop.fd())
        poll:start("r", function() readable = true; poll:stop() end)
        uv.run("nowait")
        print("before", readable)
        local client = uv.new_tcp()
        client:connect("127.0.0.1", srv:address().port, function() end)
        local guard = uv.new_timer()
        guard:start(5000, 0, function() guard:stop() end)
        while not readable and guard:is_active() do uv.run("once") end
        print("after", readable)
        -- the loop handles the event that made it readable
        local deadline = loop.now() + 5
        while not accepted and loop.now() < deadline do loop.step(0.01) end
        print("accepted", accepted)
        srv:close()
        for _, h in ipairs({ poll, client, guard }) do h:close() end
        uv.run("nowait")
        os.exit(0)
      ]], 20)
      assert.is_true(ok, "exit " .. tostring(code) .. "\n" .. out)
      assert.matches("before\tfalse", out, 1, true)
      assert.matches("after\ttrue", out, 1, true)
      assert.matches("accepted\ttrue", out, 1, true)
    end)
  end)

  describe("coroutines the loop did not start", function()
    local function foreign(call)
      return helper.bounded(5, function()
        local co = coroutine.wrap(function() return pack(pcall(call)) end)
        return co()
      end)
    end

    it("loop.sleep from coroutine.wrap inside a task raises an error naming loop.spawn", function()
      local r = foreign(function() return loop.sleep(0.01) end)
      assert.is_false(r[1])
      assert.matches("loop.spawn", msg(r[2]), 1, true)
    end)

    it("tcp.connecta from coroutine.wrap inside a task raises, never returns a light userdata", function()
      local srv, addr = helper.serve(function() end)
      local r = helper.bounded(5, function()
        local co = coroutine.wrap(function() return pack(pcall(tcp.connecta, addr)) end)
        return co()
      end)
      srv:close()
      for i = 1, r.n do
        if type(r[i]) == "userdata" then
          assert.is_not_nil(getmetatable(r[i]), "got a light userdata back")
        end
      end
      assert.is_false(r[1])
      assert.matches("loop.spawn", msg(r[2]), 1, true)
    end)

    it("ios:read from coroutine.wrap inside a task raises an error naming loop.spawn", function()
      local srv, addr = helper.serve(function(ios) loop.sleep(0.2) end)
      local r = helper.bounded(5, function()
        local ios = assert(tcp.connecta(addr))
        local co = coroutine.wrap(function() return pack(pcall(ios.read, ios, "l")) end)
        local res = co()
        ios:close()
        return res
      end)
      srv:close()
      assert.is_false(r[1])
      assert.matches("loop.spawn", msg(r[2]), 1, true)
    end)

    it("task:join from coroutine.wrap inside a task raises an error naming loop.spawn", function()
      local sleeper = loop.spawn(function() loop.sleep(0.05) end)
      local r = foreign(function() return sleeper:join() end)
      assert.is_false(r[1])
      assert.matches("loop.spawn", msg(r[2]), 1, true)
      helper.wait_until(function() return sleeper:done() end)
    end)

    it("never hands a light userdata back through coroutine.wrap", function()
      local r = helper.bounded(5, function()
        local co = coroutine.wrap(function() return loop.sleep(0.01) end)
        local res = pack(pcall(co))
        return res
      end)
      for i = 1, r.n do
        -- a light userdata has no metatable and is not an error object
        if type(r[i]) == "userdata" then
          assert.is_not_nil(getmetatable(r[i]), "got a light userdata back")
        end
      end
      assert.is_false(r[1])
    end)

    it("a coroutine resumed from the main thread may do I/O (blocking mode)", function()
      local co = coroutine.wrap(function()
        loop.sleep(0.01)
        return "slept"
      end)
      assert.equal("slept", co())
    end)
  end)

  describe("scale", function()
    it("runs 1000 tasks at once, each connecting and doing 10 round trips", function()
      local srv, addr = helper.serve(function(ios)
        helper.echo_lines(ios)
      end)
      local ok = pcall(function()
        local done, good = 0, 0
        local tasks = {}
        for i = 1, 1000 do
          tasks[i] = loop.spawn(function()
            local ios = assert(tcp.connecta(addr))
            ios:settimeout(30)
            local n = 0
            for j = 1, 10 do
              local line = ("task %d trip %d"):format(i, j)
              assert(ios:write(line, "\n"))
              if ios:read("l") == line then n = n + 1 end
            end
            ios:close()
            return n
          end)
        end
        local bad = {}
        helper.bounded(90, function()
          for i = 1, 1000 do
            local r = pack(tasks[i]:join())
            done = done + 1
            if r[1] and r[2] == 10 then good = good + 1 else bad[#bad + 1] = tostring(r[2]) end
          end
        end)
        assert.equal(1000, done)
        assert.equal(1000, good, table.concat(bad, "\n", 1, math.min(#bad, 3)))
      end)
      srv:close()
      assert.is_true(ok)
    end)
  end)

  describe("cpu", function()
    it("an idle task blocked reading for 1 s uses almost no CPU", function()
      local srv, addr = helper.serve(function(ios) loop.sleep(1) ios:write("late\n") end)
      local cpu = helper.cpu(function()
        local got = helper.bounded(10, function()
          local ios = assert(tcp.connecta(addr))
          local l = ios:read("l")
          ios:close()
          return l
        end)
        assert.equal("late", got)
      end)
      srv:close()
      assert.is_true(cpu < 0.2, ("used %.3f s of CPU"):format(cpu))
    end)

    it("a task sleeping 1 s uses almost no CPU", function()
      local cpu = helper.cpu(function()
        helper.bounded(10, function() loop.sleep(1) end)
      end)
      assert.is_true(cpu < 0.2, ("used %.3f s of CPU"):format(cpu))
    end)

    it("loop.sleep(1) from the main thread uses almost no CPU", function()
      local cpu = helper.cpu(loop.sleep, 1)
      assert.is_true(cpu < 0.2, ("used %.3f s of CPU"):format(cpu))
    end)
  end)
end)
