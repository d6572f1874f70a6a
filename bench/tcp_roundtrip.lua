-- Our half of the TCP round-trip benchmark (see bench/cqueues/tcp_roundtrip.lua
-- for the other half; bench/run.sh runs both).
--
-- One process, one loop: an echo-uppercase server (tcp.listen) on
-- 127.0.0.1 with a free port and CONNS client tasks, each doing TRIPS round
-- trips of a 64-byte line (63 characters and "\n"): write, flush, read the
-- reply line, check it. The figure is round trips per second of wall clock
-- (loop.now) over the whole run, connection set-up included.
--
-- Written against docs API.md v1 only. TCP_NODELAY: the API has no option
-- for it (and an unknown option key raises), so this relies on the
-- library's default; if a `nodelay` option appears, pass it here.
--
-- usage: lua5.4 bench/tcp_roundtrip.lua [conns [trips]]
-- prints: ours roundtrips_per_sec=N conns=C trips=T seconds=S connect_seconds=S

local loop = require "tls.loop"
local tcp = require "tls.tcp"

local CONNS = math.tointeger(tonumber(arg[1] or "")) or 1000
local TRIPS = math.tointeger(tonumber(arg[2] or "")) or 100

local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
  -- Full output buffering with an explicit flush per reply, as on the
  -- cqueues side.
  ios:setvbuf("full")
  for line in ios:lines("l") do
    assert(ios:write(line:upper(), "\n"))
    assert(ios:flush())
  end
  ios:close()
end))
local addr = srv:address()

-- 63 characters of mixed case plus "\n" = 64 bytes on the wire.
local function make_line(i)
  local s = string.format("client %06d says hello to the echo server, mixed Case abcdefgh", i)
  return s:sub(1, 63)
end

local connected = 0
local t_connected

local function client(i)
  local ios = assert(tcp.connecta(addr))
  ios:setvbuf("full")
  connected = connected + 1
  if connected == CONNS then
    t_connected = loop.now()
  end
  local line = make_line(i)
  local want = line:upper()
  for _ = 1, TRIPS do
    assert(ios:write(line, "\n"))
    assert(ios:flush())
    local got, msg = ios:read("l")
    if got ~= want then
      ios:close()
      return false, msg or ("wrong reply: " .. tostring(got))
    end
  end
  ios:close()
  return true
end

local t0 = loop.now()
local tasks = {}
for i = 1, CONNS do
  tasks[i] = loop.spawn(client, i)
end

-- join() from the main thread runs the loop until that task is done.
local failures = 0
for i = 1, CONNS do
  local ok, good, msg = tasks[i]:join()
  if not ok then
    io.stderr:write("tcp_roundtrip: client ", i, " raised: ", tostring(good), "\n")
    failures = failures + 1
  elseif not good then
    io.stderr:write("tcp_roundtrip: client ", i, ": ", tostring(msg), "\n")
    failures = failures + 1
  end
end
local elapsed = loop.now() - t0
srv:close()

if failures > 0 then
  io.stderr:write(string.format("tcp_roundtrip: %d clients failed\n", failures))
  os.exit(1)
end

print(string.format("ours roundtrips_per_sec=%.0f conns=%d trips=%d seconds=%.3f connect_seconds=%.3f",
  CONNS * TRIPS / elapsed, CONNS, TRIPS, elapsed, (t_connected or t0) - t0))
