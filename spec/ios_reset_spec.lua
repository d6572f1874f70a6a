-- A reset that a write sees is sticky: the reads after it fail with
-- "reset" too (with what arrived before it as partial), never a clean end
-- of stream, although the socket reports the reset only once (to the write).
-- TCP and TLS; the peer is spec/fixtures/reset_server.py.
local tcp = require "tls.tcp"
local tls = require "tls"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"

local pack = helper.pack

local peers = {}
-- A peer that sends `data`, waits for one byte, then resets (TLS with
-- `tls` true).
local function resetting(data, tls_peer)
  local p, addr
  if tls_peer then
    p, addr = helper.reset_peer(data, T.pem("server"), T.key("server"))
  else
    p, addr = helper.reset_peer(data)
  end
  peers[#peers + 1] = p
  return addr
end

-- Writes `what` until a write fails (the peer's reset has come), as
-- `write` (strings: the fast path) or with a number (the general path);
-- answers that failure.
local function write_until_reset(ios, what)
  local deadline = loop.now() + 10
  while loop.now() < deadline do
    local r = pack(ios:write(what))
    if r[1] == nil then return r end
    loop.sleep(0.02)
  end
  error("the writes never failed")
end

local DATA = "line one\nline two, cut"

for _, kind in ipairs({ "tcp", "tls" }) do
  describe("a reset seen by a write (" .. kind .. ")", function()
    local addr
    setup(function()
      if kind == "tls" then T.certs() end
      addr = resetting(DATA, kind == "tls")
    end)
    teardown(function() for _, p in ipairs(peers) do p:stop() end end)

    -- Connects and lets the data arrive (buffered, not read).
    local function connect()
      local ios
      if kind == "tls" then
        ios = assert(tls.connecta(addr, "localhost", T.trust()))
      else
        ios = assert(tcp.connecta(addr))
      end
      ios:settimeout(5)
      assert.equal(#DATA, ios:fill(#DATA))
      return ios
    end

    -- Connects, triggers the reset and writes until a write reports it.
    local function reset_by_write(what)
      local ios = connect()
      local r = write_until_reset(ios, what)
      assert.equal("reset", r[3], r[2])
      return ios
    end

    it("is reported by the read that reaches the end, with what arrived", function()
      T.bounded(20, function()
        local ios = reset_by_write("x")
        local r = pack(ios:read("a"))
        assert.same({ n = 4, nil, r[2], "reset", DATA }, r)
        assert.matches("read from", r[2])
        -- and again
        assert.same({ n = 4, nil, r[2], "reset", "" }, pack(ios:read("a")))
        ios:close()
      end)
    end)

    it("after a later write's EPIPE too; line reads hand over the cut-off line", function()
      T.bounded(20, function()
        local ios = reset_by_write(42) -- a number: the general write path
        local r = pack(ios:write("y"))
        assert.is_nil(r[1])
        assert.equal("line one", ios:read("l"))
        r = pack(ios:read("l"))
        assert.same({ n = 4, nil, r[2], "reset", "line two, cut" }, r)
        T.fails("reset", { "connection reset" }, ios:fill(1))
        ios:close()
      end)
    end)

    it("for a task waiting for a line while another task's writes meet the reset", function()
      T.bounded(20, function()
        local ios = connect()
        assert.equal("line one\n", ios:read("L"))
        local reader = loop.spawn(function() return pack(ios:read("l")) end)
        loop.sleep(0.05) -- the reader waits for the rest of its line
        -- Whichever consumes the socket's reset, the write or the reader,
        -- the reader gets it.
        write_until_reset(ios, "x")
        local ok, r = reader:join(5)
        assert.is_true(ok)
        assert.same({ n = 4, nil, r[2], "reset", "line two, cut" }, r)
        ios:close()
      end)
    end)
  end)
end
