-- UDP datagrams per second on loopback: ours (tls.udp), LuaSocket
-- (socket.udp) and cqueues (cqueues.socket, SOCK_DGRAM), one after the
-- other in one process, the same workload for each:
--
--   a sender and a receiver socket on 127.0.0.1; repeat for SECONDS:
--   send BURST datagrams of 64 bytes, then receive BURST and check each.
--
-- Each datagram is one send and one receive call; the receives find their
-- datagram already queued (loopback delivers during the send), so this
-- measures the per-call cost of each library. Ours runs in a task (as a
-- program would), cqueues in a coroutine on its controller, LuaSocket in
-- plain blocking calls.
--
-- usage: lua5.4 bench/udp.lua [seconds [burst]]
-- prints one line per library and the ratios.

local SECONDS = tonumber(arg[1] or "") or 2
local BURST = math.tointeger(tonumber(arg[2] or "")) or 32
local PAYLOAD = ("x"):rep(64)

local function now_fn()
  local loop = require "tls.loop"
  return loop.now
end
local now = now_fn()

local results = {}

local function report(name, n, t)
  results[name] = n / t
  print(("%-9s datagrams_per_sec=%.0f datagrams=%d seconds=%.2f burst=%d"):format(name, n / t, n, t, BURST))
end

-- ours
do
  local udp = require "tls.udp"
  local loop = require "tls.loop"
  local rx = assert(udp.bind("127.0.0.1", 0, { rcvbuf = 1048576 }))
  local tx = assert(udp.connect(rx:getsockname()))
  local n = 0
  local t0 = now()
  loop.spawn(function()
    while now() - t0 < SECONDS do
      for _ = 1, BURST do assert(tx:send(PAYLOAD)) end
      for _ = 1, BURST do
        local d = rx:recv(1)
        assert(d == PAYLOAD, "lost a datagram")
      end
      n = n + BURST
    end
  end):join()
  report("ours", n, now() - t0)
  rx:close(); tx:close()
end

-- LuaSocket
do
  local ok, socket = pcall(require, "socket")
  if ok then
    local rx = socket.udp()
    assert(rx:setsockname("127.0.0.1", 0))
    rx:settimeout(1)
    local ip, port = rx:getsockname()
    local tx = socket.udp()
    assert(tx:setpeername(ip, port))
    local n = 0
    local t0 = now()
    while now() - t0 < SECONDS do
      for _ = 1, BURST do assert(tx:send(PAYLOAD)) end
      for _ = 1, BURST do
        local d = rx:receive()
        assert(d == PAYLOAD, "lost a datagram")
      end
      n = n + BURST
    end
    report("luasocket", n, now() - t0)
    rx:close(); tx:close()
  else
    print("luasocket not installed (lua-socket)")
  end
end

-- cqueues
do
  local ok, cqueues = pcall(require, "cqueues")
  if ok then
    local socket = require "cqueues.socket"
    local port
    do -- a free UDP port for the receiver
      local udp = require "tls.udp"
      local s = assert(udp.bind("127.0.0.1", 0)); port = s:getsockname().port; s:close()
    end
    local cq = cqueues.new()
    local n, t0 = 0, nil
    cq:wrap(function()
      local rx = socket.listen { host = "127.0.0.1", port = port, type = socket.SOCK_DGRAM }
      assert(rx:listen())
      local tx = socket.connect { host = "127.0.0.1", port = port, type = socket.SOCK_DGRAM }
      assert(tx:connect())
      rx:setmode("bn", "bn"); tx:setmode("bn", "bn")
      t0 = now()
      while now() - t0 < SECONDS do
        for _ = 1, BURST do assert(tx:write(PAYLOAD)); assert(tx:flush()) end
        for _ = 1, BURST do
          local d = rx:read("*a")
          assert(d == PAYLOAD, "lost a datagram")
        end
        n = n + BURST
      end
      rx:close(); tx:close()
    end)
    assert(cq:loop())
    report("cqueues", n, now() - t0)
  else
    print("cqueues not installed (lua-cqueues)")
  end
end

local ours = results.ours
for _, other in ipairs { "luasocket", "cqueues" } do
  if results[other] then
    print(("ours / %s = %.2f"):format(other, ours / results[other]))
  end
end
