#!/usr/bin/env lua
-- fetch: download URLs concurrently over http and https (HTTP/1.1).
--
--   lua examples/fetch.lua [options] URL...
--   lua examples/fetch.lua            # self-contained demo, no internet
--
-- Runs on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT.
--
-- Each URL n (1-based, in the order given) writes DIR/header/<n> (every
-- response head of the redirect chain, as received) and DIR/body/<n>.
-- A live progress line on a terminal, plain lines otherwise, and a summary
-- table at the end. Exit status 0 only if every fetch succeeded.
--
-- Written against the lua-tls API contract (tls, tls.tcp, tls.loop) and
-- the Lua modules tls.url, tls.http and tls.sha256.

local USAGE = [[
usage: fetch.lua [options] [URL...]

Fetches every URL concurrently (HTTP/1.1 over http or https), following
redirects, and writes DIR/header/<n> and DIR/body/<n> for the n-th URL.
With no URL it runs a self-contained demo: local HTTPS and HTTP servers
in this process, a set of files fetched over both and checked by SHA-256.

options:
  -c, --concurrency N    at most N fetches at once (default 8)
  -t, --timeout SECONDS  limit for connect + TLS handshake, and for each
                         read or write after it (default 30)
      --cafile FILE      trust the CA certificates in FILE (PEM) instead of
                         the bundled Mozilla roots
  -o, --output DIR       where header/ and body/ go (default ./fetch-output;
                         the demo uses a new temporary directory)
  -i, --input FILE       read more URLs from FILE, one per line ("-" for
                         standard input; blank lines and # comments skipped)
  -r, --max-redirects N  follow at most N redirects per URL (default 5)
      --insecure         DO NOT VERIFY server certificate chains (sets
                         insecure_no_verify_cert). Anyone on the path can then
                         read and change the transfers. For tests against
                         your own servers only.
      --demo             run the demo (the default when no URL is given)
  -h, --help             this text

A fetch fails on a bad URL, a DNS, connection, TLS or protocol error, a
timeout, a final HTTP status other than 2xx, too many redirects, or (demo)
a body whose SHA-256 differs; the others go on regardless.

exit status: 0 all fetches succeeded, 1 some failed, 2 usage error]]

-- Find the repository's lua/ directory from this script's own path, so
-- that the example runs from a checkout; installed modules work as well.
local HERE = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = HERE .. "/../lua/?.lua;" .. HERE .. "/../lua/?/init.lua;" .. package.path

local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local url = require "tls.url"
local http = require "tls.http"
local sha256 = require "tls.sha256"

local concat, format = table.concat, string.format

local USER_AGENT = "lua-tls-fetch/0.1"
local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

---------------------------------------------------------------------------
-- Small helpers

local function human_bytes(n)
  if n < 1024 then
    return format("%d B", n)
  elseif n < 1024 * 1024 then
    return format("%.1f KiB", n / 1024)
  elseif n < 1024 * 1024 * 1024 then
    return format("%.2f MiB", n / (1024 * 1024))
  end
  return format("%.2f GiB", n / (1024 * 1024 * 1024))
end

-- os.execute's success is true on Lua 5.2+ and 0 on Lua 5.1.
local function succeeded(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function mkdir_p(dir)
  if not succeeded("mkdir -p " .. shell_quote(dir)) then
    return nil, "cannot create directory " .. dir
  end
  return true
end

local function write_file(path, data)
  local f, err = io.open(path, "wb")
  if not f then
    return nil, err
  end
  local ok, werr = f:write(data)
  f:close()
  if not ok then
    return nil, werr
  end
  return true
end

-- Is standard output a terminal that can redraw a line?
local function stdout_is_terminal()
  local term = os.getenv("TERM")
  if not term or term == "" or term == "dumb" then
    return false
  end
  return succeeded("test -t 1")
end

local function stderr_is_terminal()
  local term = os.getenv("TERM")
  return term and term ~= "dumb" and succeeded("test -t 2")
end

---------------------------------------------------------------------------
-- Command line

local function parse_args(argv)
  local opts = {
    concurrency = 8,
    timeout = 30,
    max_redirects = 5,
    urls = {},
    inputs = {},
  }
  local i = 1
  local function value(name, inline)
    if inline then
      return inline
    end
    i = i + 1
    local v = argv[i]
    if v == nil then
      error({ usage = "option " .. name .. " needs a value" })
    end
    return v
  end
  local function number(name, v, min, integer)
    local n = tonumber(v)
    if not n or n ~= n or n < min or n == math.huge or (integer and n ~= math.floor(n)) then
      error({ usage = format("option %s: bad value %q", name, v) })
    end
    -- An integral float ("5.0") becomes an integer on Lua 5.3+, so that
    -- it prints as 5 wherever it is shown.
    return integer and (math.tointeger and math.tointeger(n) or n) or n
  end
  local ok, err = pcall(function()
    local only_urls = false
    while i <= #argv do
      local a = argv[i]
      local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      if only_urls or a == "-" or a:sub(1, 1) ~= "-" then
        opts.urls[#opts.urls + 1] = a
      elseif a == "--" then
        only_urls = true
      elseif name == "-h" or name == "--help" then
        opts.help = true
      elseif name == "-c" or name == "--concurrency" then
        opts.concurrency = number(name, value(name, inline), 1, true)
      elseif name == "-t" or name == "--timeout" then
        opts.timeout = number(name, value(name, inline), 0.001)
      elseif name == "--cafile" then
        opts.cafile = value(name, inline)
      elseif name == "-o" or name == "--output" then
        opts.output = value(name, inline)
      elseif name == "-i" or name == "--input" then
        opts.inputs[#opts.inputs + 1] = value(name, inline)
      elseif name == "-r" or name == "--max-redirects" then
        opts.max_redirects = number(name, value(name, inline), 0, true)
      elseif name == "--insecure" then
        opts.insecure = true
      elseif name == "--demo" then
        opts.demo = true
      else
        error({ usage = "unknown option " .. a })
      end
      i = i + 1
    end
  end)
  if not ok then
    if type(err) == "table" and err.usage then
      return nil, err.usage
    end
    error(err, 0)
  end
  for _, path in ipairs(opts.inputs) do
    local f, ferr
    if path == "-" then
      f = io.stdin
    else
      f, ferr = io.open(path, "r")
      if not f then
        return nil, "cannot read URL file: " .. ferr
      end
    end
    for line in f:lines() do
      line = line:match("^%s*(.-)%s*$")
      if line ~= "" and line:sub(1, 1) ~= "#" then
        opts.urls[#opts.urls + 1] = line
      end
    end
    if f ~= io.stdin then
      f:close()
    end
  end
  if #opts.urls == 0 then
    opts.demo = true
  elseif opts.demo then
    return nil, "--demo takes no URLs"
  end
  return opts
end

---------------------------------------------------------------------------
-- Progress: a live line on a terminal, one line per finished URL otherwise

local Progress = {}
Progress.__index = Progress

function Progress.new(total, live)
  return setmetatable({
    total = total, live = live, done = 0, failed = 0, active = 0,
    bytes = 0, t0 = loop.now(),
  }, Progress)
end

function Progress:status_line()
  local elapsed = loop.now() - self.t0
  local rate = elapsed > 0 and self.bytes / elapsed or 0
  local s = format("[%d/%d] %s  %s/s  %d running", self.done, self.total,
    human_bytes(self.bytes), human_bytes(math.floor(rate)), self.active)
  if self.failed > 0 then
    s = s .. format("  %d failed", self.failed)
  end
  return s
end

function Progress:draw()
  if self.live then
    io.stdout:write("\r\27[K", self:status_line())
    io.stdout:flush()
  end
end

local function describe_result(r)
  if r.ok then
    return format("%s %d  %s  %.3fs  %s", r.verified and "verified" or "ok",
      r.status, human_bytes(r.bytes), r.seconds, r.url)
  end
  return format("FAIL %s: %s  %s", r.code, tostring(r.msg):match("^[^\n]*"), r.url)
end

function Progress:finished(r)
  self.done = self.done + 1
  if not r.ok then
    self.failed = self.failed + 1
  end
  local width = #tostring(self.total)
  local line = format("[%" .. width .. "d/%d] %s", self.done, self.total, describe_result(r))
  if self.live then
    -- Failures are printed above the live line; successes only count.
    if not r.ok then
      io.stdout:write("\r\27[K", line, "\n")
    end
    self:draw()
  else
    io.stdout:write(line, "\n")
    io.stdout:flush()
  end
end

function Progress:close()
  if self.live then
    self:draw()
    io.stdout:write("\n")
    io.stdout:flush()
  end
end

---------------------------------------------------------------------------
-- Fetching one URL

-- Opens a connection for the parsed URL u.
local function connect(u, ctx)
  local port = u.port or url.default_port(u.scheme)
  if u.scheme == "https" then
    return tls.connect(u.host, port, ctx.tls_config)
  end
  return tcp.connect(u.host, port, ctx.tcp_opts)
end

-- One request and response on ios. A redirect comes back with its body
-- unread (resp.location set); any other response has its body written to
-- the job's body file.
local function converse(ios, u, ctx, job, r)
  if ctx.timeout then
    ios:settimeout(ctx.timeout)
  end
  if u.scheme == "https" then
    local info = ios:info()
    r.tls_version, r.resumed = info.version, info.resumed
  else
    r.tls_version, r.resumed = nil, nil
  end

  local ok
  ok, msg, code = http.write_request(ios, "GET", u, ctx.request_headers)
  if not ok then
    return nil, msg, code
  end
  local resp
  resp, msg, code = http.read_response(ios, "GET")
  if not resp then
    return nil, msg, code
  end
  r.heads[#r.heads + 1] = resp.raw
  r.status, r.reason = resp.status, resp.reason

  if REDIRECT[resp.status] and resp.headers.location then
    resp.location = resp.headers.location
    return resp
  end

  local f, ferr = io.open(job.body_path, "wb")
  if not f then
    return nil, ferr, "io"
  end
  local hasher = job.expect and sha256.new()
  local next_chunk = http.body_reader(ios, resp, "GET")
  r.bytes = 0
  while true do
    local s, bmsg, bcode = next_chunk()
    if not s then
      if bmsg then
        f:close()
        return nil, bmsg, bcode
      end
      break
    end
    local wok, werr = f:write(s)
    if not wok then
      f:close()
      return nil, werr, "io"
    end
    if hasher then
      hasher:update(s)
    end
    r.bytes = r.bytes + #s
    ctx.progress.bytes = ctx.progress.bytes + #s
  end
  local cok, cerr = f:close()
  if not cok then
    return nil, cerr, "io"
  end
  if resp.raw_trailers and #resp.raw_trailers > 0 then
    r.heads[#r.heads + 1] = concat(resp.raw_trailers, "\r\n") .. "\r\n\r\n"
  end
  if hasher then
    r.sha256 = hasher:hexdigest()
  end
  return resp
end

-- One exchange on a fresh connection, closed on every way out. (A
-- to-be-closed variable would also cover an error raised inside, but that
-- is Lua 5.4 only; such an error is a bug here, reported for its URL, and
-- the stream is then closed when it is collected.)
local function exchange(u, ctx, job, r)
  local ios, msg, code = connect(u, ctx)
  if not ios then
    return nil, msg, code or "connect"
  end
  local resp
  resp, msg, code = converse(ios, u, ctx, job, r)
  ios:close()
  return resp, msg, code
end

-- Fetches job.url, following redirects. Always returns a result table:
--   ok, code, msg, status, reason, bytes, seconds, tls_version, resumed,
--   redirects, final_url, sha256, verified
local function fetch(job, ctx)
  local r = { n = job.n, url = job.url, bytes = 0, redirects = 0, heads = {} }
  local t0 = loop.now()
  local function finish(ok, code, msg)
    r.ok, r.code, r.msg = ok, code, msg
    r.seconds = loop.now() - t0
    if #r.heads > 0 then
      local wok, werr = write_file(job.header_path, concat(r.heads))
      if not wok and ok then
        r.ok, r.code, r.msg = false, "io", werr
      end
    end
    return r
  end

  local current = job.url
  local u, msg = url.parse(current)
  if not u then
    return finish(false, "url", msg)
  end
  while true do
    if u.scheme ~= "http" and u.scheme ~= "https" then
      return finish(false, "url", format("unsupported scheme %q in %s", u.scheme, current))
    end
    local resp, emsg, ecode = exchange(u, ctx, job, r)
    if not resp then
      return finish(false, ecode or "error", emsg)
    end
    if not resp.location then
      break
    end
    if r.redirects >= ctx.max_redirects then
      return finish(false, "redirects", format("more than %d redirects (last to %s)",
        ctx.max_redirects, resp.location))
    end
    r.redirects = r.redirects + 1
    -- Some servers put raw spaces in Location; browsers encode them.
    local location = resp.location:gsub(" ", "%%20")
    local nexturl, rmsg = url.resolve(current, location)
    if not nexturl then
      return finish(false, "url", rmsg)
    end
    u, rmsg = url.parse(nexturl)
    if not u then
      return finish(false, "url", "bad redirect Location " .. resp.location .. ": " .. rmsg)
    end
    u.fragment = nil
    current = nexturl
  end
  r.final_url = current

  if r.status < 200 or r.status > 299 then
    return finish(false, "http", format("HTTP %d %s", r.status, r.reason))
  end
  if job.expect then
    if r.bytes ~= job.expect.size then
      return finish(false, "verify", format("got %d bytes, expected %d", r.bytes, job.expect.size))
    end
    if r.sha256 ~= job.expect.sha256 then
      return finish(false, "verify", format("SHA-256 %s, expected %s", r.sha256, job.expect.sha256))
    end
    r.verified = true
  end
  return finish(true)
end

---------------------------------------------------------------------------
-- Running all jobs: N workers take URLs from a shared list

local function run_jobs(jobs, ctx)
  local progress = ctx.progress
  local next_job = 1
  local results = {}

  local function worker()
    while next_job <= #jobs do
      -- No yield between the test and the increment: tasks are coroutines
      -- on one thread, so no other worker can take the same job.
      local job = jobs[next_job]
      next_job = next_job + 1
      progress.active = progress.active + 1
      -- Each fetch is a task of its own so that a bug in it ends only that
      -- fetch, with a traceback (a pcall would do on Lua 5.2+, but Lua 5.1
      -- cannot yield across one).
      local ok, r = loop.spawn(fetch, job, ctx):join()
      if not ok then
        -- A bug in this program: report it for this URL, go on with the rest.
        io.stderr:write("fetch: internal error on ", job.url, ": ", tostring(r), "\n")
        r = { n = job.n, url = job.url, ok = false, code = "internal", msg = tostring(r),
          bytes = 0, seconds = 0, redirects = 0 }
      end
      progress.active = progress.active - 1
      results[job.n] = r
      progress:finished(r)
    end
  end

  local finished = false
  local ticker
  if progress.live then
    ticker = loop.spawn(function()
      while not finished do
        progress:draw()
        loop.sleep(0.1)
      end
    end)
  end

  local workers = {}
  for w = 1, math.min(ctx.concurrency, #jobs) do
    workers[w] = loop.spawn(worker)
  end
  -- join() from the main thread runs the loop (blocking mode) until that
  -- task has finished; the others progress meanwhile.
  for _, task in ipairs(workers) do
    local ok, err = task:join()
    if not ok then
      io.stderr:write("fetch: worker failed: ", tostring(err), "\n")
    end
  end
  finished = true
  if ticker then
    ticker:join()
  end
  progress:close()
  -- A worker that died left its jobs without a result.
  for _, job in ipairs(jobs) do
    if not results[job.n] then
      results[job.n] = { n = job.n, url = job.url, ok = false, code = "internal",
        msg = "not fetched", bytes = 0, seconds = 0, redirects = 0 }
    end
  end
  return results
end

---------------------------------------------------------------------------
-- Summary

local function shorten(s, max)
  if #s <= max then
    return s
  end
  local keep = max - 3
  local tail = math.floor(keep / 2)
  return s:sub(1, keep - tail) .. "..." .. s:sub(-tail)
end

local function print_summary(results, ctx)
  local rows = {
    { "#", "URL", "status", "bytes", "time", "TLS", "resumed", "result" },
  }
  local failed, bytes = 0, 0
  for n = 1, #results do
    local r = results[n]
    bytes = bytes + (r.bytes or 0)
    local result
    if r.ok then
      result = r.verified and "verified" or "ok"
    else
      failed = failed + 1
      result = r.code .. ": " .. tostring(r.msg):gsub("\n.*", "")
    end
    if r.redirects > 0 then
      result = format("%s (%d redirect%s)", result, r.redirects, r.redirects == 1 and "" or "s")
    end
    local resumed = "-"
    if r.tls_version then
      resumed = r.resumed and "yes" or "no"
    end
    rows[#rows + 1] = {
      tostring(n), shorten(r.url, 56), r.status and tostring(r.status) or "-",
      human_bytes(r.bytes or 0), format("%.3fs", r.seconds or 0),
      r.tls_version or "-", resumed, result,
    }
  end
  local widths = {}
  for _, row in ipairs(rows) do
    for c = 1, #row - 1 do
      widths[c] = math.max(widths[c] or 0, #row[c])
    end
  end
  local right = { [1] = true, [3] = true, [4] = true, [5] = true }
  print()
  for _, row in ipairs(rows) do
    local cells = {}
    for c = 1, #row - 1 do
      local fmt = right[c] and "%" .. widths[c] .. "s" or "%-" .. widths[c] .. "s"
      cells[c] = format(fmt, row[c])
    end
    cells[#row] = row[#row]
    print(concat(cells, "  "))
  end

  local elapsed = loop.now() - ctx.progress.t0
  local total = #results
  local color = ctx.color
  local green, red, reset = color and "\27[1;32m" or "", color and "\27[1;31m" or "", color and "\27[0m" or ""
  print()
  print(format("%s in %.2fs (%s/s)", human_bytes(bytes), elapsed,
    human_bytes(math.floor(elapsed > 0 and bytes / elapsed or 0))))
  if failed == 0 then
    print(format("%sall %d fetches %s%s", green, total, ctx.demo and "verified" or "succeeded", reset))
  else
    print(format("%s%d of %d fetches failed%s", red, failed, total, reset))
  end
  return failed == 0
end

---------------------------------------------------------------------------
-- The demo: local servers and files

-- BEGIN DEMO CERTS (written by examples/certs/make.sh; TEST ONLY, never trust)
local DEMO_PEM = {
  ca = [[
-----BEGIN CERTIFICATE-----
MIIBuzCCAWKgAwIBAgIUaTkDOeFGkj5/3aovUrqGoG++P94wCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwwebHVhLXRscyBleGFtcGxlIENBIChURVNUIE9OTFkpMCAXDTI2
MTEyNjA0MjAxM1oYDzIxMjYxMTAyMDQyMDEzWjApMScwJQYDVQQDDB5sdWEtdGxz
IGV4YW1wbGUgQ0EgKFRFU1QgT05MWSkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AATgvF9nDvREy7gMZs9HvgZSFThjqIMURpHSeuWuEXvnAiykCCZXJsKyx8MWlEiS
xuxdPySRypKU481DnMqUhk6go2YwZDAfBgNVHSMEGDAWgBSttHm9jS4HsLcQNakw
GgQlZNUw1DASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAdBgNV
HQ4EFgQUrbR5vY0uB7C3EDWpMBoEJWTVMNQwCgYIKoZIzj0EAwIDRwAwRAIgFRPH
R/2y8MaXJaROGu0hSJkRIvPicCfGN60qfvpzt4QCIGdgHf1d76oj+0rJ9JSY92Xb
i8n6MRWSsCCnIh1oy5rU
-----END CERTIFICATE-----
]],
  cert = [[
-----BEGIN CERTIFICATE-----
MIIB5zCCAYygAwIBAgIUIXoIsAmykUyAZpiJgEgKNimYiaQwCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwwebHVhLXRscyBleGFtcGxlIENBIChURVNUIE9OTFkpMCAXDTI2
MTEyNjA0MjAxM1oYDzIxMjYxMTAyMDQyMDEzWjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR2+pP1XZ2XVuPSYdA/qOBmrKDR
Q69MvdbUWV8NdoLdf7EQlkUsCgMob8PPiqFEOhSnOXQsT2M6uOZOqQ9F68QUo4Gk
MIGhMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsG
AQUFBwMBMCwGA1UdEQQlMCOCCWxvY2FsaG9zdIcEfwAAAYcQAAAAAAAAAAAAAAAA
AAAAATAdBgNVHQ4EFgQUAxdR61D8HZDxZirvSAqybvUJtbcwHwYDVR0jBBgwFoAU
rbR5vY0uB7C3EDWpMBoEJWTVMNQwCgYIKoZIzj0EAwIDSQAwRgIhALrbSi1C+Tal
3xZJBKmfDxd8dCrif08q+hOoMAVllww1AiEAu8v/cECUqGYPfZfSFa1viA/f+tWK
i8eyMzj0enAmPgU=
-----END CERTIFICATE-----
]],
  key = [[
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgl3pt2yu1VaevYhkr
DDBif5CdtMuKN69s6sDEfTubh9OhRANCAAR2+pP1XZ2XVuPSYdA/qOBmrKDRQ69M
vdbUWV8NdoLdf7EQlkUsCgMob8PPiqFEOhSnOXQsT2M6uOZOqQ9F68QU
-----END PRIVATE KEY-----
]],
}
-- END DEMO CERTS

-- The demo's CA and server certificate: the files in examples/certs when
-- they are there (a checkout), else the copy above (an installed command).
local function demo_tls_material()
  local dir = HERE .. "/certs"
  local f = io.open(dir .. "/ca.pem", "r")
  if f then
    f:close()
    return { cafile = dir .. "/ca.pem" },
      { cert = dir .. "/localhost.pem", key = dir .. "/localhost.key" }
  end
  return { ca = DEMO_PEM.ca }, { cert = DEMO_PEM.cert, key = DEMO_PEM.key }
end

local BLOCK = 65536

-- Deterministic content: 64 KiB from a 32-bit linear congruential
-- generator (exact in doubles, so every Lua version makes the same bytes),
-- each 64 KiB block of a file starting with its block number so that a
-- misplaced block shows.
local function pseudo_random_block(seed)
  local x = seed % 4294967296
  local char, floor = string.char, math.floor
  local words = {}
  for i = 1, BLOCK / 4 do
    x = (x * 1664525 + 1013904223) % 4294967296
    words[i] = char(floor(x / 16777216), floor(x / 65536) % 256, floor(x / 256) % 256, x % 256)
  end
  return concat(words)
end

-- Every file is hashed once by the server and at each fetch by the client
-- (tls.sha256, in tls.so: the same files on every Lua version).
local KiB = 1024
local MEDIUM, LARGE = { name = "1m", size = 1024 * KiB }, { name = "8m", size = 8192 * KiB }
local DEMO_FILES = {
  { name = "empty", size = 0 },
  { name = "1k", size = 1024 },
  { name = "64k", size = 64 * 1024 },
  MEDIUM,
  LARGE,
}

local function make_demo_files()
  local base = pseudo_random_block(20240607)
  local files = {}
  for _, spec in ipairs(DEMO_FILES) do
    local blocks = {}
    for b = 0, math.floor((spec.size - 1) / BLOCK) do
      blocks[#blocks + 1] = string.char(0, 0, math.floor(b / 256), b % 256) .. base:sub(5)
    end
    local data = concat(blocks):sub(1, spec.size)
    files[spec.name] = { name = spec.name, size = spec.size, data = data, sha256 = sha256.hex(data) }
  end
  return files
end

local CHUNK_SIZES = { 1, 1000, 4096, 65536, 33333 }

-- Serves one request on ios and closes it:
--   /files/NAME     Content-Length
--   /chunked/NAME   chunked, uneven chunks, SHA-256 in a trailer
--   /close/NAME     no length: the end of the connection ends the body
--   /redirect/PATH  302 to /PATH (a relative Location)
--   /to-https/PATH  301 to the https server's /PATH (an absolute Location)
local function serve(ios, site)
  ios:settimeout(30)
  local req = http.read_request(ios)
  if not req then
    ios:close()
    return
  end
  local function send(...)
    return ios:write(...) ~= nil
  end
  local kind, rest = req.target:match("^/([%w-]+)/(.*)$")
  local file = rest and site.files[rest]
  local base_headers = {
    { "Server", "lua-tls-fetch-demo" },
    { "Content-Type", "application/octet-stream" },
    { "Connection", "close" },
  }
  local function head(status, extra)
    local h = {}
    for _, f in ipairs(base_headers) do
      h[#h + 1] = f
    end
    for _, f in ipairs(extra or {}) do
      h[#h + 1] = f
    end
    return http.response_head(status, h)
  end

  if req.method ~= "GET" then
    send(head(405, { { "Content-Length", 0 } }))
  elseif (kind == "files" or kind == "close") and file then
    local extra = kind == "files" and { { "Content-Length", file.size } } or nil
    if send(head(200, extra)) then
      for i = 1, file.size, BLOCK do
        if not send(file.data:sub(i, i + BLOCK - 1)) then
          break
        end
      end
    end
  elseif kind == "chunked" and file then
    if send(head(200, { { "Transfer-Encoding", "chunked" }, { "Trailer", "X-Content-SHA256" } })) then
      local i, k = 1, 0
      while i <= file.size do
        k = k % #CHUNK_SIZES + 1
        local piece = file.data:sub(i, i + CHUNK_SIZES[k] - 1)
        if not send(http.chunk(piece)) then
          break
        end
        i = i + #piece
      end
      send(http.last_chunk { { "X-Content-SHA256", file.sha256 } })
    end
  elseif kind == "redirect" then
    send(head(302, { { "Location", "/" .. rest }, { "Content-Length", 0 } }))
  elseif kind == "to-https" and site.https_base then
    send(head(301, { { "Location", site.https_base .. "/" .. rest }, { "Content-Length", 0 } }))
  else
    local body = "not found\n"
    send(head(404, { { "Content-Length", #body } }), body)
  end
  ios:flush()
  ios:close()
end

-- Starts the demo servers; returns the servers and the base URLs by name.
local function start_servers(site, server_tls)
  local handler = function(ios)
    serve(ios, site)
  end
  local servers, bases = {}, {}
  local function start(name, scheme, host)
    local srv, msg
    if scheme == "https" then
      srv, msg = tls.listen(host, 0, handler, server_tls)
    else
      srv, msg = tcp.listen(host, 0, handler)
    end
    if srv then
      servers[#servers + 1] = srv
      local h = host:find(":", 1, true) and "[" .. host .. "]" or host
      bases[name] = format("%s://%s:%d", scheme, h, srv:address().port)
    end
    return srv, msg
  end
  assert(start("http4", "http", "127.0.0.1"))
  assert(start("https4", "https", "127.0.0.1"))
  -- IPv6 loopback may be missing (containers): then IPv4 only, silently.
  if start("http6", "http", "::1") then
    start("https6", "https", "::1")
  end
  return servers, bases
end

local function demo_jobs(bases, files)
  local jobs = {}
  local function add(base, path, name)
    jobs[#jobs + 1] = { url = base .. path, expect = assert(files[name]) }
  end
  local families = { "4" }
  if bases.http6 and bases.https6 then
    families[2] = "6"
  end
  -- Interleave schemes and families so that every batch mixes them.
  local per_base = {
    { "/files/empty", "empty" },
    { "/files/1k", "1k" },
    { "/chunked/64k", "64k" },
    { "/close/" .. MEDIUM.name, MEDIUM.name },
    { "/redirect/files/64k", "64k" },
  }
  for _, item in ipairs(per_base) do
    for _, fam in ipairs(families) do
      for _, scheme in ipairs { "https", "http" } do
        add(bases[scheme .. fam], item[1], item[2])
      end
    end
  end
  local last = families[#families]
  add(bases.http4, "/files/" .. LARGE.name, LARGE.name)
  add(bases["https" .. last], "/chunked/" .. LARGE.name, LARGE.name)
  add(bases.http4, "/to-https/files/1k", "1k")
  return jobs
end

---------------------------------------------------------------------------
-- Main

local function temp_dir()
  local path = os.tmpname()
  os.remove(path)
  local ok, err = mkdir_p(path)
  if not ok then
    return nil, err
  end
  return path
end

local function main(argv)
  local opts, err = parse_args(argv)
  if not opts then
    io.stderr:write("fetch: ", err, "\n", "try 'fetch.lua --help'\n")
    return 2
  end
  if opts.help then
    print(USAGE)
    return 0
  end

  if opts.insecure then
    local on, off = "", ""
    if stderr_is_terminal() then
      on, off = "\27[1;31m", "\27[0m"
    end
    io.stderr:write(on, [[
*** WARNING: --insecure: server certificates are NOT verified. ***
*** Anyone between you and the servers can read and change these transfers. ***
]], off)
  end

  local live = stdout_is_terminal()
  local ctx = {
    concurrency = opts.concurrency,
    timeout = opts.timeout,
    max_redirects = opts.max_redirects,
    color = live,
    demo = opts.demo,
    tcp_opts = { timeout = opts.timeout },
    request_headers = {
      { "User-Agent", USER_AGENT },
      { "Accept", "*/*" },
      { "Accept-Encoding", "identity" },
      { "Connection", "close" },
    },
  }

  local tls_opts = { timeout = opts.timeout }
  if opts.insecure then
    tls_opts.insecure_no_verify_cert = true
  end

  local jobs, servers = {}, {}
  local site
  if opts.demo then
    -- The demo trusts its own test CA, never anything insecure by itself.
    local client_tls, server_tls = demo_tls_material()
    tls_opts.cafile, tls_opts.ca = client_tls.cafile, client_tls.ca
    site = { files = make_demo_files() }
    local bases
    servers, bases = start_servers(site, server_tls)
    site.https_base = bases.https4
    jobs = demo_jobs(bases, site.files)
    local list = {}
    for _, name in ipairs { "http4", "https4", "http6", "https6" } do
      if bases[name] then
        list[#list + 1] = bases[name]
      end
    end
    print(format("demo: serving %d files (0 B to %s) on %s", #DEMO_FILES,
      human_bytes(DEMO_FILES[#DEMO_FILES].size), concat(list, ", ")))
    if not bases.http6 then
      print("demo: no IPv6 loopback here, IPv4 only")
    end
  else
    if opts.cafile then
      tls_opts.cafile = opts.cafile
    end
    for n, u in ipairs(opts.urls) do
      jobs[n] = { url = u }
    end
  end

  -- One configuration for every https fetch, so that sessions resume.
  ctx.tls_config = tls.config(tls_opts)

  local out = opts.output
  if not out then
    if opts.demo then
      local terr
      out, terr = temp_dir()
      if not out then
        io.stderr:write("fetch: ", terr, "\n")
        return 1
      end
    else
      out = "fetch-output"
    end
  end
  for _, sub in ipairs { "/header", "/body" } do
    local ok, merr = mkdir_p(out .. sub)
    if not ok then
      io.stderr:write("fetch: ", merr, "\n")
      return 1
    end
  end
  for n, job in ipairs(jobs) do
    job.n = n
    job.header_path = format("%s/header/%d", out, n)
    job.body_path = format("%s/body/%d", out, n)
  end
  print(format("fetching %d URL%s, %d at a time, into %s", #jobs, #jobs == 1 and "" or "s",
    math.min(ctx.concurrency, #jobs), out))

  ctx.progress = Progress.new(#jobs, live)
  local results = run_jobs(jobs, ctx)
  for _, srv in ipairs(servers) do
    srv:close()
  end
  local all_ok = print_summary(results, ctx)
  return all_ok and 0 or 1
end

os.exit(main(arg))
