-- A wait where the task cannot be suspended (inside string.gsub's
-- callback, table.sort's comparator; on Lua 5.1 also inside pcall or a for
-- iterator) raises a clear error before anything waits, and leaves nothing
-- behind: another task reads the stream, a value put into the queue is
-- not lost, the task itself goes on.
local loop, tcp, udp = require "tls.loop", require "tls.tcp", require "tls.udp"
local helper = require "helper"

local CANNOT = "cannot wait here"

-- f() called from a C function that cannot be yielded across, on every Lua.
local function inside_c(f)
  local out
  local ok, e = pcall(string.gsub, "x", "x", function() out = helper.pack(f()) return "" end)
  return ok, e, out
end

local function assert_cannot(what, ok, e)
  assert.is_false(ok)
  assert.equal("string", type(e))
  assert.matches(what .. ": " .. CANNOT, e, 1, true)
end

describe("a wait where the task cannot yield", function()
  local srv, addr
  setup(function() srv, addr = helper.slow_writer(0.2, "one\ntwo\n") end)
  teardown(function() srv:close() end)

  it("ios:read raises, and another task then reads the stream", function()
    helper.bounded(10, function()
      local ios = assert(tcp.connecta(addr))
      ios:settimeout(5)
      local a = loop.spawn(function()
        local ok, e = inside_c(function() return ios:read("l") end)
        assert_cannot("ios:read", ok, e)
        loop.sleep(0.5)
        return "a done"
      end)
      local b = loop.spawn(function()
        loop.sleep(0.05)
        return ios:read("l"), ios:read("l")
      end)
      assert.same({ true, "one", "two" }, { b:join(5) })
      assert.same({ true, "a done" }, { a:join(5) })
      ios:close()
    end)
  end)

  it("every read format and a write that must wait raise the same way; the task reads and flushes after", function()
    helper.bounded(10, function()
      local ios = assert(tcp.connecta(addr))
      ios:settimeout(5)
      local t = loop.spawn(function()
        for _, fmt in ipairs({ "l", "L", "a", 3, "n" }) do
          local ok, e = inside_c(function() return ios:read(fmt) end)
          assert_cannot("ios:read", ok, e)
        end
        assert_cannot("ios:read", inside_c(function() return ios:lines()() end))
        assert.equal("one", ios:read("l"))
        -- the buffered line is answered without waiting, so it works there
        local ok, e, out = inside_c(function() return ios:read("l") end)
        assert.is_true(ok, e)
        assert.equal("two", out[1])
        -- a write more than the socket takes at once: it raises with its
        -- data taken, which the next flush sends
        local big = ("x"):rep(8 * 1024 * 1024)
        assert_cannot("ios:write", inside_c(function() return ios:write(big) end))
        assert.equal(ios, ios:flush())
        return true
      end)
      assert.same({ true, true }, { t:join(5) })
      ios:close()
    end)
  end)

  it("queue:get raises and a value put later goes to the next getter, not lost", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      local getter = loop.spawn(function()
        assert_cannot("queue:get", inside_c(function() return q:get() end))
        loop.sleep(0.1)
        return q:get(2)
      end)
      local putter = loop.spawn(function()
        loop.sleep(0.02)
        return q:put("v1")
      end)
      assert.same({ true, true }, { putter:join(5) })
      assert.same({ true, "v1" }, { getter:join(5) })
    end)
  end)

  it("queue:put on a full queue raises, storing nothing", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      assert(q:put("first"))
      local t = loop.spawn(function()
        assert_cannot("queue:put", inside_c(function() return q:put("second") end))
        return q:get(0), q:get(0)
      end)
      local ok, first, none, msg = t:join(5)
      assert.is_true(ok)
      assert.equal("first", first)
      assert.is_nil(none)
      assert.is_string(msg)
    end)
  end)

  it("cond:wait raises, and a signal later wakes the next waiter", function()
    helper.bounded(10, function()
      local c = loop.cond()
      local waiter = loop.spawn(function()
        assert_cannot("cond:wait", inside_c(function() return c:wait() end))
        return c:wait(2)
      end)
      local signaller = loop.spawn(function()
        loop.sleep(0.05)
        return c:signal()
      end)
      signaller:join(5)
      assert.same({ true, true }, { waiter:join(5) })
    end)
  end)

  it("s:recv raises, and the datagram goes to the next recv", function()
    helper.bounded(10, function()
      local s = assert(udp.bind("127.0.0.1", 0))
      local t = loop.spawn(function()
        assert_cannot("s:recv", inside_c(function() return s:recv(2) end))
        return (s:recv(2))
      end)
      loop.spawn(function()
        loop.sleep(0.05)
        s:sendto("dgram", s:getsockname())
      end)
      assert.same({ true, "dgram" }, { t:join(5) })
      s:close()
    end)
  end)

  it("sleep, join, connect and poll raise before waiting", function()
    helper.bounded(10, function()
      local other = loop.spawn(function() loop.sleep(0.05) return "other" end)
      local t = loop.spawn(function()
        assert_cannot("loop.sleep", inside_c(function() return loop.sleep(0.01) end))
        assert_cannot("task:join", inside_c(function() return other:join() end))
        assert_cannot("tcp.connecta", inside_c(function() return tcp.connecta(addr) end))
        local s = assert(udp.bind("127.0.0.1", 0))
        assert_cannot("loop.poll", inside_c(function() return loop.poll(s, "r", 1) end))
        s:close()
        return other:join()
      end)
      assert.same({ true, true, "other" }, { t:join(5) })
    end)
  end)

  it("table.sort's comparator is such a call too", function()
    helper.bounded(10, function()
      local q = loop.queue(1)
      local t = loop.spawn(function()
        local ok, e = pcall(table.sort, { 2, 1 }, function(a, b) q:get() return a < b end)
        assert_cannot("queue:get", ok, e)
        return true
      end)
      assert.same({ true, true }, { t:join(5) })
    end)
  end)

  if not helper.yields_across_pcall then
    it("Lua 5.1: inside pcall and inside a for iterator too", function()
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(5)
        local t = loop.spawn(function()
          assert_cannot("ios:read", pcall(function() return ios:read("l") end))
          local ok, e = pcall(function()
            for line in ios:lines() do return line end
          end)
          assert_cannot("ios:read", ok, e)
          return ios:read("l")
        end)
        assert.same({ true, "one" }, { t:join(5) })
        ios:close()
      end)
    end)

    it("Lua 5.1: a wait inside a metamethod fails with Lua's own error, and the stream is free after", function()
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(5)
        -- The stack does not show the metamethod, so the task parks and
        -- its yield fails: the task ends with that error, parked.
        local t = loop.spawn(function()
          local lazy = setmetatable({}, { __index = function() return ios:read("l") end })
          return lazy.line
        end)
        local ok, e = t:join(5)
        assert.is_false(ok)
        assert.matches("yield across", e, 1, true)
        -- Its wait does not hold the stream for the dead task.
        local reader = loop.spawn(function() return ios:read("l") end)
        assert.same({ true, "one" }, { reader:join(5) })
        ios:close()
      end)
    end)

    it("Lua 5.1: a queue:get inside a metamethod ends its task; the values go to live getters", function()
      helper.bounded(10, function()
        local q = loop.queue()
        local t = loop.spawn(function()
          local lazy = setmetatable({}, { __index = function() return q:get() end })
          return lazy.value
        end)
        local ok, e = t:join(5)
        assert.is_false(ok)
        assert.matches("yield across", e, 1, true)
        -- The dead task's place in line takes nothing.
        local getter = loop.spawn(function() return q:get(5), q:get(5) end)
        loop.spawn(function() q:put("first"); q:put("second") end)
        assert.same({ true, "first", "second" }, { getter:join(5) })
      end)
    end)

    it("Lua 5.1: a cond:wait inside a metamethod ends its task; a signal wakes the next waiter", function()
      helper.bounded(10, function()
        local c = loop.cond()
        local t = loop.spawn(function()
          local lazy = setmetatable({}, { __index = function() return c:wait() end })
          return lazy.value
        end)
        assert.is_false((t:join(5)))
        local waiter = loop.spawn(function() return c:wait(5) end)
        loop.spawn(function() assert.is_true(c:signal()) end):join(5)
        assert.same({ true, true }, { waiter:join(5) })
        assert.equal(0, c:broadcast())
      end)
    end)
  else
    it("pcall and for iterators do not count here (this Lua yields across them)", function()
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(5)
        local t = loop.spawn(function()
          local ok, line = pcall(function() return ios:read("l") end)
          assert.is_true(ok, line)
          for l in ios:lines() do return line, l end
        end)
        assert.same({ true, "one", "two" }, { t:join(5) })
        ios:close()
      end)
    end)
  end
end)
