-- cqueues half of the TCP round-trip benchmark.
--
-- One process, one cqueues controller: an echo-uppercase server on
-- 127.0.0.1 (free port) and CONNS client coroutines, each doing TRIPS round
-- trips of a 64-byte line (63 characters and "\n"): write, flush, read the
-- reply line, check it. The figure is round trips per second of wall clock
-- (cqueues.monotime) over the whole run, connection set-up included.
--
-- usage: lua5.4 bench/cqueues/tcp_roundtrip.lua [conns [trips]]
-- prints: cqueues roundtrips_per_sec=N conns=C trips=T seconds=S connect_seconds=S

local cqueues = require "cqueues"
local socket = require "cqueues.socket"

local CONNS = math.tointeger(tonumber(arg[1] or "")) or 1000
local TRIPS = math.tointeger(tonumber(arg[2] or "")) or 100

-- The default error handler throws on most errors; a benchmark that hits
-- one should die loudly anyway.
local cq = cqueues.new()

local srv = assert(socket.listen { host = "127.0.0.1", port = 0, reuseaddr = true, nodelay = true })
assert(srv:listen())
local _, host, port = srv:localname()

-- Binary mode: no CRLF translation (the other side of the comparison does
-- none either); full output buffering with an explicit flush per reply.
local function fastmode(con)
  con:setmode("b", "bf")
end

cq:wrap(function()
  local accepted = 0
  while accepted < CONNS do
    local con = assert(srv:accept())
    accepted = accepted + 1
    cqueues.running():wrap(function()
      fastmode(con)
      for line in con:lines("*l") do
        assert(con:write(line:upper(), "\n"))
        assert(con:flush())
      end
      con:close()
    end)
  end
  srv:close()
end)

-- 63 characters of mixed case plus "\n" = 64 bytes on the wire.
local function make_line(i)
  local s = string.format("client %06d says hello to the echo server, mixed Case abcdefgh", i)
  return s:sub(1, 63)
end

local failures = 0
local connected = 0
local t_connected

local t0 = cqueues.monotime()
for i = 1, CONNS do
  cq:wrap(function()
    local con = assert(socket.connect { host = host, port = port, nodelay = true })
    assert(con:connect())
    fastmode(con)
    connected = connected + 1
    if connected == CONNS then
      t_connected = cqueues.monotime()
    end
    local line = make_line(i)
    local want = line:upper()
    for _ = 1, TRIPS do
      assert(con:write(line, "\n"))
      assert(con:flush())
      local got = con:read("*l")
      if got ~= want then
        failures = failures + 1
        break
      end
    end
    con:close()
  end)
end

assert(cq:loop())
local elapsed = cqueues.monotime() - t0

if failures > 0 then
  io.stderr:write(string.format("tcp_roundtrip: %d clients got a wrong reply\n", failures))
  os.exit(1)
end

print(string.format("cqueues roundtrips_per_sec=%.0f conns=%d trips=%d seconds=%.3f connect_seconds=%.3f",
  CONNS * TRIPS / elapsed, CONNS, TRIPS, elapsed, (t_connected or t0) - t0))
