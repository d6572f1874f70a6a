-- task:cancel and Lua 5.4's <close> variables: a cancelled task's wait
-- raises, so its to-be-closed variables are closed as the error unwinds.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local helper = require "helper"

describe("task:cancel with <close>", function()
  after_each(function() helper.drain() end)

  it("closes a task's <close> stream and runs its __close handlers", function()
    local srv, addr = helper.serve(function(ios) ios:read("a") end)
    local closed = {}
    local ios_seen
    local t = loop.spawn(function()
      local ios <close> = assert(tcp.connecta(addr))
      ios_seen = ios
      local guard <close> = setmetatable({}, { __close = function(_, err) closed[#closed + 1] = err end })
      ios:read("l") -- the peer sends nothing: waits here
    end)
    loop.step(0)
    helper.wait_until(function() return ios_seen ~= nil end)
    loop.step(0.01)
    t:cancel("stop")
    local r = helper.bounded(5, function() return { t:join() } end)
    assert.same({ false, "cancelled: stop" }, r)
    assert.same({ "cancelled: stop" }, closed)
    assert.matches("closed", tostring(ios_seen), 1, true)
    srv:close()
  end)
end)
