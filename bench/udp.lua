-- UDP datagrams per second on loopback: ours (tls.udp), LuaSocket
-- (socket.udp) and cqueues (cqueues.socket, SOCK_DGRAM), the same
-- workloads in one process. The libraries take turns in short rounds
-- (ROUNDS rounds of SECONDS/ROUNDS each), so a change in the machine's
-- load hits all of them alike, and both wall-clock and CPU-time rates are
-- printed (CPU time, os.clock, is the steadier figure on a busy machine).
--
-- "burst": two sockets connected to each other on 127.0.0.1; send BURST
-- datagrams of 64 bytes, then receive the BURST and check each. The
-- receives find their datagram already queued (loopback delivers during
-- the send), so this measures the per-call cost. Ours runs in a task,
-- cqueues in a coroutine on its controller, LuaSocket in plain calls.
--
-- "burst_from": the same, but the receiver is bound, not connected, and
-- each receive reports the sender, as a server's must: ours `recv`
-- (which always answers `data, from`), LuaSocket `receivefrom`. cqueues'
-- sockets have no receive that reports the sender, so it sits this out.
--
-- "pairs": PAIRS pairs of UDP sockets, each connected to the other; in
-- each pair one side sends a 64-byte datagram, the other sends it back,
-- and so on. Every receive waits for the peer, so this measures the event
-- loop. Ours: one task per socket; cqueues: one coroutine per socket;
-- LuaSocket: one loop over socket.select (how LuaSocket programs wait on
-- several sockets). The figure is round trips per second over all pairs.
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

-- A pair of LuaSocket UDP sockets on 127.0.0.1, each connected to the
-- other when `connected`, else only the sender (to the receiver).
local function luasocket_pair(connected)
  local a, b = lsocket.udp(), lsocket.udp()
  assert(a:setsockname("127.0.0.1", 0)); assert(b:setsockname("127.0.0.1", 0))
  assert(a:setpeername(b:getsockname()))
  if connected then assert(b:setpeername(a:getsockname())) end
  return a, b
end

-- BURST sends, then BURST receives, for one round: `send()` and `recv()`
-- each do one datagram (and check it).
local function bursts(send, recv)
  local n, t0 = 0, now()
  while now() - t0 < ROUND do
    for _ = 1, BURST do send() end
    for _ = 1, BURST do recv() end
    n = n + BURST
  end
  return n
end

local burst = {}

function burst.ours()
  -- udp.connect picks the local port, so the sender is bound first and
  -- connected to the receiver afterwards.
  local tx = assert(udp.bind("127.0.0.1", 0))
  local rx = assert(udp.connect(tx:getsockname(), { rcvbuf = 1048576 }))
  assert(tx:connect(rx:getsockname()))
  local n
  loop.spawn(function()
    n = bursts(function() assert(tx:send(PAYLOAD)) end,
      function() assert(rx:recv(1) == PAYLOAD, "lost a datagram") end)
  end):join()
  rx:close(); tx:close()
  return n
end

function burst.luasocket()
  local tx, rx = luasocket_pair(true)
  rx:settimeout(1)
  local n = bursts(function() assert(tx:send(PAYLOAD)) end,
    function() assert(rx:receive() == PAYLOAD, "lost a datagram") end)
  rx:close(); tx:close()
  return n
end

function burst.cqueues()
  local ltx, lrx = luasocket_pair(true)
  local tx, rx = cqsocket.dup(ltx:getfd()), cqsocket.dup(lrx:getfd())
  rx:setmode("bn", "bn"); tx:setmode("bn", "bn")
  local cq = cqueues.new()
  local n
  cq:wrap(function()
    n = bursts(function() assert(tx:write(PAYLOAD)); assert(tx:flush()) end,
      function() assert(rx:read("*a") == PAYLOAD, "lost a datagram") end)
    rx:close(); tx:close()
  end)
  assert(cq:loop())
  ltx:close(); lrx:close()
  return n
end

local burst_from = {}

function burst_from.ours()
  local rx = assert(udp.bind("127.0.0.1", 0, { rcvbuf = 1048576 }))
  local tx = assert(udp.connect(rx:getsockname()))
  local me = tx:getsockname()
  local n
  loop.spawn(function()
    n = bursts(function() assert(tx:send(PAYLOAD)) end, function()
      local d, from = rx:recv(1)
      assert(d == PAYLOAD and from.port == me.port, "lost a datagram")
    end)
  end):join()
  rx:close(); tx:close()
  return n
end

function burst_from.luasocket()
  local tx, rx = luasocket_pair(false)
  rx:settimeout(1)
  local _, port = tx:getsockname()
  port = tonumber(port)
  local n = bursts(function() assert(tx:send(PAYLOAD)) end, function()
    local d, _, from_port = rx:receivefrom()
    assert(d == PAYLOAD and from_port == port, "lost a datagram")
  end)
  rx:close(); tx:close()
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
    -- Side a is bound, side b connected to it, then a to b.
    local a = assert(udp.bind("127.0.0.1", 0))
    local b = assert(udp.connect(a:getsockname()))
    assert(a:connect(b:getsockname()))
    tasks[#tasks + 1] = loop.spawn(function()
      assert(a:send(PAYLOAD))
      while now() - t0 < ROUND do
        assert(a:recv() == PAYLOAD)
        n = n + 1
        assert(a:send(PAYLOAD))
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

local all_libs = { "ours" }
if has_ls then all_libs[#all_libs + 1] = "luasocket" else print("luasocket not installed (lua-socket)") end
if has_ls and has_cq then all_libs[#all_libs + 1] = "cqueues" else print("cqueues not installed (lua-cqueues)") end

for _, w in ipairs { { "burst", burst, "datagrams" }, { "burst_from", burst_from, "datagrams" },
  { "pairs", pairs_, "roundtrips" } } do
  local name, fns, unit = w[1], w[2], w[3]
  local total = {}
  local libs = {}
  for _, lib in ipairs(all_libs) do
    if fns[lib] then libs[#libs + 1] = lib end
  end
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
    print(("%-10s %-9s %s_per_sec=%.0f %s_per_cpu_sec=%.0f %s=%d"):format(
      name, lib, unit, t.per_wall, unit, t.per_cpu, unit, t.n))
  end
  for _, lib in ipairs(libs) do
    if lib ~= "ours" then
      print(("%-10s ours / %-9s = %.2f (wall)  %.2f (cpu)"):format(name, lib,
        total.ours.per_wall / total[lib].per_wall, total.ours.per_cpu / total[lib].per_cpu))
    end
  end
end
