-- LuaSec + LuaSocket side of the TLS benchmarks (bench/tls.sh; the same
-- workloads as bench/tls_ours.lua, which describes them).
--
-- usage: lua5.4 bench/tls_luasec.lua WORKLOAD PORT CAFILE [N [READ]]
--
-- LuaSocket sockets block, so the handshake workloads run one connection
-- after another ("conc=1 mode=sequential"): Debian's lua-copas is 1.2.0,
-- for Lua 5.1/5.2 only and without TLS support, so there is nothing to
-- run 50 LuaSec handshakes at once with on Lua 5.4. The chain is verified
-- against CAFILE (verify = "peer"); LuaSec has no host name check, so
-- none is done (the others check "localhost"). SNI is sent.
--
-- resumed: LuaSec has no session resumption: "resumed_hs_s=n/a".
-- memory: N connections opened one after another and kept open.
--
-- Prints one line, e.g. "luasec full_hs_s=1234 n=2000 conc=1 ...".

local socket = require "socket"
local ssl = require "ssl"

local WORK, PORT, CAFILE = arg[1], math.tointeger(tonumber(arg[2] or "")), arg[3]
local N = math.tointeger(tonumber(arg[4] or ""))
local READ = math.tointeger(tonumber(arg[5] or "65536")) or 65536
if not (WORK and PORT and CAFILE) then
  io.stderr:write("usage: lua5.4 bench/tls_luasec.lua bulk|full|resumed|memory PORT CAFILE [N [READ]]\n")
  os.exit(2)
end

local common = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/tls_common.lua")("tls_luasec")
local REQ_BIG, REQ_HELLO = common.REQ_BIG, common.REQ_HELLO
local die, rss_kib = common.die, common.rss_kib

local function new_context()
  local ctx, err = ssl.newcontext {
    mode = "client",
    protocol = "any",
    verify = "peer",
    cafile = CAFILE,
    options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
  }
  if not ctx then
    die("context: ", tostring(err))
  end
  return ctx
end

local function connect(ctx)
  local tcp = socket.tcp()
  tcp:setoption("tcp-nodelay", true)
  local ok, err = tcp:connect("127.0.0.1", PORT)
  if not ok then
    die("connect: ", tostring(err))
  end
  local conn
  conn, err = ssl.wrap(tcp, ctx)
  if not conn then
    die("wrap: ", tostring(err))
  end
  conn:sni("localhost")
  ok, err = conn:dohandshake()
  if not ok then
    die("handshake: ", tostring(err))
  end
  return conn
end

local function get(conn, req, chunk)
  local ok, err = conn:send(req)
  if not ok then
    die("send: ", tostring(err))
  end
  local status
  status, err = conn:receive("*l")
  if not status then
    die("no status line: ", tostring(err))
  end
  if not status:match("^HTTP/1%.1 200") then
    die("unexpected status: ", status)
  end
  local len
  while true do
    local line = conn:receive("*l")
    if not line then
      die("response header cut off")
    end
    if line == "" then
      break
    end
    local v = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if v then
      len = tonumber(v)
    end
  end
  local body = 0
  if chunk == "a" then
    local data = conn:receive("*a")
    body = data and #data or 0
  else
    while true do
      local data, e, partial = conn:receive(chunk)
      if not data then
        body = body + #(partial or "")
        if e ~= "closed" then
          die("body after ", body, " bytes: ", tostring(e))
        end
        break
      end
      body = body + #data
    end
  end
  if len and body ~= len then
    die("body has ", body, " bytes, Content-Length says ", len)
  end
  return body
end

local function short_requests(ctx, total)
  local cpu0, t0 = os.clock(), socket.gettime()
  for _ = 1, total do
    local conn = connect(ctx)
    get(conn, REQ_HELLO, "a")
    conn:close()
  end
  return socket.gettime() - t0, (os.clock() - cpu0) * 1e3 / total
end

if WORK == "bulk" then
  local ctx = new_context()
  local conn = connect(ctx)
  local cipher = conn:info("cipher")
  local cpu0, t0 = os.clock(), socket.gettime()
  local bytes = get(conn, REQ_BIG, READ)
  conn:close()
  local secs, cpu = socket.gettime() - t0, os.clock() - cpu0
  if N and bytes ~= N then
    die("got ", bytes, " body bytes, expected ", N)
  end
  print(string.format("luasec bulk_mb_s=%.1f cpu_s_per_gb=%.3f bytes=%d seconds=%.3f cpu_s=%.3f read=%d cipher=%s",
    bytes / 1e6 / secs, cpu / (bytes / 1e9), bytes, secs, cpu, READ, tostring(cipher)))
elseif WORK == "full" then
  local total = N or 2000
  local secs, cpu_ms = short_requests(new_context(), total)
  print(string.format("luasec full_hs_s=%.0f cpu_ms=%.3f n=%d conc=1 mode=sequential seconds=%.3f",
    total / secs, cpu_ms, total, secs))
elseif WORK == "resumed" then
  print("luasec resumed_hs_s=n/a reason=luasec_has_no_session_resumption")
elseif WORK == "memory" then
  local total = N or 10000
  local ctx = new_context()
  local warm = {}
  for i = 1, 50 do
    warm[i] = connect(ctx)
  end
  for i = 1, #warm do
    warm[i]:close()
  end
  warm = nil
  collectgarbage("collect")
  collectgarbage("collect")
  local before = rss_kib()
  local conns = {}
  local t0 = socket.gettime()
  for i = 1, total do
    conns[i] = connect(ctx)
  end
  local secs = socket.gettime() - t0
  collectgarbage("collect")
  collectgarbage("collect")
  local after = rss_kib()
  print(string.format("luasec mem_kib_per_conn=%.1f conns=%d rss_before_kib=%d rss_after_kib=%d open_seconds=%.3f mode=sequential",
    (after - before) / total, total, before, after, secs))
  for i = 1, total do
    conns[i]:close()
  end
else
  die("unknown workload ", tostring(WORK))
end
