-- Our side of the TLS benchmarks (bench/tls.sh runs every peer against
-- the same nginx; see bench/README.md). Written against docs API.md only.
--
-- usage: lua5.4 bench/tls_ours.lua WORKLOAD PORT CAFILE [N [READ]]
--
--   bulk     GET /big over one connection (time and CPU from the end of
--            the handshake to the end of the body), body counted with
--            ios:read(READ) in a loop (READ: a byte count, default 65536,
--            or "b"); N, if given, is the size the body must have
--   full     N (2000) short requests, 50 tasks at a time, resumption off
--   resumed  the same with one shared tls.config (resumption on); a
--            warm-up batch of 50 is not timed
--   memory   N (10000) connections opened 50 at a time (full handshakes)
--            and kept open, idle; VmRSS delta / N
--
-- A "short request" is what one handshake costs in practice: connect,
-- handshake, GET /hello (Connection: close), read to the end, close. The
-- request also makes nginx send its TLS 1.3 session tickets, which the
-- next connection needs to resume.
--
-- Prints one line, e.g. "ours full_hs_s=1234 cpu_ms=0.4 n=2000 ...";
-- cpu_ms is this process's CPU time (os.clock) per short request.

local tls = require "tls"
local loop = require "tls.loop"

local WORK, PORT, CAFILE = arg[1], math.tointeger(tonumber(arg[2] or "")), arg[3]
local N = math.tointeger(tonumber(arg[4] or ""))
local READ = arg[5] or "65536"
READ = math.tointeger(tonumber(READ)) or READ
if not (WORK and PORT and CAFILE) then
  io.stderr:write("usage: lua5.4 bench/tls_ours.lua bulk|full|resumed|memory PORT CAFILE [N [READ]]\n")
  os.exit(2)
end

local ADDR = "127.0.0.1:" .. PORT
local CONC = 50
local common = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/tls_common.lua")("tls_ours")
local REQ_BIG, REQ_HELLO = common.REQ_BIG, common.REQ_HELLO
local die, rss_kib = common.die, common.rss_kib

local function connect(cfg)
  local ios, msg, code = tls.connecta(ADDR, "localhost", cfg)
  if not ios then
    die("connect ", ADDR, ": ", tostring(msg), " (", tostring(code), ")")
  end
  return ios
end

-- Sends req and reads the response to the end; returns the body size.
local function get(ios, req, chunk)
  local ok, msg, code = ios:write(req)
  if ok then
    ok, msg, code = ios:flush()
  end
  if not ok then
    die("write: ", tostring(msg), " (", tostring(code), ")")
  end
  local status
  status, msg, code = ios:read("l")
  if not status then
    die("no status line: ", tostring(msg), " (", tostring(code), ")")
  end
  if not status:match("^HTTP/1%.1 200") then
    die("unexpected status: ", status)
  end
  local len
  while true do
    local line = ios:read("l")
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
    -- Everything up to close_notify in one call ("" at a clean end).
    local data
    data, msg, code = ios:read("a")
    if not data then
      die("body: ", tostring(msg), " (", tostring(code), ")")
    end
    body = #data
  end
  while chunk ~= "a" do
    local data
    data, msg, code = ios:read(chunk)
    if not data then
      if msg then
        die("body after ", body, " bytes: ", tostring(msg), " (", tostring(code), ")")
      end
      break
    end
    body = body + #data
  end
  if len and body ~= len then
    die("body has ", body, " bytes, Content-Length says ", len)
  end
  return body
end

-- Runs `total` jobs on CONC tasks; job(i) is called for i = 1..total.
local function batch(total, job)
  local next_i = 0
  local function worker()
    while next_i < total do
      next_i = next_i + 1
      job(next_i)
    end
  end
  local tasks = {}
  for t = 1, math.min(CONC, total) do
    tasks[t] = loop.spawn(worker)
  end
  for t = 1, #tasks do
    local ok, err = tasks[t]:join()
    if not ok then
      die("task raised: ", tostring(err))
    end
  end
end

-- Short requests: returns seconds, and how many of the sampled
-- connections (every 10th; ios:info() builds a table with the peer's
-- chain, too costly for each) were resumed.
local function short_requests(cfg, total)
  local sampled, resumed = 0, 0
  local cpu0, t0 = os.clock(), loop.now()
  batch(total, function(i)
    local ios = connect(cfg)
    if i % 10 == 0 then
      sampled = sampled + 1
      if ios:info().resumed then
        resumed = resumed + 1
      end
    end
    get(ios, REQ_HELLO, "a")
    ios:close()
  end)
  return loop.now() - t0, sampled, resumed, (os.clock() - cpu0) * 1e3 / total
end

if WORK == "bulk" then
  local cfg = tls.config { cafile = CAFILE, resumption = false }
  local ios = connect(cfg)
  local cipher = ios:info().cipher
  local cpu0, t0 = os.clock(), loop.now()
  local bytes = get(ios, REQ_BIG, READ)
  ios:close()
  local secs, cpu = loop.now() - t0, os.clock() - cpu0
  if N and bytes ~= N then
    die("got ", bytes, " body bytes, expected ", N)
  end
  print(string.format("ours bulk_mb_s=%.1f cpu_s_per_gb=%.3f bytes=%d seconds=%.3f cpu_s=%.3f read=%s cipher=%s",
    bytes / 1e6 / secs, cpu / (bytes / 1e9), bytes, secs, cpu, tostring(READ), tostring(cipher)))
elseif WORK == "full" then
  local total = N or 2000
  local cfg = tls.config { cafile = CAFILE, resumption = false }
  local secs, sampled, resumed, cpu_ms = short_requests(cfg, total)
  print(string.format("ours full_hs_s=%.0f cpu_ms=%.3f n=%d conc=%d seconds=%.3f resumed_sampled=%d/%d",
    total / secs, cpu_ms, total, CONC, secs, resumed, sampled))
elseif WORK == "resumed" then
  local total = N or 2000
  local cfg = tls.config { cafile = CAFILE }
  short_requests(cfg, CONC)
  local secs, sampled, resumed, cpu_ms = short_requests(cfg, total)
  print(string.format("ours resumed_hs_s=%.0f cpu_ms=%.3f n=%d conc=%d seconds=%.3f resumed_sampled=%d/%d",
    total / secs, cpu_ms, total, CONC, secs, resumed, sampled))
elseif WORK == "memory" then
  local total = N or 10000
  local cfg = tls.config { cafile = CAFILE, resumption = false }
  -- Warm up (code pages, allocator arenas, the loop), then measure.
  local warm = {}
  batch(CONC, function(i) warm[i] = connect(cfg) end)
  for i = 1, #warm do
    warm[i]:close()
  end
  warm = nil
  collectgarbage("collect")
  collectgarbage("collect")
  local before = rss_kib()
  local conns = {}
  local t0 = loop.now()
  batch(total, function(i) conns[i] = connect(cfg) end)
  local secs = loop.now() - t0
  collectgarbage("collect")
  collectgarbage("collect")
  local after = rss_kib()
  if #conns ~= total then
    die("only ", #conns, " connections open")
  end
  print(string.format("ours mem_kib_per_conn=%.1f conns=%d rss_before_kib=%d rss_after_kib=%d open_seconds=%.3f",
    (after - before) / total, total, before, after, secs))
  for i = 1, total do
    conns[i]:close()
  end
else
  die("unknown workload ", tostring(WORK))
end
