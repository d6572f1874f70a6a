-- cqueues + luaossl side of the TLS benchmarks (bench/tls.sh; the same
-- workloads as bench/tls_ours.lua, which describes them).
--
-- usage: lua5.4 bench/tls_cqueues.lua WORKLOAD PORT CAFILE [N [READ]]
--
-- Verification is on as on our side: the chain against CAFILE
-- (VERIFY_PEER) and the host name "localhost" (an X509_VERIFY_PARAM host),
-- SNI sent. Sockets in binary mode with full output buffering, Nagle off.
--
-- resumed: luaossl (Debian's 20220711) has no ssl:getSession/setSession,
-- and OpenSSL resumes a client session only when the application hands
-- it one, so cqueues+luaossl cannot resume: "resumed_hs_s=n/a".
--
-- Prints one line, e.g. "cqueues full_hs_s=1234 n=2000 conc=50 ...".

local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local context = require "openssl.ssl.context"
local openssl_ssl = require "openssl.ssl"
local x509_store = require "openssl.x509.store"
local verify_param = require "openssl.x509.verify_param"

local WORK, PORT, CAFILE = arg[1], math.tointeger(tonumber(arg[2] or "")), arg[3]
local N = math.tointeger(tonumber(arg[4] or ""))
local READ = math.tointeger(tonumber(arg[5] or "65536")) or 65536
if not (WORK and PORT and CAFILE) then
  io.stderr:write("usage: lua5.4 bench/tls_cqueues.lua bulk|full|resumed|memory PORT CAFILE [N [READ]]\n")
  os.exit(2)
end

local CONC = 50
local common = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/tls_common.lua")("tls_cqueues")
local REQ_BIG, REQ_HELLO = common.REQ_BIG, common.REQ_HELLO
local die, rss_kib = common.die, common.rss_kib

local function new_context()
  local ctx = context.new("TLS", false)
  ctx:setVerify(context.VERIFY_PEER)
  local store = x509_store.new()
  store:add(CAFILE)
  ctx:setStore(store)
  local param = verify_param.new()
  param:setHost("localhost")
  ctx:setParam(param)
  return ctx
end

local function connect(ctx)
  local con, err = socket.connect { host = "127.0.0.1", port = PORT, nodelay = true }
  if not con then
    die("connect: ", tostring(err))
  end
  con:setmode("b", "bf")
  local ssl = openssl_ssl.new(ctx)
  ssl:setHostName("localhost")
  local ok, why = con:starttls(ssl)
  if not ok then
    die("handshake: ", tostring(why))
  end
  return con
end

local function get(con, req, chunk)
  local ok, err = con:write(req)
  if ok then
    ok, err = con:flush()
  end
  if not ok then
    die("write: ", tostring(err))
  end
  local status = con:read("*l")
  if not status then
    die("no status line")
  end
  if not status:match("^HTTP/1%.1 200") then
    die("unexpected status: ", status)
  end
  local len
  while true do
    local line = con:read("*l")
    if not line then
      die("response header cut off")
    end
    if line == "\r" or line == "" then
      break
    end
    local v = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if v then
      len = tonumber(v)
    end
  end
  local body = 0
  if chunk == "a" then
    local data = con:read("*a")
    body = data and #data or 0
  else
    while true do
      local data = con:read(chunk)
      if not data then
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

-- Runs `total` jobs on CONC coroutines; job(i) for i = 1..total.
local function batch(total, job)
  local cq = cqueues.new()
  local next_i = 0
  for _ = 1, math.min(CONC, total) do
    cq:wrap(function()
      while next_i < total do
        next_i = next_i + 1
        job(next_i)
      end
    end)
  end
  local ok, err = cq:loop()
  if not ok then
    die("loop: ", tostring(err))
  end
end

local function short_requests(ctx, total)
  local cpu0, t0 = os.clock(), cqueues.monotime()
  batch(total, function()
    local con = connect(ctx)
    get(con, REQ_HELLO, "a")
    con:close()
  end)
  return cqueues.monotime() - t0, (os.clock() - cpu0) * 1e3 / total
end

if WORK == "bulk" then
  local ctx = new_context()
  local cpu0, t0
  local bytes, cipher
  batch(1, function()
    local con = connect(ctx)
    cipher = con:checktls():getCipherInfo().name
    cpu0, t0 = os.clock(), cqueues.monotime()
    bytes = get(con, REQ_BIG, READ)
    con:close()
  end)
  local secs, cpu = cqueues.monotime() - t0, os.clock() - cpu0
  if N and bytes ~= N then
    die("got ", bytes, " body bytes, expected ", N)
  end
  print(string.format("cqueues bulk_mb_s=%.1f cpu_s_per_gb=%.3f bytes=%d seconds=%.3f cpu_s=%.3f read=%d cipher=%s",
    bytes / 1e6 / secs, cpu / (bytes / 1e9), bytes, secs, cpu, READ, cipher))
elseif WORK == "full" then
  local total = N or 2000
  local secs, cpu_ms = short_requests(new_context(), total)
  print(string.format("cqueues full_hs_s=%.0f cpu_ms=%.3f n=%d conc=%d seconds=%.3f",
    total / secs, cpu_ms, total, CONC, secs))
elseif WORK == "resumed" then
  print("cqueues resumed_hs_s=n/a reason=luaossl_has_no_session_api")
elseif WORK == "memory" then
  local total = N or 10000
  local ctx = new_context()
  local warm = {}
  batch(CONC, function(i) warm[i] = connect(ctx) end)
  for i = 1, #warm do
    warm[i]:close()
  end
  warm = nil
  collectgarbage("collect")
  collectgarbage("collect")
  local before = rss_kib()
  local conns = {}
  local t0 = cqueues.monotime()
  batch(total, function(i) conns[i] = connect(ctx) end)
  local secs = cqueues.monotime() - t0
  collectgarbage("collect")
  collectgarbage("collect")
  local after = rss_kib()
  if #conns ~= total then
    die("only ", #conns, " connections open")
  end
  print(string.format("cqueues mem_kib_per_conn=%.1f conns=%d rss_before_kib=%d rss_after_kib=%d open_seconds=%.3f",
    (after - before) / total, total, before, after, secs))
  for i = 1, total do
    conns[i]:close()
  end
else
  die("unknown workload ", tostring(WORK))
end
