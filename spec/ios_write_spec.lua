-- ios:write: numbers are formatted by the library itself, as file:write
-- formats them on each Lua version, whatever a program did to
-- string.format; and a write that times out says it was a write.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local tls = require "tls"
local helper = require "helper"
local T = require "tls_support"

local pack = helper.pack

-- What file:write makes of `values` (each followed by a space).
local function file_text(values)
  local f = assert(io.tmpfile())
  for _, v in ipairs(values) do f:write(v, " ") end
  f:seek("set")
  local s = f:read("*a")
  f:close()
  return s
end

describe("ios:write of numbers", function()
  it("does not call string.format: a program that replaced it changes nothing", function()
    local nan = 0 / 0
    local values = { 7, -3, 2.5, 2.0, 1 / 3, 0.1, 1e15, 1e16, 2 ^ 53, 2 ^ 63, -2 ^ 63, 1e100,
                     1e-5, 123456.789, -0.0, 1 / 0, -1 / 0, nan, -nan, 5e-324, 12345678901234567 }
    local want = file_text(values)
    local got
    local srv = assert(tcp.listen("127.0.0.1", 0, function(s) got = s:read("a") end))
    local ios = assert(tcp.connecta(srv:address()))
    local format = string.format
    local called = false
    string.format = function(...) -- luacheck: ignore
      called = true
      return "REPLACED"
    end
    local ok, err = pcall(function()
      for _, v in ipairs(values) do assert(ios:write(v, " ")) end
      -- several at once, and mixed with strings (the general path)
      assert(ios:write(1.5, "|", 2, "|"))
    end)
    string.format = format -- luacheck: ignore
    assert(ok, err)
    ios:close()
    assert.is_truthy(helper.wait_until(function() return got end))
    assert.is_false(called)
    assert.equal(want .. file_text({ 1.5 }):sub(1, -2) .. "|" .. file_text({ 2 }):sub(1, -2) .. "|", got)
    srv:close()
  end)
end)

describe("a write that times out", function()
  local release
  local servers = {}
  after_each(function()
    release = true
    for _, s in ipairs(servers) do s:close() end
    servers = {}
    helper.drain(1)
    T.cleanup()
  end)

  -- A peer that reads nothing until released.
  local function holder(s)
    helper.hold(function() return release end, 20)
    s:close()
  end

  local function connect(kind)
    release = false
    if kind == "tls" then
      T.certs()
      local _, addr = T.serve(T.server_opts(), holder)
      return assert(tls.connecta(addr, "localhost", T.trust()))
    end
    local srv = assert(tcp.listen("127.0.0.1", 0, holder))
    servers[#servers + 1] = srv
    return assert(tcp.connecta(srv:address()))
  end

  local function says_write(r)
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal("timeout", r[3])
    assert.matches("^write on ", r[2])
    assert.is_nil(r[2]:find("read", 1, true), r[2])
    assert.is_nil(r[2]:find("flush", 1, true), r[2])
  end

  local big = ("x"):rep(64 * 1024 * 1024)

  for _, kind in ipairs({ "tcp", "tls" }) do
    it("says 'write' (" .. kind .. "), from the main thread and from a task", function()
      local ios = connect(kind)
      ios:settimeout(0.3)
      says_write(pack(ios:write(big)))  -- strings: the fast path
      says_write(pack(ios:write(big, 1))) -- with a number: the general path
      local r = helper.bounded(10, function() return pack(ios:write(big)) end)
      says_write(r)
      r = helper.bounded(10, function() return pack(ios:write(1, big)) end)
      says_write(r)
      ios:close()
    end)
  end

  it("a flush that times out says 'flush'", function()
    local ios = connect("tcp")
    ios:settimeout(0.3)
    ios:setvbuf("full", #big * 2)
    assert.equal(ios, ios:write(big))
    local r = helper.bounded(10, function() return pack(ios:flush()) end)
    assert.equal("timeout", r[3])
    assert.matches("^flush on ", r[2])
    ios:close()
    loop.step(0)
  end)
end)
