-- A handshake that fails inside rustls ends with a fatal alert or with
-- nothing, never with a plaintext warning close_notify mid-handshake (which
-- tells the peer "clean end" when nothing was agreed). The peer is a raw
-- TCP client speaking TLS records by hand.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local tls = require "tls"
local helper = require "helper"
local T = require "tls_support"

-- A TLS record: type, version 3.1, 16-bit length, body.
local function record(ctype, body)
  return string.char(ctype, 3, 1, math.floor(#body / 256), #body % 256) .. body
end

-- A ClientHello-shaped handshake message of `size` bytes of body, split
-- into records of at most 16384 bytes.
local function huge_hello(size)
  local msg = string.char(1, math.floor(size / 65536), math.floor(size / 256) % 256, size % 256)
    .. string.rep("\0", size)
  local out = {}
  for i = 1, #msg, 16384 do out[#out + 1] = record(22, msg:sub(i, i + 16383)) end
  return table.concat(out)
end

-- The records in `data`: { {type=, level=, desc=}, ... } (level and desc
-- for alerts). A record cut short counts as one with type "cut".
local function records(data)
  local out, i = {}, 1
  while i <= #data do
    if #data - i + 1 < 5 then out[#out + 1] = { type = "cut" } break end
    local ctype = data:byte(i)
    local len = data:byte(i + 3) * 256 + data:byte(i + 4)
    local body = data:sub(i + 5, i + 4 + len)
    if #body < len then out[#out + 1] = { type = "cut" } break end
    out[#out + 1] = { type = ctype, level = body:byte(1), desc = body:byte(2) }
    i = i + 5 + len
  end
  return out
end

-- Sends `bytes` to a fresh TLS server and returns everything it sends
-- back before closing, and what the server's handshake saw.
local function exchange(bytes, opts)
  local handled = false
  local _, addr = T.serve(T.server_opts(nil, opts), function() handled = true end)
  return helper.bounded(20, function()
    local ios = assert(tcp.connecta(addr))
    ios:settimeout(10)
    local ok, err, code = ios:write(bytes)
    -- the server may give up and close before taking everything
    assert(ok or code == "reset" or code == "closed", err)
    local data, msg, code2, partial = ios:read("a")
    ios:close()
    if data == nil then
      assert(code2 == "reset", msg)
      data = partial or ""
    end
    return data, handled
  end)
end

local function assert_no_warning_close(data)
  for _, r in ipairs(records(data)) do
    assert.equal(21, r.type, "only alert records may come back")
    assert.equal(2, r.level, "an alert must be fatal, not a warning (close_notify)")
    assert.are_not.equal(0, r.desc, "no close_notify mid-handshake")
  end
end

describe("a TLS handshake that fails inside rustls", function()
  setup(function() T.certs() end)
  after_each(function() T.cleanup() end)

  it("a ClientHello over 64 KiB: a fatal alert or nothing, never a warning close_notify", function()
    local data, handled = exchange(huge_hello(70000))
    assert_no_warning_close(data)
    assert.is_false(handled)
  end)

  it("garbage instead of a record: a fatal alert or nothing", function()
    local data, handled = exchange(string.rep("GET / HTTP/1.1\r\n", 100))
    assert_no_warning_close(data)
    assert.is_false(handled)
  end)

  it("a ClientHello with a bad body: a fatal alert (decode_error or the like)", function()
    local data = exchange(record(22, string.char(1, 0, 0, 4, 3, 3, 0, 0)))
    assert_no_warning_close(data)
    assert.is_true(#records(data) >= 1, "rustls explains a malformed hello with an alert")
  end)

  -- It used to send a warning close_notify here: closing a stream whose
  -- handshake never finished went through the same shutdown as a session.
  it("a handshake that times out half way: the server closes with nothing", function()
    local partial = record(22, string.char(1, 0, 1, 0) .. "abc")
    local data, handled = exchange(partial, { timeout = 0.2 })
    assert.equal("", data)
    assert.is_false(handled)
    data = exchange(huge_hello(70000):sub(1, 16389), { timeout = 0.2 })
    assert_no_warning_close(data)
  end)

  it("the server goes on serving real clients afterwards", function()
    local _, addr = T.serve(T.server_opts())
    helper.bounded(20, function()
      local raw = assert(tcp.connecta(addr))
      raw:write(huge_hello(70000))
      raw:close()
      local ios = assert(tls.connecta(addr, "localhost", T.trust()))
      assert(ios:write("ping\n"))
      assert.equal("ping", ios:read("l"))
      ios:close()
    end)
  end)
end)
