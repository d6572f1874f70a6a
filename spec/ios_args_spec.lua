-- The numeric arguments of ios methods follow one rule (an integer, or a
-- float with an exact integer value, as Lua's luaL_checkinteger takes
-- them), and write() treats nil as file:write does. Messages are pinned
-- loosely ("bad argument", the argument number): their exact wording is
-- another spec's business.
local tcp = require "tls.tcp"
local helper = require "helper"

local function pack(...) return { n = select("#", ...), ... } end

local servers = {}
local function peer(handler, opts)
  local srv, addr = helper.serve(handler)
  servers[#servers + 1] = srv
  local ios = assert(tcp.connecta(addr, opts))
  ios:settimeout(5)
  return ios
end

-- A peer that sends `data`, then ends the stream.
local function sender(data) return peer(function(s) s:write(data) end) end

-- A peer that sends back, once our end of stream comes, all it got.
local function recorder()
  return peer(function(s)
    s:settimeout(5)
    local all = s:read("a")
    s:write(all or "")
  end)
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.matches("bad argument", tostring(err), 1, true)
  if pattern then assert.matches(pattern, tostring(err), 1, true) end
end

describe("ios arguments", function()
  after_each(function()
    for _, s in ipairs(servers) do s:close() end
    servers = {}
    helper.drain()
  end)

  describe("write", function()
    it("raises for nil, as file:write does, and sends nothing of that call", function()
      local ios = recorder()
      raises("#1", ios.write, ios, nil)
      raises("#1", ios.write, ios, nil, "x")
      raises("#2", ios.write, ios, "a", nil)
      raises("#2", ios.write, ios, "a", nil, "b")
      -- no argument at all is fine: it writes nothing and returns the ios
      assert.equal(ios, ios:write())
      assert(ios:write("kept"))
      assert(ios:shutdown())
      assert.equal("kept", ios:read("a"))
      ios:close()
    end)
  end)

  describe("read counts", function()
    it("take a float with an integer value: read(2^53) reads to the end", function()
      local ios = sender("abc")
      assert.same({ n = 1, "abc" }, pack(ios:read(2 ^ 53)))
      assert.same({ n = 1 }, pack(ios:read(2 ^ 53)))
      ios:close()
      ios = sender("abcdef")
      assert.equal("ab", ios:read(2.0))
      ios:close()
    end)

    it("raise for a fraction, a negative count, 2^63, inf and nan, consuming nothing", function()
      local ios = sender("data")
      for _, n in ipairs({ 1.5, -1, -0.0 - 1, 2 ^ 63, math.huge, -math.huge, 0 / 0 }) do
        raises("#1", ios.read, ios, n)
      end
      raises("#2", ios.read, ios, 1, 2 ^ 63)
      assert.equal("data", ios:read("a"))
      ios:close()
    end)
  end)

  describe("setvbuf", function()
    it("raises for a size that is not a positive integer", function()
      local ios = sender("")
      for _, n in ipairs({ 0, -1, -2 ^ 62, 1.5, 2 ^ 63, math.huge, 0 / 0, "big", {} }) do
        raises("#2", ios.setvbuf, ios, "full", n)
      end
      ios:close()
    end)

    it("takes any positive integer: a size is when output is sent, not an allocation", function()
      local ios = recorder()
      assert.is_true(ios:setvbuf("full", 2 ^ 62))
      assert(ios:write("held"))
      assert(ios:write(" until flush"))
      assert(ios:flush())
      assert(ios:shutdown())
      assert.equal("held until flush", ios:read("a"))
      ios:close()
    end)
  end)

  describe("setmaxline and the maxline option", function()
    it("agree: a positive integer up to the largest integer, nothing else", function()
      local ios = sender("")
      for _, n in ipairs({ 0, -1, 1.5, 2 ^ 63, math.huge, 0 / 0 }) do
        raises("#1", ios.setmaxline, ios, n)
        local srv, addr = helper.serve(function() end)
        servers[#servers + 1] = srv
        local ok, err = pcall(tcp.connecta, addr, { maxline = n })
        assert.is_false(ok)
        assert.matches("maxline", tostring(err), 1, true)
      end
      for _, n in ipairs({ 1, 2 ^ 53, math.maxinteger or 2 ^ 53 }) do
        assert.is_true(ios:setmaxline(n))
        local srv, addr = helper.serve(function() end)
        servers[#servers + 1] = srv
        local other = assert(tcp.connecta(addr, { maxline = n }))
        other:close()
      end
      ios:close()
    end)
  end)

  describe("fill", function()
    it("takes the same whole numbers and raises for others", function()
      local ios = sender("abc")
      assert.equal(3, ios:fill(2 ^ 53))
      for _, n in ipairs({ -1, 1.5, 2 ^ 63 }) do raises("#1", ios.fill, ios, n) end
      ios:close()
    end)
  end)
end)
