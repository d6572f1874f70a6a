-- UDP datagrams per second on loopback: ours (tls.udp), LuaSocket
-- (socket.udp) and cqueues (cqueues.socket, SOCK_DGRAM), the same
-- workloads in one process. The libraries take turns in short rounds
-- (ROUNDS rounds of SECONDS/ROUNDS each), so a change in the machine's
-- load hits all of them alike, and both wall-clock and CPU-time rates are
-- printed (CPU time, os.clock, is the steadier figure on a busy machine).
--
-- "burst": a sender and a receiver socket on 127.0.0.1; send BURST
-- datagrams of 64 bytes, then receive the BURST and check each. The
-- receives find their datagram already queued (loopback delivers during
-- the send), so this measures the per-call cost. Ours runs in a task,
-- cqueues in a coroutine on its controller, LuaSocket in plain calls.
--
-- "pairs": PAIRS pairs of UDP sockets; in each pair one side sends a
-- 64-byte datagram, the other sends it back, and so on. Every receive
-- waits for the peer, so this measures the event loop. Ours: one task per
-- socket; cqueues: one coroutine per socket; LuaSocket: one loop over
-- socket.select (how LuaSocket programs wait on several sockets). The
-- figure is round trips per second over all pairs.
--
-- usage: lua5.4 bench/udp.lua [seconds [burst [pairs [rounds]]]]
-- prints one line per library and workload, then the ratios.

local SECONDS = tonumber(arg[1] or "") or 2
local BURST = math.tointeger(tonumber(arg[2] or "")) or 32
local PAIRS = math.tointeger(tonumber(arg[3] or "")) or 16
local ROUNDS = math.tointeger(tonumber(arg[4] or "")) or 4
local ROUND = SECONDS / ROUNDS
local PAYLOAD = ("x"):rep(64)

local loop = require "tls.loop"
local udp = require "tls.udp"
local now = loop.now
local has_ls, lsocket = pcall(require, "socket")
local has_cq, cqueues = pcall(require, "cqueues")
local cqsocket = has_cq and require "cqueues.socket"

-- ---- burst ----

local burst = {}

function burst.ours()
  local rx = assert(udp.bind("127.0.0.1", 0, { rcvbuf = 1048576 }))
  local tx = assert(udp.connect(rx:getsockname()))
  local n, t0 = 0, now()
  loop.spawn(function()
    while now() - t0 < ROUND do
      for _ = 1, BURST do assert(tx:send(PAYLOAD)) end
      for _ = 1, BURST do assert(rx:recv(1) == PAYLOAD, "lost a datagram") end
      n = n + BURST
    end
  end):join()
  rx:close(); tx:close()
  return n
end

function burst.luasocket()
  local rx = lsocket.udp()
  assert(rx:setsockname("127.0.0.1", 0))
  rx:settimeout(1)
  local tx = lsocket.udp()
  assert(tx:setpeername(rx:getsockname()))
  local n, t0 = 0, now()
  while now() - t0 < ROUND do
    for _ = 1, BURST do assert(tx:send(PAYLOAD)) end
    for _ = 1, BURST do assert(rx:receive() == PAYLOAD, "lost a datagram") end
    n = n + BURST
  end
  rx:close(); tx:close()
  return n
end

function burst.cqueues()
  -- a free UDP port for the receiver
  local probe = assert(udp.bind("127.0.0.1", 0)); local port = probe:getsockname().port; probe:close()
  local cq = cqueues.new()
  local n = 0
  cq:wrap(function()
    local rx = cqsocket.listen { host = "127.0.0.1", port = port, type = cqsocket.SOCK_DGRAM }
    assert(rx:listen())
    local tx = cqsocket.connect { host = "127.0.0.1", port = port, type = cqsocket.SOCK_DGRAM }
    assert(tx:connect())
    rx:setmode("bn", "bn"); tx:setmode("bn", "bn")
    local t0 = now()
    while now() - t0 < ROUND do
      for _ = 1, BURST do assert(tx:write(PAYLOAD)); assert(tx:flush()) end
      for _ = 1, BURST do assert(rx:read("*a") == PAYLOAD, "lost a datagram") end
      n = n + BURST
    end
    rx:close(); tx:close()
  end)
  assert(cq:loop())
  return n
end

-- ---- pairs ----

-- PAIRS pairs of LuaSocket UDP sockets, each connected to the other.
local function luasocket_pairs()
  local list = {}
  for i = 1, PAIRS do
    local a, b = lsocket.udp(), lsocket.udp()
    assert(a:setsockname("127.0.0.1", 0)); assert(b:setsockname("127.0.0.1", 0))
    assert(a:setpeername(b:getsockname())); assert(b:setpeername(a:getsockname()))
    a:settimeout(0); b:settimeout(0)
    list[i] = { a, b }
  end
  return list
end

local pairs_ = {}

function pairs_.ours()
  local n, t0 = 0, now()
  local tasks = {}
  for _ = 1, PAIRS do
    -- udp.connect cannot pick its local port, so side a is bound and
    -- uses sendto; side b is connected to a.
    local a = assert(udp.bind("127.0.0.1", 0))
    local b = assert(udp.connect(a:getsockname()))
    local to_b = b:getsockname()
    tasks[#tasks + 1] = loop.spawn(function()
      assert(a:sendto(PAYLOAD, to_b))
      while now() - t0 < ROUND do
        assert(a:recv() == PAYLOAD)
        n = n + 1
        assert(a:sendto(PAYLOAD, to_b))
      end
      a:close()
    end)
    tasks[#tasks + 1] = loop.spawn(function()
      while true do
        local d = b:recv(0.2)
        if not d then break end
        b:send(d)
      end
      b:close()
    end)
  end
  for _, t in ipairs(tasks) do assert(t:join()) end
  return n
end

function pairs_.luasocket()
  local list = luasocket_pairs()
  local all, side = {}, {}
  for _, p in ipairs(list) do
    all[#all + 1] = p[1]; side[p[1]] = "a"
    all[#all + 1] = p[2]; side[p[2]] = "b"
    assert(p[1]:send(PAYLOAD))
  end
  local n, t0 = 0, now()
  while now() - t0 < ROUND do
    local ready = lsocket.select(all, nil, 1)
    for _, s in ipairs(ready) do
      local d = s:receive()
      if d then
        if side[s] == "a" then n = n + 1 end
        s:send(d)
      end
    end
  end
  for _, p in ipairs(list) do p[1]:close(); p[2]:close() end
  return n
end

function pairs_.cqueues()
  local list = luasocket_pairs()
  local cq = cqueues.new()
  local n, t0 = 0, now()
  for _, p in ipairs(list) do
    local a, b = cqsocket.dup(p[1]:getfd()), cqsocket.dup(p[2]:getfd())
    a:setmode("bn", "bn"); b:setmode("bn", "bn")
    cq:wrap(function()
      assert(a:write(PAYLOAD)); assert(a:flush())
      while now() - t0 < ROUND do
        assert(a:read("*a") == PAYLOAD)
        n = n + 1
        assert(a:write(PAYLOAD)); assert(a:flush())
      end
      a:close()
    end)
    cq:wrap(function()
      b:settimeout(0.2)
      while true do
        local d = b:read("*a")
        if not d then break end
        b:write(d); b:flush()
      end
      b:close()
    end)
  end
  assert(cq:loop())
  for _, p in ipairs(list) do p[1]:close(); p[2]:close() end
  return n
end

-- ---- run ----

local libs = { "ours" }
if has_ls then libs[#libs + 1] = "luasocket" else print("luasocket not installed (lua-socket)") end
if has_ls and has_cq then libs[#libs + 1] = "cqueues" else print("cqueues not installed (lua-cqueues)") end

for _, w in ipairs { { "burst", burst, "datagrams" }, { "pairs", pairs_, "roundtrips" } } do
  local name, fns, unit = w[1], w[2], w[3]
  local total = {}
  for _, lib in ipairs(libs) do total[lib] = { n = 0, wall = 0, cpu = 0 } end
  for _ = 1, ROUNDS do
    for _, lib in ipairs(libs) do
      collectgarbage()
      local w0, c0 = now(), os.clock()
      local n = fns[lib]()
      local t = total[lib]
      t.n, t.wall, t.cpu = t.n + n, t.wall + (now() - w0), t.cpu + (os.clock() - c0)
    end
  end
  for _, lib in ipairs(libs) do
    local t = total[lib]
    t.per_wall, t.per_cpu = t.n / t.wall, t.n / t.cpu
    print(("%-6s %-9s %s_per_sec=%.0f %s_per_cpu_sec=%.0f %s=%d"):format(
      name, lib, unit, t.per_wall, unit, t.per_cpu, unit, t.n))
  end
  for _, lib in ipairs(libs) do
    if lib ~= "ours" then
      print(("%-6s ours / %-9s = %.2f (wall)  %.2f (cpu)"):format(name, lib,
        total.ours.per_wall / total[lib].per_wall, total.ours.per_cpu / total[lib].per_cpu))
    end
  end
end
