-- Idle memory per TLS connection on both sides, our library in two
-- processes (so each side's VmRSS is its own):
--
--   lua5.4 bench/tls_idle.lua server N CERT KEY PORTFILE   # prints when N are open
--   lua5.4 bench/tls_idle.lua client N PORT CAFILE
--   bench/tls_idle.sh [N...]                                # both, for each N
--
-- The server accepts N TLS connections; each handler waits in
-- ios:read("l") (idle, nothing arrives). The client opens N connections
-- with full handshakes, 50 at a time, and keeps them open, idle. Each side
-- warms up with 50 connections first, then prints its VmRSS growth per
-- connection once all N are open (the client after a short pause, so the
-- server's session tickets have arrived in its socket buffers).
local tls = require "tls"
local loop = require "tls.loop"

local ROLE, N = arg[1], math.tointeger(tonumber(arg[2] or ""))
local common = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/tls_common.lua")("tls_idle")
local die, rss_kib = common.die, common.rss_kib
local WARM, CONC = 50, 50

local function settle()
  collectgarbage("collect")
  collectgarbage("collect")
end

if ROLE == "server" and N then
  local cert, key, portfile = arg[3], arg[4], arg[5]
  local open, before, lua_before = 0, nil, nil
  local server
  local function handler(ios)
    open = open + 1
    if open == WARM then
      loop.spawn(function()
        loop.sleep(0.2)
        settle()
        before, lua_before = rss_kib(), collectgarbage("count")
      end)
    elseif open == WARM + N then
      loop.spawn(function()
        while not before do loop.sleep(0.05) end
        loop.sleep(0.5)
        settle()
        local after = rss_kib()
        print(string.format("server mem_kib_per_conn=%.2f lua_kib_per_conn=%.2f conns=%d rss_before_kib=%d rss_after_kib=%d",
          (after - before) / N, (collectgarbage("count") - lua_before) / N, N, before, after))
        io.stdout:flush()
        os.exit(0)
      end)
    end
    ios:read("l")
    ios:close()
  end
  server = assert(tls.listen("127.0.0.1", 0, handler, { cert = cert, key = key }))
  local f = assert(io.open(portfile .. ".tmp", "w"))
  f:write(tostring(server:address().port), "\n")
  f:close()
  os.rename(portfile .. ".tmp", portfile)
  loop.run()
elseif ROLE == "client" and N then
  local port, cafile = arg[3], arg[4]
  local cfg = tls.config { cafile = cafile, resumption = false }
  local conns = {}
  local function batch(from, to)
    local next_i = from - 1
    local tasks = {}
    for t = 1, CONC do
      tasks[t] = loop.spawn(function()
        while next_i < to do
          next_i = next_i + 1
          local i = next_i
          local ios, msg, code = tls.connecta("127.0.0.1:" .. port, "localhost", cfg)
          if not ios then die("connect: ", tostring(msg), " (", tostring(code), ")") end
          conns[i] = ios
        end
      end)
    end
    for t = 1, #tasks do
      local ok, err = tasks[t]:join()
      if not ok then die("task raised: ", tostring(err)) end
    end
  end
  batch(1, WARM)
  loop.sleep(0.2)
  settle()
  local before, lua_before = rss_kib(), collectgarbage("count")
  batch(WARM + 1, WARM + N)
  loop.sleep(0.5)
  settle()
  local after = rss_kib()
  print(string.format("client mem_kib_per_conn=%.2f lua_kib_per_conn=%.2f conns=%d rss_before_kib=%d rss_after_kib=%d",
    (after - before) / N, (collectgarbage("count") - lua_before) / N, N, before, after))
  io.stdout:flush()
  loop.sleep(2)
  for i = 1, #conns do conns[i]:close() end
else
  io.stderr:write("usage: lua5.4 bench/tls_idle.lua server N CERT KEY PORTFILE | client N PORT CAFILE\n")
  os.exit(2)
end
