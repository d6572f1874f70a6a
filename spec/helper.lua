-- Shared helpers for the specs: bounded loop runs, free ports, external
-- peers (started on 127.0.0.1 and stopped after), subprocess scripts.
local loop = require "tls.loop"

local helper = {}

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/helper%.lua$")) or "."
helper.root = ROOT

-- The interpreter running the specs, as a version name (lua51 .. lua54,
-- luajit) and as the command that starts it; subprocesses use the same
-- one, with the module built for it (see .busted and scripts/build.sh).
local jit = rawget(_G, "jit")
helper.version = jit and "luajit" or ("lua" .. _VERSION:gsub("%D", ""))
helper.interpreter = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
helper.module_dir = helper.version == "lua54" and "target/lua" or ("target/" .. helper.version)
--- Environment assignments for a shell command run from the repository
-- root: this interpreter finds tls.so and lua/tls/*.lua there.
helper.env = ("LUA_CPATH='%s/?.so;;' LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;'")
  :format(helper.module_dir)

local unpack = table.unpack or unpack
--- table.pack and table.unpack on every Lua version.
function helper.pack(...) return { n = select("#", ...), ... } end
helper.unpack = unpack

--- Echoes every line ("L") back until the peer ends the stream. A while
-- loop: Lua 5.1 cannot wait inside a for iterator (ios:lines in a task).
function helper.echo_lines(ios)
  local line = ios:read("L")
  while line do
    ios:write(line)
    line = ios:read("L")
  end
end

--- Whether a coroutine can yield across pcall, xpcall and a for iterator
-- (not on Lua 5.1; LuaJIT can).
helper.yields_across_pcall = not (_VERSION == "Lua 5.1" and not jit)

--- Whether numbers have subtypes (Lua 5.3+: integer and float).
helper.subtypes = math.type ~= nil
--- math.type where it exists. Before Lua 5.3 a number has no subtype:
-- an integral one (within 2^53) counts as "integer", any other as "float".
function helper.math_type(v)
  if math.type then return math.type(v) end
  if type(v) ~= "number" then return nil end
  if v == math.floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53 then return "integer" end
  return "float"
end

--- Runs f(...) as a task and drives the loop until it ends or `seconds`
-- pass; fails the test with the task's traceback either way.
function helper.bounded(seconds, f, ...)
  local task = loop.spawn(f, ...)
  local deadline = loop.now() + seconds
  while not task:done() do
    if loop.now() > deadline then
      error(("task did not finish within %g s"):format(seconds), 2)
    end
    loop.step(math.min(0.05, math.max(0, deadline - loop.now())))
  end
  local res = helper.pack(task:join())
  if not res[1] then error(res[2], 2) end
  return unpack(res, 2, res.n)
end

--- A TCP port that was free a moment ago on 127.0.0.1.
function helper.free_port()
  local tcp = require "tls.tcp"
  local srv = assert(tcp.listen("127.0.0.1", 0, function() end))
  local port = srv:address().port
  srv:close()
  loop.step(0)
  return port
end

--- A UDP address on 127.0.0.1 that was bound a moment ago and no longer
-- is: datagrams sent there draw an ICMP "port unreachable".
function helper.closed_udp_address()
  local udp = require "tls.udp"
  local s = assert(udp.bind("127.0.0.1", 0))
  local addr = s:getsockname()
  s:close()
  return addr
end

--- Waits until something accepts TCP connections on host:port.
function helper.wait_port(port, seconds, host)
  local tcp = require "tls.tcp"
  host = host or "127.0.0.1"
  local deadline = loop.now() + (seconds or 10)
  local target = host:find(":") and ("[" .. host .. "]:" .. port) or (host .. ":" .. port)
  while loop.now() < deadline do
    local ios = tcp.connecta(target)
    if ios then ios:close() return true end
    loop.sleep(0.05)
  end
  error("nothing listens on " .. target)
end

--- Starts a shell command in the background; returns an object with :stop().
function helper.process(cmd, logfile)
  logfile = logfile or os.tmpname()
  local pidfile = os.tmpname()
  assert(os.execute(("(%s) >%s 2>&1 & echo $! > %s"):format(cmd, logfile, pidfile)))
  local f = assert(io.open(pidfile)); local pid = f:read("*n"); f:close(); os.remove(pidfile)
  local p = { pid = pid, log = logfile }
  function p:stop()
    os.execute(("kill %d 2>/dev/null; sleep 0.05; kill -9 %d 2>/dev/null"):format(self.pid, self.pid))
  end
  function p:output()
    local h = io.open(self.log); if not h then return "" end
    local s = h:read("*a"); h:close(); return s
  end
  return p
end

--- Starts spec/fixtures/reset_server.py: a peer on a free port that sends
-- `data`, waits for one byte, then resets the connection (speaking TLS
-- first when `cert` and `key` files are given). Returns the process and
-- its "127.0.0.1:port"; the caller stops the process.
function helper.reset_peer(data, cert, key)
  local extra = cert and (" '%s' '%s'"):format(cert, key) or ""
  local p = helper.process(("exec python3 '%s/spec/fixtures/reset_server.py' '%s'%s"):format(
    ROOT, (data:gsub("\n", "\\n")), extra))
  local port
  helper.wait_until(function()
    port = p:output():match("listening (%d+)")
    return port
  end, 10)
  assert(port, "the reset peer did not start: " .. p:output())
  return p, "127.0.0.1:" .. port
end

--- Runs Lua code in a fresh interpreter with tls.so on its path; returns
-- exit status (true/false), the exit code and everything printed (stdout
-- and stderr). The interpreter is killed after `seconds` (default 30), so
-- a hang shows as exit code 124 instead of hanging the suite.
function helper.lua(code, seconds)
  local file = os.tmpname()
  local f = assert(io.open(file, "w")); f:write(code); f:close()
  local cmd = ("cd %q && %s timeout -k 2 %d %s %s 2>&1; echo \"exit=$?\"")
    :format(ROOT, helper.env, math.ceil(seconds or 30), helper.interpreter, file)
  local p = io.popen(cmd); local out = p:read("*a"); p:close()
  os.remove(file)
  local code_ = tonumber(out:match("exit=(%d+)%s*$"))
  return code_ == 0, code_, (out:gsub("exit=%d+%s*$", ""))
end

--- CPU seconds this process used while running f.
function helper.cpu(f, ...)
  local c0 = os.clock()
  f(...)
  return os.clock() - c0
end

--- Steps the loop until pred() is true or `seconds` pass (default 5);
-- returns what pred() last returned. For waiting on a server task's side
-- effects from the main thread without loop.run().
function helper.wait_until(pred, seconds)
  local deadline = loop.now() + (seconds or 5)
  local v = pred()
  while not v and loop.now() < deadline do
    loop.step(0.01)
    v = pred()
  end
  return v
end

--- Inside a task: sleeps in small steps until pred() is true or `seconds`
-- pass (default 5); returns what pred() last returned.
function helper.hold(pred, seconds)
  local deadline = loop.now() + (seconds or 5)
  local v = pred()
  while not v and loop.now() < deadline do
    loop.sleep(0.01)
    v = pred()
  end
  return v
end

--- Runs the loop until no task is left or `seconds` pass (default 5), so
-- one test's leftovers do not leak into the next. Returns the live count.
function helper.drain(seconds)
  local deadline = loop.now() + (seconds or 5)
  local n = loop.step(0)
  while n > 0 and loop.now() < deadline do
    n = loop.step(0.01)
  end
  return n
end

--- Starts our own TCP server on 127.0.0.1, port 0; returns the server and
-- its address text "127.0.0.1:port".
--- A TCP server on 127.0.0.1 whose handler waits `delay` seconds, writes
--- `text`, then reads until the client closes: a peer whose reader must
--- wait. Returns the server and its address.
function helper.slow_writer(delay, text)
  local srv = assert(require("tls.tcp").listen("127.0.0.1", 0, function(ios)
    loop.sleep(delay)
    ios:write(text)
    ios:read("a")
  end))
  return srv, srv:address()
end

function helper.serve(handler, opts)
  local tcp = require "tls.tcp"
  local srv = assert(tcp.listen("127.0.0.1", 0, handler, opts))
  return srv, "127.0.0.1:" .. srv:address().port
end

--- Whether this machine can listen on the IPv6 loopback ::1.
local ipv6
function helper.ipv6()
  if ipv6 == nil then
    local tcp = require "tls.tcp"
    local srv = tcp.listen("::1", 0, function() end)
    ipv6 = srv ~= nil
    if srv then srv:close(); loop.step(0) end
  end
  return ipv6
end

--- A value whose finalizer is f. Tables get __gc from Lua 5.2 on; 5.1
-- and LuaJIT have newproxy.
function helper.finalized(f)
  if _VERSION == "Lua 5.1" then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

--- The most eager collector the interpreter offers: a step at nearly
-- every allocation (for the fast paths' GC-stress specs). Returns a
-- function that restores the defaults.
function helper.stress_gc()
  collectgarbage("restart")
  collectgarbage("collect")
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", 1, 1000, 0)
    return function() collectgarbage("incremental", 200, 100, 13) end
  end
  local pause = collectgarbage("setpause", 1)
  local mul = collectgarbage("setstepmul", 1000)
  return function()
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", mul)
  end
end

return helper
