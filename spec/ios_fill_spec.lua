-- ios:fill(n), an extension: buffer n bytes without consuming them.
local tcp = require "tls.tcp"
local helper = require "helper"

describe("ios:fill", function()
  local srv, ios
  local payload = string.rep("0123456789", 10000) -- 100,000 bytes

  before_each(function()
    srv = assert(tcp.listen("127.0.0.1", 0, function(peer)
      peer:write(payload)
    end))
    ios = assert(tcp.connecta(srv:address()))
    ios:settimeout(5)
  end)

  after_each(function()
    ios:close()
    srv:close()
  end)

  it("waits until n bytes are buffered and consumes nothing", function()
    local n = helper.bounded(5, function() return ios:fill(60000) end)
    assert.is_true(n >= 60000)
    assert.equal(payload:sub(1, 10), ios:read(10))
  end)

  it("returns what there is at the end of stream", function()
    assert.equal(#payload, ios:fill(10 ^ 7))
    assert.equal(payload, ios:read("a"))
  end)

  it("works from the main thread too", function()
    assert.is_true(ios:fill(1) >= 1)
  end)

  it("raises on a bad size", function()
    assert.has_error(function() ios:fill("x") end)
    assert.has_error(function() ios:fill(-1) end)
  end)

  it("returns nil, msg, 'closed' on a closed stream", function()
    ios:close()
    local v, msg, code = ios:fill(1)
    assert.is_nil(v)
    assert.equal("closed", code)
    assert.is_string(msg)
  end)
end)
