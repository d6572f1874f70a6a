-- Nothing a peer sent is dropped: a read that a reset cuts short returns
-- nil, msg, "reset", partial (LuaSocket's convention) with the bytes that
-- arrived, for "a", "l", "L" and a count; "n", 0 and several formats
-- consume nothing, so a later read still gets the bytes. (Truncated TLS
-- streams, the same rule, are in tls_interop_spec.lua.)
local tcp = require "tls.tcp"
local helper = require "helper"

local function pack(...) return { n = select("#", ...), ... } end

local peers = {}
-- A Python peer that sends `data`, waits for one byte, then resets.
local function resetting(data)
  local p, addr = helper.reset_peer(data)
  peers[#peers + 1] = p
  return addr
end

-- Connects, lets the peer's data arrive, triggers the reset; returns the ios.
local function after_reset(addr, want_buffered)
  local ios = assert(tcp.connecta(addr))
  ios:settimeout(5)
  assert.equal(want_buffered, ios:fill(want_buffered))
  assert(ios:write("x"))
  return ios
end

describe("a read cut short by a reset", function()
  local addr
  setup(function() addr = resetting("line one\nline two, cut") end)
  teardown(function() for _, p in ipairs(peers) do p:stop() end end)

  it("'a' returns nil, msg, 'reset', and every byte that arrived", function()
    local ios = after_reset(addr, 22)
    local r = pack(ios:read("a"))
    assert.equal(4, r.n)
    assert.is_nil(r[1])
    assert.equal("reset", r[3])
    assert.equal("line one\nline two, cut", r[4])
    -- consumed: a second read has nothing more to give
    assert.same({ n = 4, nil, r[2], "reset", "" }, pack(ios:read("a")))
    ios:close()
  end)

  it("'l' reads the complete line, then hands over the cut-off one", function()
    local ios = after_reset(addr, 22)
    assert.equal("line one", ios:read("l"))
    local r = pack(ios:read("l"))
    assert.same({ n = 4, nil, r[2], "reset", "line two, cut" }, r)
    ios:close()
  end)

  it("a count past the end hands over what there is", function()
    local ios = after_reset(addr, 22)
    assert.equal("line", ios:read(4))
    local r = pack(ios:read(100))
    assert.same({ n = 4, nil, r[2], "reset", " one\nline two, cut" }, r)
    ios:close()
  end)

  it("'n' and several formats consume nothing: the bytes stay for a later read", function()
    local ios = after_reset(addr, 22)
    assert.equal("line one\n", ios:read("L"))
    local r = pack(ios:read("l", "l"))
    assert.equal(3, r.n)
    assert.equal("reset", r[3])
    r = pack(ios:read("L"))
    assert.same({ n = 4, nil, r[2], "reset", "line two, cut" }, r)
    ios:close()
  end)

  it("lines() yields every line, the cut-off one too, then raises", function()
    local ios = after_reset(addr, 22)
    local got = {}
    local ok, err = pcall(function()
      for l in ios:lines() do got[#got + 1] = l end
    end)
    assert.is_false(ok)
    assert.matches("reset", tostring(err))
    assert.same({ "line one", "line two, cut" }, got)
    ios:close()
  end)
end)

describe("'n' on a reset stream", function()
  local addr
  setup(function() addr = resetting("12") end)
  teardown(function() for _, p in ipairs(peers) do p:stop() end end)

  it("fails without consuming, as it cannot tell whether more digits were coming", function()
    local ios = after_reset(addr, 2)
    local r = pack(ios:read("n"))
    assert.equal(3, r.n)
    assert.equal("reset", r[3])
    assert.same({ n = 4, nil, r[2], "reset", "12" }, pack(ios:read("a")))
    ios:close()
  end)
end)
