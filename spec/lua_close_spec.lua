-- Finalizers that run while the Lua state closes (the interpreter exits):
-- one of an object made after require "tls" may still use the library,
-- the loop included, and the process exits cleanly (docs/reference.md,
-- "Finalizers while the Lua state closes").
local helper = require "helper"

describe("a finalizer run while the Lua state closes", function()
  it("reads, sleeps, joins and connects, and the interpreter exits cleanly", function()
    local ok, code, out = helper.lua([[
      local tls = require "tls"
      local loop, tcp = tls.loop, tls.tcp
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
        loop.sleep(0.05)
        ios:write("hello\n")
        ios:read("a")
      end))
      local ios = assert(tcp.connecta(srv:address()))
      local task = loop.spawn(function() loop.sleep(0.05) return "joined" end)
      local function fin()
        local results = {}
        local function try(f)
          local r = { pcall(f) }
          results[#results + 1] = tostring(r[1]) .. ":" .. tostring(r[2])
        end
        try(function() return ios:read("l") end)
        try(function() return loop.sleep(0.01) end)
        try(function() return select(2, task:join(2)) end)
        try(function() return tostring(assert(tcp.connecta(srv:address())) ~= nil) end)
        io.stdout:write("finalizer ", table.concat(results, " "), "\n")
        io.stdout:flush()
      end
      -- made after require "tls": finalized before the library's parts
      _G.keep = require("helper").finalized(fin)
      print("exiting")
    ]], 20)
    assert.is_true(ok, ("exit %s: %s"):format(tostring(code), out))
    assert.matches("finalizer true:hello true:nil true:joined true:true", out, 1, true)
  end)
end)
