-- Our half of the DNS benchmark (bench/cqueues/dns.lua is the other half;
-- bench/run.sh runs both).
--
-- One process, one loop, no threads: a dnsmasq on 127.0.0.1 (started here,
-- see bench/dnsmasq.lua) and N tasks started at once, each resolving a
-- distinct name (n1.bench.test, n2.bench.test, ...) with
-- dns.address(name, "ip4") and checking the answer (127.0.0.1). The figure
-- is lookups per second of wall clock (loop.now) from the first spawn to
-- the last join. A warm-up of 200 lookups of other names runs first.
--
-- usage: lua5.4 bench/dns.lua [n [family]]     (family: ip4 (default), ip)
-- prints: ours lookups_per_sec=N n=N seconds=S family=F

local loop = require "tls.loop"
local dns = require "tls.dns"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local dnsmasq = dofile(here .. "/dnsmasq.lua")

local N = math.tointeger(tonumber(arg[1] or "")) or 10000
local FAMILY = arg[2] or "ip4"

local server = dnsmasq.start()
dns.config { nameservers = { server.server }, search = {}, timeout = 5, attempts = 2 }

local failures = 0
local function lookup(name)
  local r, msg = dns.address(name, FAMILY)
  if not r or r[1].addr ~= "127.0.0.1" then
    failures = failures + 1
    if failures <= 5 then
      io.stderr:write("dns bench: ", name, ": ", tostring(msg or (r and r[1].addr)), "\n")
    end
  end
end

local function round(prefix, n)
  local tasks = {}
  for i = 1, n do
    tasks[i] = loop.spawn(lookup, ("%s%d.bench.test"):format(prefix, i))
  end
  for i = 1, n do
    assert(tasks[i]:join())
  end
end

local ok, err = pcall(function()
  round("warm", 200)
  local t0 = loop.now()
  round("n", N)
  local elapsed = loop.now() - t0
  if failures > 0 then
    error(("%d lookups failed"):format(failures))
  end
  print(string.format("ours lookups_per_sec=%.0f n=%d seconds=%.3f family=%s",
    N / elapsed, N, elapsed, FAMILY))
end)
server.stop()
if not ok then
  io.stderr:write("dns bench: ", tostring(err), "\n")
  os.exit(1)
end
