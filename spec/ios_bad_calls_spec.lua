-- Misuse of a stream raises before anything is consumed, in Lua's words
-- and with the caller's position: more formats than a read can return,
-- and a method called on something that is not a stream (`ios.read(42)`
-- is "bad argument #1", `t:read()` with another `t` "calling on bad
-- self", as luaL_argerror says them).
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"

local pack, unpack = helper.pack, helper.unpack

-- The most formats one read takes (src/stream/format.rs): Lua 5.1 and
-- LuaJIT return at most that many values from a C function.
local MAX = (helper.version == "lua51" or helper.version == "luajit") and 3989 or 200000

local SIZE = 2 * MAX + 10

describe("stream misuse", function()
  local srv, ios
  setup(function()
    srv = assert(tcp.listen("127.0.0.1", 0, function(s)
      s:write(("x"):rep(SIZE))
      s:read("a")
    end))
    ios = assert(tcp.connecta(srv:address()))
    ios:settimeout(5)
    assert.equal(SIZE, ios:fill(SIZE))
  end)
  teardown(function()
    ios:close()
    srv:close()
    helper.drain(1)
  end)

  local function counts(n, last)
    local t = {}
    for i = 1, n do t[i] = 1 end
    t[n + 1] = last
    return t
  end

  describe("a read with too many formats", function()
    it("raises naming the first one too many, and consumes nothing", function()
      local before = ios:fill(0)
      local r = pack(pcall(ios.read, ios, unpack(counts(MAX + 1))))
      assert.is_false(r[1])
      assert.equal("string", type(r[2]))
      assert.matches("bad argument #" .. (MAX + 1) .. " to 'ios:read' (too many formats (at most "
        .. MAX .. "))", r[2], 1, true)
      assert.equal(before, ios:fill(0))
      -- an unknown format after many counts: raised before any is read
      r = pack(pcall(ios.read, ios, unpack(counts(MAX - 1, "x"))))
      assert.is_false(r[1])
      assert.matches("bad argument #" .. MAX .. " to 'ios:read' (invalid format)", r[2], 1, true)
      r = pack(pcall(ios.read, ios, unpack(counts(MAX - 1, 2 ^ 63))))
      assert.is_false(r[1])
      assert.matches("bad argument #" .. MAX .. " to 'ios:read' (invalid format", r[2], 1, true)
      assert.equal(before, ios:fill(0))
    end)

    it("takes the most there may be", function()
      local before = ios:fill(0)
      local r = pack(ios:read(unpack(counts(MAX))))
      assert.equal(MAX, r.n)
      assert.equal("x", r[1])
      assert.equal("x", r[MAX])
      assert.equal(before - MAX, ios:fill(0))
    end)

    it("in lines() too: the iterator raises at its first step", function()
      local before = ios:fill(0)
      local it = ios:lines(unpack(counts(MAX + 1)))
      local ok, e = pcall(it)
      assert.is_false(ok)
      assert.matches("too many formats", e, 1, true)
      assert.equal(before, ios:fill(0))
    end)
  end)

  describe("a method called on something else", function()
    local here = "ios_bad_calls_spec%.lua:"
    -- Each line calls the method as a plain function from Lua code (not a
    -- tail call, so the caller's frame is there to name).
    local plain = {
      read = function(v) local r = ios.read(v); return r end,
      read_a = function(v) local r = ios.read(v, "a"); return r end,
      read_L = function(v) local r = ios.read(v, "L"); return r end,
      write = function(v) local r = ios.write(v, "x"); return r end,
      write_number = function(v) local r = ios.write(v, 1); return r end,
      flush = function(v) local r = ios.flush(v); return r end,
      lines = function(v) local r = ios.lines(v); return r end,
      fill = function(v) local r = ios.fill(v, 1); return r end,
      settimeout = function(v) local r = ios.settimeout(v, 1); return r end,
      close = function(v) local r = ios.close(v); return r end,
    }

    it("as a plain function: bad argument #1, at the caller's line", function()
      for name, f in pairs(plain) do
        for _, v in ipairs({ 42, {}, "text" }) do
          local ok, e = pcall(f, v)
          assert.is_false(ok)
          assert.equal("string", type(e), name)
          local method = name:match("^[a-z]+")
          local want = "bad argument #1 to 'ios:" .. method .. "' (ios expected, got " .. type(v) .. ")"
          assert(e:find(want, 1, true), name .. ": " .. e)
          assert(e:find(here), name .. ": the position is the caller's: " .. e)
        end
      end
    end)

    it("as a method of another object: calling on bad self, at the caller's line", function()
      local other = { read = ios.read, write = ios.write, flush = ios.flush, lines = ios.lines }
      local calls = {
        read = function() local r = other:read(); return r end,
        write = function() local r = other:write("x"); return r end,
        flush = function() local r = other:flush(); return r end,
        lines = function() local r = other:lines(); return r end,
      }
      for name, f in pairs(calls) do
        local ok, e = pcall(f)
        assert.is_false(ok)
        local want = "calling 'ios:" .. name .. "' on bad self (ios expected, got table)"
        assert(e:find(want, 1, true), name .. ": " .. e)
        assert(e:find(here), name .. ": " .. e)
      end
    end)

    it("through pcall (a C caller): calling on bad self, no position", function()
      for _, m in ipairs({ "read", "write", "flush", "lines", "close" }) do
        local ok, e = pcall(ios[m], 42)
        assert.is_false(ok)
        assert.equal("calling 'ios:" .. m .. "' on bad self (ios expected, got number)", e)
      end
    end)

    it("inside a task as well", function()
      local r = helper.bounded(5, function()
        return pack(pcall(function() local x = ios.read(42); return x end))
      end)
      assert.is_false(r[1])
      assert.matches("bad argument #1 to 'ios:read' (ios expected, got number)", r[2], 1, true)
      loop.step(0)
    end)
  end)
end)
