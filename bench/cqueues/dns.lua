-- cqueues half of the DNS benchmark (see bench/dns.lua).
--
-- One process, one cqueues controller: a dnsmasq on 127.0.0.1 (started
-- here, see bench/dnsmasq.lua) and N coroutines started at once, each
-- asking for the A record of a distinct name (n1.bench.test, ...) through
-- a cqueues.dns resolver pool (cqueues.dns.resolvers) configured with
-- cqueues.dns.config.stub{nameserver = {"[127.0.0.1]:port"}}, and checking
-- the answer (127.0.0.1). The figure is lookups per second of wall clock
-- (cqueues.monotime) from the first wrap to the end. A warm-up of 200
-- lookups of other names runs first.
--
-- The pool lets at most `hiwat` resolvers (sockets) exist at once, 32 by
-- default, and the other coroutines are meant to wait for one. In
-- lua-cqueues 20200726 (Debian 12's) that wait is broken: pool:get() loops
-- without yielding once `hiwat` resolvers are busy and at most one is idle
-- (resolvers.lua, getby: `cache_len > 1`, no wait in the else branch), so
-- 10,000 concurrent queries with the default spin forever. So `hiwat` is
-- N here by default: one resolver (one socket) per coroutine, as needed.
--
-- usage: lua5.4 bench/cqueues/dns.lua [n [hiwat]]
-- prints: cqueues lookups_per_sec=N n=N seconds=S hiwat=H

local cqueues = require "cqueues"
local config = require "cqueues.dns.config"
local resolvers = require "cqueues.dns.resolvers"

local here = debug.getinfo(1, "S").source:match("^@(.*)/cqueues/[^/]*$") or "bench"
local dnsmasq = dofile(here .. "/dnsmasq.lua")

local N = math.tointeger(tonumber(arg[1] or "")) or 10000
local HIWAT = math.tointeger(tonumber(arg[2] or "")) or N

local server = dnsmasq.start()
local pool = resolvers.new(config.stub {
  nameserver = { ("[127.0.0.1]:%d"):format(server.port) },
  search = {}, timeout = 5, attempts = 2,
})
pool.hiwat = HIWAT

local failures = 0
local function lookup(name)
  local ans, why = pool:query(name, "A", "IN", 30)
  local addr
  if ans then
    for rr in ans:grep { section = "answer", type = "A" } do
      addr = rr:addr()
      break
    end
  end
  if addr ~= "127.0.0.1" then
    failures = failures + 1
    if failures <= 5 then
      io.stderr:write("cqueues dns bench: ", name, ": ", tostring(addr or why), "\n")
    end
  end
end

local function round(prefix, n)
  local cq = cqueues.new()
  for i = 1, n do
    local name = ("%s%d.bench.test"):format(prefix, i)
    cq:wrap(function() lookup(name) end)
  end
  assert(cq:loop())
end

local ok, err = pcall(function()
  round("warm", 200)
  local t0 = cqueues.monotime()
  round("n", N)
  local elapsed = cqueues.monotime() - t0
  if failures > 0 then
    error(("%d lookups failed"):format(failures))
  end
  print(string.format("cqueues lookups_per_sec=%.0f n=%d seconds=%.3f hiwat=%d",
    N / elapsed, N, elapsed, HIWAT))
end)
server.stop()
if not ok then
  io.stderr:write("cqueues dns bench: ", tostring(err), "\n")
  os.exit(1)
end
