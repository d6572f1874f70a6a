-- A TLS stream that receives a corrupt record after the handshake: the
-- plaintext of the good records before it is kept (the read in progress
-- returns it as `partial`), and the failure has the code "protocol".
-- The corruption comes from a man-in-the-middle proxy written here, which
-- sends a good record and the bad one (a flipped byte, or bytes that are
-- no TLS record at all) in one write, so that both reach our client in
-- the same socket read.
local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"

local bounded, fails = T.bounded, T.fails
local trust, server_opts = T.trust, T.server_opts
local pack = helper.pack

-- The server: answers "ping" with "pong", then, on "go", writes "hello "
-- and "world!" as two records.
local function handler(ios)
  while true do
    local line = ios:read("l")
    if line == "ping" then
      ios:write("pong\n")
    elseif line == "go" then
      ios:write("hello ")
      ios:write("world!")
    else
      return
    end
  end
end

-- A proxy from a client to `target`. Once `state.armed` is true, it holds
-- the server's next two application-data records and forwards them in one
-- write, the second spoiled as `state.spoil` says.
local function proxy(target, state)
  local srv = assert(tcp.listen("127.0.0.1", 0, function(client)
    local server = assert(tcp.connecta(target))
    loop.spawn(function()
      while true do
        local data = client:read("b")
        if not data or not server:write(data) then break end
      end
      server:close()
    end)
    local held = {}
    while true do
      local head = server:read(5)
      if not head or #head < 5 then break end
      local len = head:byte(4) * 256 + head:byte(5)
      local body = server:read(len)
      if not body or #body < len then break end
      if state.armed and head:byte(1) == 23 then
        held[#held + 1] = head .. body
        if #held == 2 then
          local bad = held[2]
          if state.spoil == "flip" then
            -- The last byte is in the AEAD tag: decryption fails.
            bad = bad:sub(1, -2) .. string.char((bad:byte(-1) + 1) % 256)
          else
            -- In its place, bytes that are no TLS record.
            bad = "GARBAGE, NOT TLS\n"
          end
          client:write(held[1] .. bad)
          state.armed = false
          held = {}
        end
      elseif not client:write(head .. body) then
        break
      end
    end
    client:close()
  end))
  return srv, "127.0.0.1:" .. srv:address().port
end

describe("a corrupt TLS record after the handshake", function()
  local closers = {}
  setup(function() T.certs() end)
  after_each(function()
    for _, c in ipairs(closers) do c:close() end
    closers = {}
    T.cleanup()
  end)

  -- Connects through a proxy that spoils as `spoil` says; returns the
  -- stream, just after it asked for the two records.
  local function spoiled(spoil)
    local _, addr = T.serve(server_opts(), handler)
    local state = { spoil = spoil }
    local p, paddr = proxy(addr, state)
    closers[#closers + 1] = p
    local ios = assert(tls.connecta(paddr, "localhost", trust()))
    ios:settimeout(5)
    assert(ios:write("ping\n"))
    assert.equal("pong", ios:read("l"))
    state.armed = true
    assert(ios:write("go\n"))
    return ios
  end

  for _, spoil in ipairs({ "flip", "garbage" }) do
    describe("(" .. spoil .. ")", function()
      it("a count in progress returns nil, msg, 'protocol' and the good record's bytes", function()
        bounded(20, function()
          local ios = spoiled(spoil)
          local r = pack(ios:read(12))
          assert.equal(4, r.n, tostring(r[2]))
          assert.is_nil(r[1])
          assert.equal("protocol", r[3], r[2])
          assert.equal("hello ", r[4])
          -- Sticky, and nothing more to hand over.
          assert.same({ n = 4, nil, r[2], "protocol", "" }, pack(ios:read(12)))
          fails("protocol", {}, ios:write("more\n"))
          ios:close()
        end)
      end)

      it("'a' gets the bytes too; 'b' gets them first, then the failure", function()
        bounded(20, function()
          local ios = spoiled(spoil)
          local r = pack(ios:read("a"))
          assert.same({ n = 4, nil, r[2], "protocol", "hello " }, r)
          ios:close()
          ios = spoiled(spoil)
          assert.equal("hello ", ios:read("b"))
          fails("protocol", {}, ios:read("b"))
          ios:close()
        end)
      end)

      it("a line read returns the cut-off line as partial", function()
        bounded(20, function()
          local ios = spoiled(spoil)
          local r = pack(ios:read("l"))
          assert.same({ n = 4, nil, r[2], "protocol", "hello " }, r)
          ios:close()
        end)
      end)
    end)
  end

  it("the message says what happened", function()
    bounded(20, function()
      local ios = spoiled("flip")
      local _, msg = ios:read("a")
      assert.matches("cannot decrypt", msg)
      ios:close()
      ios = spoiled("garbage")
      _, msg = ios:read("a")
      assert.matches("invalid TLS message", msg)
      ios:close()
    end)
  end)
end)
