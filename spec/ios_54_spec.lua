-- ios cases that need Lua 5.4 syntax (only Lua 5.4 runs *_54_spec.lua
-- files; see .busted).
local tcp = require "tls.tcp"
local helper = require "helper"

describe("tls ios (Lua 5.4 syntax)", function()
  local servers = {}
  after_each(function()
    for _, srv in ipairs(servers) do srv:close() end
    servers = {}
    helper.drain()
  end)

  it("a <close> variable closes the stream", function()
    local got
    local srv, addr = helper.serve(function(s) got = s:read("a") end)
    servers[#servers + 1] = srv
    local kept
    do
      local ios <close> = assert(tcp.connecta(addr))
      kept = ios
      assert(ios:write("scoped"))
    end
    assert.matches("closed", tostring(kept))
    assert.equal("closed", select(3, kept:read("l")))
    assert.is_truthy(helper.wait_until(function() return got end))
    assert.equal("scoped", got)
  end)
end)
