-- Shared by the TLS specs (tls_spec.lua, tls_interop_spec.lua): the test
-- certificates, our own TLS servers, background commands that run while
-- the loop goes on, and assertions on `nil, message, code` failures.
local loop = require "tls.loop"
local tls = require "tls"
local helper = require "helper"
local assert = require "luassert"

local S = {}

-- Absolute, for peers (nginx) that resolve paths against their own prefix.
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("cd " .. ("%q"):format(path) .. " && pwd")
  local abs = p:read("*l")
  p:close()
  return assert(abs, "cannot resolve " .. path)
end

S.root = absolute(helper.root)
S.dir = S.root .. "/spec/certs/"

local generated = false
--- Makes (or keeps) the certificate matrix; returns its directory with a
-- trailing slash. Call it from a spec's setup.
function S.certs()
  if not generated then
    local cmd = ("sh %q %q"):format(S.root .. "/scripts/gen-certs.sh", S.dir)
    assert(os.execute(cmd), "scripts/gen-certs.sh failed")
    generated = true
  end
  return S.dir
end

function S.pem(name) return S.dir .. name .. ".pem" end
function S.key(name) return S.dir .. name .. ".key" end

function S.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function S.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- A copy of table `a` with the keys of `b` on top.
function S.with(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

--- Client options trusting the test CA, plus `extra`.
function S.trust(extra)
  return S.with({ cafile = S.pem("ca") }, extra)
end

--- Server options for certificate `name` (default "server"), plus `extra`.
function S.server_opts(name, extra)
  name = name or "server"
  return S.with({ cert = S.pem(name), key = S.key(name) }, extra)
end

--- A handler that echoes whatever arrives until the peer's end of stream.
function S.echo(ios)
  while true do
    local data = ios:read("b")
    if not data then return end
    if not ios:write(data) then return end
  end
end

-- Servers started by S.serve, closed by S.cleanup.
local servers = {}

--- Our TLS server on 127.0.0.1 (port 0); returns the server and its
-- address text "127.0.0.1:port".
function S.serve(opts, handler, host)
  local srv = assert(tls.listen(host or "127.0.0.1", 0, handler or S.echo, opts))
  servers[#servers + 1] = srv
  local port = srv:address().port
  local text = (host and host:find(":")) and ("[" .. host .. "]:" .. port) or ((host or "127.0.0.1") .. ":" .. port)
  return srv, text, port
end

--- Closes every server S.serve started and lets their tasks finish.
function S.cleanup()
  for i = #servers, 1, -1 do
    servers[i]:close()
    servers[i] = nil
  end
  helper.drain(2)
end

--- helper.bounded, with the failure message kept: the loop reports a
-- table error value (busted's assertion failures) as just "table".
function S.bounded(seconds, f, ...)
  -- Lua 5.1 cannot yield across xpcall: f runs as the task itself there.
  if not helper.yields_across_pcall then return helper.bounded(seconds, f, ...) end
  local args = helper.pack(...)
  return helper.bounded(seconds, function()
    local r = helper.pack(xpcall(f, function(e)
      return debug.traceback(type(e) == "table" and tostring(e) or e, 2)
    end, helper.unpack(args, 1, args.n)))
    if not r[1] then error(r[2], 0) end
    return helper.unpack(r, 2, r.n)
  end)
end

--- `nil, msg, code` as a table, so one assert can look at all three.
function S.result(...)
  return helper.pack(...)
end

--- Asserts that the results are a failure `nil, msg, code` with this code
-- and with each of `words` somewhere in the message; returns the message.
function S.fails(code, words, ...)
  local r = helper.pack(...)
  assert(r[1] == nil, ("expected a failure (%s), got %s %s"):format(code, tostring(r[1]), tostring(r[2])))
  assert.is_string(r[2])
  assert.equal(code, r[3], "message was: " .. tostring(r[2]))
  for _, w in ipairs(words or {}) do
    assert(r[2]:find(w, 1, true), ("message %q lacks %q"):format(r[2], w))
  end
  return r[2]
end

--- Raises unless f(...) raises an error whose text contains `text`.
function S.raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error mentioning " .. text)
  assert(tostring(err):find(text, 1, true), ("error %q lacks %q"):format(tostring(err), text))
end

--- Single-quotes a string for sh.
function S.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Runs a shell command in the background while the loop goes on (from a
-- task or the main thread), killed after `seconds` (default 20). `input`
-- is its standard input. Returns exit code, stdout, stderr.
function S.run(cmd, seconds, input)
  seconds = seconds or 20
  local base = os.tmpname()
  S.write(base .. ".in", input or "")
  local script = ("timeout -k 1 %d sh -c %s <%s >%s 2>%s; echo $? >%s && mv %s %s")
    :format(math.ceil(seconds), S.q(cmd), base .. ".in", base .. ".out", base .. ".err",
            base .. ".tmp", base .. ".tmp", base .. ".rc")
  local p = helper.process(script, base .. ".log")
  local rc
  local done = helper.hold(function()
    local f = io.open(base .. ".rc")
    if f then rc = f:read("*n"); f:close() end
    return rc ~= nil
  end, seconds + 5)
  if not done then p:stop() end
  local out = io.open(base .. ".out") and S.slurp(base .. ".out") or ""
  local err = io.open(base .. ".err") and S.slurp(base .. ".err") or ""
  for _, ext in ipairs { "", ".in", ".out", ".err", ".tmp", ".rc", ".log" } do os.remove(base .. ext) end
  return rc, out, err
end

--- Starts a long-running peer (`exec` is prepended) and waits until it
-- accepts TCP on `port`; returns the process (p:stop(), p:output()).
function S.start(cmd, port, seconds)
  local p = helper.process("exec " .. cmd)
  local ok, err = pcall(helper.wait_port, port, seconds or 10)
  if not ok then
    local out = p:output()
    p:stop()
    error(tostring(err) .. "\n" .. out, 2)
  end
  return p
end

--- Waits until a process's output matches `pattern`; returns the capture.
function S.await_output(p, pattern, seconds)
  local cap
  helper.hold(function()
    cap = p:output():match(pattern)
    return cap
  end, seconds or 10)
  assert(cap, ("no %q in the output of the peer:\n%s"):format(pattern, p:output()))
  return cap
end

S.loop = loop
return S
