#!/usr/bin/env lua
-- graceful_shutdown: a server that, on SIGTERM, stops accepting new
-- connections and lets the requests already running finish (for at most
-- DRAIN seconds; what is still running then is cancelled).
--
--   lua examples/graceful_shutdown.lua          runs a demo and exits
--   lua examples/graceful_shutdown.lua serve [PORT]   serves until SIGTERM
--
-- Each request is a line; the server "works" on it for a moment and sends
-- back "done: <line>". The demo starts three slow requests, sends itself
-- SIGTERM while they run, checks that a new connection is refused, and
-- that all three requests still get their answers.
--
-- The drain is built from the loop's primitives (loop.signal, loop.cond,
-- task:join with a timeout, task:cancel), so it also shows how they fit.
-- server:close(drain_seconds) does the waiting part in one call (it waits
-- for the handlers, then closes what is left); this example keeps its own
-- drain because it also cancels the work still running at the deadline.

local loop = require "tls.loop"
local tcp = require "tls.tcp"

local DRAIN = 5   -- seconds the running requests get after SIGTERM
local WORK = 0.3  -- seconds one request takes

local running = {}  -- task -> true: the requests being worked on
local count = 0
local changed = loop.cond() -- signalled whenever a request ends

local function handler(ios)
  local line = ios:read("l")
  if not line then return end
  -- The work runs as a task of its own, so a drain that runs out of time
  -- can cancel it (its wait raises "cancelled: ...", and it ends).
  local work = loop.spawn(function()
    loop.sleep(WORK)
    return "done: " .. line
  end)
  running[work] = true
  count = count + 1
  local ok, answer = work:join()
  running[work] = nil
  count = count - 1
  changed:broadcast()
  ios:write(ok and answer or ("failed: " .. tostring(answer)), "\n")
  ios:close()
end

--- Waits for SIGTERM, then stops `srv` and drains. Returns how many
-- requests finished during the drain and how many had to be cancelled.
local function shutdown_on_term(srv, log)
  local term = assert(loop.signal("TERM"))
  term:wait()
  log(("SIGTERM: no new connections; %d request(s) running"):format(count))
  srv:close()
  local deadline = loop.now() + DRAIN
  local at_start = count
  while count > 0 and loop.now() < deadline do
    changed:wait(deadline - loop.now())
  end
  local cancelled = 0
  for task in pairs(running) do
    task:cancel("server shutting down")
    cancelled = cancelled + 1
  end
  term:close() -- SIGTERM's default action is back
  return at_start - cancelled, cancelled
end

local function log(msg)
  io.stdout:write(msg, "\n")
  io.stdout:flush()
end

if arg[1] == "serve" then
  local srv = assert(tcp.listen("127.0.0.1", tonumber(arg[2]) or 0, handler))
  log("listening on port " .. srv:address().port .. "; stop with SIGTERM")
  local finished, cancelled = shutdown_on_term(srv, log)
  log(("drained: %d finished, %d cancelled"):format(finished, cancelled))
  return
end

-- The demo.
local srv = assert(tcp.listen("127.0.0.1", 0, handler))
local port = srv:address().port
log("server on port " .. port)
local stopper = loop.spawn(shutdown_on_term, srv, log)

local clients = {}
for i = 1, 3 do
  clients[i] = loop.spawn(function()
    local ios = assert(tcp.connecta("127.0.0.1:" .. port))
    ios:write("request ", i, "\n")
    return ios:read("l")
  end)
end
-- Wait until all three are being worked on, then SIGTERM ourselves.
while count < 3 do changed:wait(0.01) end
local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*n")
f:close()
log("sending SIGTERM to " .. pid)
assert(os.execute("kill -TERM " .. pid))

local ok, finished, cancelled = stopper:join()
assert(ok, finished)
log(("drained: %d finished, %d cancelled"):format(finished, cancelled))
-- The server no longer accepts.
local ios, err, code = tcp.connecta("127.0.0.1:" .. port)
log("new connection after shutdown: " .. (ios and "accepted (wrong!)" or code))
for i = 1, 3 do
  local _, answer = clients[i]:join()
  log(("client %d got: %s"):format(i, tostring(answer)))
end
