local loop = require "tls.loop"
local tcp = require "tls.tcp"

describe("tls.tcp smoke", function()
  it("echoes a line through our own server from the main thread", function()
    local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
      -- A while loop: Lua 5.1 cannot wait inside a for iterator.
      local line = ios:read("L")
      while line do
        ios:write(line:upper())
        line = ios:read("L")
      end
    end))
    local ios = assert(tcp.connecta("127.0.0.1:" .. srv:address().port))
    assert(ios:write("hello\n"))
    assert.equal("HELLO", ios:read("l"))
    ios:close()
    srv:close()
    assert.is_true(loop.run())
  end)
end)
