-- One reader and one writer at a time: a second task that reads (or
-- writes) while another one waits on the same stream raises at once,
-- before it takes any byte the waiting one is reading, or sends any of its
-- own into the middle of the waiting one's output.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local helper = require "helper"

local pack, unpack = helper.pack, helper.unpack

local BUSY_READ = "another task is already reading from this stream"
local BUSY_WRITE = "another task is already writing to this stream"

-- The error a call raises (it must raise, with a string).
local function raised(f, ...)
  local r = pack(pcall(f, ...))
  assert(r[1] == false, "expected an error, got " .. tostring(r[2]))
  assert.equal("string", type(r[2]))
  return r[2]
end

describe("a second reader", function()
  local release, srv, ios
  before_each(function()
    release = false
    -- Sends the start of a line, then the rest once released.
    srv = assert(tcp.listen("127.0.0.1", 0, function(s)
      s:write("abc")
      helper.hold(function() return release end, 20)
      s:write("def\n")
    end))
    ios = assert(tcp.connecta(srv:address()))
    ios:settimeout(5)
    assert.equal(3, ios:fill(3))
  end)
  after_each(function()
    release = true
    ios:close()
    srv:close()
    helper.drain(1)
  end)

  it("raises, and takes none of the bytes the first one waits for", function()
    helper.bounded(20, function()
      local first = loop.spawn(function() return ios:read("l") end)
      loop.sleep(0.05) -- the first reader has "abc" and waits for the rest
      local tries = {
        { ios.read, ios, 2 }, { ios.read, ios, "a" }, { ios.read, ios, "b" },
        { ios.read, ios, "l" }, { ios.read, ios, "L" }, { ios.read, ios },
        { ios.read, ios, 1, 1 }, { ios.read, ios, "n" }, { ios.fill, ios, 1 },
      }
      for i, t in ipairs(tries) do
        local e = raised(unpack(t))
        assert(e:find(BUSY_READ, 1, true), i .. ": " .. e)
      end
      -- the iterator raises at its first step
      local e = raised(function() for _ in ios:lines() do end end)
      assert(e:find(BUSY_READ, 1, true), e)
      release = true
      local ok, line = first:join(5)
      assert.is_true(ok)
      assert.equal("abcdef", line)
    end)
  end)

  it("raises while the main thread waits in a blocking read", function()
    local got
    local other = loop.spawn(function()
      loop.sleep(0.05)
      got = pack(pcall(ios.read, ios, 2))
      release = true
    end)
    assert.equal("abcdef", ios:read("l"))
    assert.is_true((other:join(5)))
    assert.is_false(got[1])
    assert.matches(BUSY_READ, got[2], 1, true)
  end)
end)

describe("a second writer", function()
  it("raises and sends nothing while another task's write waits", function()
    local release, received = false, nil
    local srv = assert(tcp.listen("127.0.0.1", 0, function(s)
      -- reads nothing until released, then everything
      helper.hold(function() return release end, 20)
      s:settimeout(10)
      received = s:read("a")
    end))
    local ios = assert(tcp.connecta(srv:address()))
    ios:settimeout(10)
    local big = ("x"):rep(16 * 1024 * 1024)
    helper.bounded(30, function()
      local first = loop.spawn(function() return ios:write(big) end)
      loop.sleep(0.1) -- the socket is full: the first write waits
      for i, args in ipairs({ { "marker" }, { 42 }, { "a", "b" } }) do
        local e = raised(ios.write, ios, unpack(args))
        assert(e:find(BUSY_WRITE, 1, true), i .. ": " .. e)
      end
      for _, m in ipairs({ "flush", "shutdown" }) do
        local e = raised(ios[m], ios)
        assert(e:find(BUSY_WRITE, 1, true), m .. ": " .. e)
      end
      release = true
      local ok, r = first:join(20)
      assert.is_true(ok)
      assert.equal(ios, r)
      ios:close()
    end)
    assert.is_truthy(helper.wait_until(function() return received end, 10))
    assert.equal(#big, #received)
    assert.is_nil(received:find("[^x]"))
    srv:close()
    helper.drain(1)
  end)
end)
