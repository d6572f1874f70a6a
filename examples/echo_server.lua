#!/usr/bin/env lua
-- echo_server: a TCP server that sends every line back as it came.
--
--   lua examples/echo_server.lua [HOST [PORT]]
--
-- HOST defaults to 127.0.0.1 ("*" listens on every IPv4 address, "::" on
-- every IPv6 one), PORT to 0, which lets the system pick a free port. The
-- first line printed says where it listens; then one line per connection.
-- Try it with examples/echo_client.lua, or `nc 127.0.0.1 PORT`.
--
-- echo_client.lua loads this file to run the same server in its own
-- process; loaded that way (not run as the main script) it only returns
-- { start = start } and starts nothing.

local tcp = require "tls.tcp"
local loop = require "tls.loop"

--- Starts the server: each connection runs `echo` as its own task.
-- Returns the server object, or nil, message, code.
local function start(host, port, log)
  log = log or function() end
  local function echo(ios)
    local peer = tostring(ios:getpeername())
    log("connection from " .. peer)
    local lines = 0
    while true do
      -- "L" keeps the newline, so the reply is byte for byte the request.
      local line, err, code = ios:read("L")
      if not line then
        -- nil alone: the client closed its end. nil, msg, code: a failure
        -- such as "timeout" or "reset".
        log(("%s: %s"):format(peer, err and (code .. ": " .. err) or "closed by client"))
        break
      end
      local ok, werr = ios:write(line)
      if not ok then
        log(("%s: write failed: %s"):format(peer, werr))
        break
      end
      lines = lines + 1
    end
    log(("%s done after %d lines"):format(peer, lines))
    -- Returning from the handler closes the connection.
  end
  -- A peer that sends nothing for 60 s is dropped (its read times out).
  return tcp.listen(host, port, echo, { timeout = 60 })
end

-- Run as a script (not loaded by echo_client.lua): serve until killed.
local main = arg and arg[0] and arg[0]:match("echo_server%.lua$")
if not main then
  return { start = start }
end

local host, port = arg[1] or "127.0.0.1", tonumber(arg[2] or 0)
local function log(msg)
  io.stdout:write(msg, "\n")
  io.stdout:flush()
end
local server, err = start(host, port, log)
if not server then
  io.stderr:write("echo_server: ", err, "\n")
  os.exit(1)
end
log("echo server listening on " .. tostring(server:address()))
loop.run() -- returns only after server:close(); this script never calls it
