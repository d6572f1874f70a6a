-- loop.signal(name): signals as waitable objects. Signals are sent with
-- the system's `kill` to this very process (its pid from /proc/self/stat).
-- Cases that end with a signal's old disposition in force (a SIGTERM that
-- kills) run in a fresh interpreter (helper.lua).
local loop = require "tls.loop"
local helper = require "helper"

local function pack(...) return { n = select("#", ...), ... } end

local function mypid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*n")
  f:close()
  return pid
end

local function kill(name, pid)
  assert(os.execute(("kill -%s %d"):format(name, pid or mypid())))
end

local function result(t)
  return helper.bounded(10, function() return pack(t:join()) end)
end

-- The same helpers, for the scripts run in a fresh interpreter.
local PRELUDE = [[
local loop = require "tls.loop"
local f = assert(io.open("/proc/self/stat")); local pid = f:read("*n"); f:close()
local function kill(name) assert(os.execute(("kill -%s %d"):format(name, pid))) end
io.stdout:setvbuf("no")
]]

describe("loop.signal", function()
  after_each(function() helper.drain() end)

  it("wait returns true once the signal arrives (blocking mode)", function()
    local s = assert(loop.signal("USR1"))
    assert.matches("tls.signal (SIGUSR1)", tostring(s), 1, true)
    kill("USR1")
    assert.is_true(s:wait(5))
    s:close()
  end)

  it("times out with nil, msg, \"timeout\"", function()
    local s = loop.signal("USR2")
    assert.same({ n = 3, nil, "signal:wait (SIGUSR2): timed out", "timeout" }, pack(s:wait(0.01)))
    assert.same({ n = 3, nil, "signal:wait (SIGUSR2): timed out", "timeout" }, pack(s:wait(0)))
    s:close()
  end)

  it("counts signals that arrived while nobody waited", function()
    local s = loop.signal("SIGUSR1") -- the SIG prefix is optional
    kill("USR1")
    assert.equal(1, s:pending())
    kill("USR1")
    assert.equal(2, s:pending())
    assert.is_true(s:wait(0))
    assert.is_true(s:wait(0))
    assert.equal("timeout", select(3, s:wait(0)))
    s:close()
  end)

  it("wakes a waiting task; other tasks run meanwhile", function()
    local s = loop.signal("HUP")
    local waiter = loop.spawn(function() return s:wait(10) end)
    local sender = loop.spawn(function() loop.sleep(0.01) kill("HUP") return "sent" end)
    assert.equal("sent", result(sender)[2])
    assert.same({ true, true }, { result(waiter)[1], result(waiter)[2] })
    s:close()
  end)

  it("gives every object of a signal each delivery", function()
    local a, b = loop.signal("USR2"), loop.signal("USR2")
    kill("USR2")
    assert.is_true(a:wait(5))
    assert.is_true(b:wait(5))
    a:close()
    -- b still holds the signal.
    kill("USR2")
    assert.is_true(b:wait(5))
    b:close()
  end)

  it("close wakes waiters with \"closed\"; closing twice is harmless", function()
    local s = loop.signal("USR1")
    local t = loop.spawn(function() return s:wait() end)
    loop.step(0)
    assert.is_true(s:close())
    assert.is_true(s:close())
    local r = result(t)
    assert.same({ true, nil, "signal:wait (SIGUSR1): the signal object is closed", "closed" },
      { r[1], r[2], r[3], r[4] })
    assert.equal("closed", select(3, s:wait(1)))
    assert.matches("(closed)", tostring(s), 1, true)
  end)

  it("is cancellable", function()
    local s = loop.signal("USR1")
    local t = loop.spawn(function() return s:wait() end)
    loop.step(0)
    t:cancel()
    assert.same({ false, "cancelled" }, { result(t)[1], result(t)[2] })
    s:close()
  end)

  it("replaces the default action while the object lives, restores it on close", function()
    local ok, code, out = helper.lua(PRELUDE .. [[
      local s = loop.signal("TERM")
      kill("TERM")
      print("survived", s:wait(5))
      s:close()
      kill("TERM")
      loop.sleep(1)
      print("not reached")
    ]], 20)
    assert.is_false(ok)
    assert.equal(143, code, out) -- 128 + SIGTERM: the default action again
    assert.matches("survived\ttrue", out, 1, true)
    assert.is_nil(out:find("not reached", 1, true))
  end)

  it("restores the old disposition when the object is collected", function()
    local ok, code, out = helper.lua(PRELUDE .. [[
      local s = loop.signal("TERM")
      kill("TERM")
      print("survived", s:wait(5))
      s = nil
      collectgarbage() collectgarbage()
      kill("TERM")
      loop.sleep(1)
      print("not reached")
    ]], 20)
    assert.is_false(ok)
    assert.equal(143, code, out)
    assert.matches("survived\ttrue", out, 1, true)
  end)

  it("keeps an ignored signal ignored after close", function()
    -- `trap '' USR1` starts the interpreter with SIGUSR1 ignored.
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(PRELUDE .. [[
      local s = loop.signal("USR1")
      kill("USR1")
      print("got", s:wait(5))
      s:close()
      kill("USR1")
      loop.sleep(0.05)
      print("still here")
    ]])
    f:close()
    local cmd = ("cd %q && LUA_CPATH='target/lua/?.so;;' timeout -k 2 20 sh -c \"trap '' USR1; exec lua5.4 %s\" 2>&1; echo \"exit=$?\"")
      :format(helper.root, file)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    os.remove(file)
    assert.matches("got\ttrue", out, 1, true)
    assert.matches("still here", out, 1, true)
    assert.matches("exit=0", out, 1, true)
  end)

  it("takes Ctrl-C (SIGINT) over from the interpreter while it lives, then gives it back", function()
    local ok, code, out = helper.lua(PRELUDE .. [[
      local s = loop.signal("INT")
      kill("INT")
      print("caught", s:wait(5))
      loop.sleep(0.05)
      print("not interrupted")
      s:close()
      -- Sent from the background: system() ignores SIGINT while it waits.
      assert(os.execute(("(sleep 0.2; kill -INT %d) &"):format(pid)))
      loop.sleep(5)
      print("not reached")
    ]], 20)
    assert.is_false(ok, out)
    assert.matches("caught\ttrue", out, 1, true)
    assert.matches("not interrupted", out, 1, true)
    -- lua.c's own handler is back: "interrupted!" (or the default action).
    assert.is_nil(out:find("not reached", 1, true), out)
    assert.truthy(out:find("interrupted", 1, true) or code == 130, out)
  end)

  it("raises on misuse", function()
    local cases = {
      { 15, "bad argument #1 to 'loop.signal' (signal name expected, got number)" },
      { nil, "bad argument #1 to 'loop.signal' (signal name expected, got nil)" },
      { "NOPE", "unknown signal name \"NOPE\"" },
      { "KILL", "SIGKILL cannot be caught" },
      { "STOP", "SIGSTOP cannot be caught" },
      { "SEGV", "cannot be waited for" },
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(loop.signal, c[1])
      assert.is_false(ok)
      assert.matches(c[2], tostring(e), 1, true)
    end
    local s = loop.signal("USR1")
    local ok, e = pcall(s.wait, s, "soon")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'signal:wait' (number expected, got string)", tostring(e), 1, true)
    ok, e = pcall(s.wait, {})
    assert.is_false(ok)
    assert.matches("signal:wait", tostring(e), 1, true)
    s:close()
  end)
end)
