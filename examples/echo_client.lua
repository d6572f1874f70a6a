#!/usr/bin/env lua
-- echo_client: sends lines to an echo server and checks what comes back.
--
--   lua examples/echo_client.lua [HOST:PORT [MESSAGE...]]
--
-- With an address (127.0.0.1:7000, [::1]:7000, localhost:7000) it sends
-- each MESSAGE (default: three greetings) as a line and prints the reply.
-- Without one it is a self-contained demo: it starts examples/echo_server.lua
-- in this same process on a free port, then runs three clients at once, each
-- as its own task, to show that one loop serves them all.
--
-- Exit status 0 when every reply matched.

local tcp = require "tls.tcp"
local loop = require "tls.loop"

--- One conversation: connect, send each message, read each echo, then
-- half-close and wait for the server to finish. Returns true, or nil and
-- a message.
local function converse(name, host, port, messages)
  local ios, err = tcp.connect(host, port, { timeout = 5 })
  if not ios then return nil, err end
  ios:settimeout(5) -- each read and write below waits at most 5 s
  for _, msg in ipairs(messages) do
    local ok, werr = ios:write(msg, "\n")
    if not ok then ios:close() return nil, werr end
    local reply, rerr = ios:read("l")
    if not reply then ios:close() return nil, rerr or "server closed early" end
    print(("%s: sent %q, got %q"):format(name, msg, reply))
    if reply ~= msg then ios:close() return nil, "reply differs" end
  end
  -- Half-close: the server sees the end of our stream, finishes and closes
  -- its side, so "a" gives the rest, which must be nothing.
  ios:shutdown()
  local rest = ios:read("a")
  ios:close()
  if rest ~= "" then return nil, "unexpected data after the last reply" end
  return true
end

--- Splits "host:port" and "[v6]:port".
local function split_address(text)
  local host, port = text:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = text:match("^([^:]+):(%d+)$") end
  return host, tonumber(port)
end

local failures = 0

if arg[1] then
  local host, port = split_address(arg[1])
  if not host then
    io.stderr:write("usage: echo_client.lua [HOST:PORT [MESSAGE...]]\n")
    os.exit(2)
  end
  local messages = { (table.unpack or unpack)(arg, 2) }
  if #messages == 0 then messages = { "hello", "hej", "bonjour" } end
  -- Blocking mode: called from the main thread, converse() just waits.
  local ok, err = converse("client", host, port, messages)
  if not ok then
    print("client failed: " .. err)
    failures = 1
  end
else
  -- Demo: the server from echo_server.lua, in this process.
  local here = arg[0]:match("^(.*)/[^/]*$") or "."
  local server = assert(dofile(here .. "/echo_server.lua").start("127.0.0.1", 0))
  local port = server:address().port
  print("echo server on port " .. port)
  local tasks = {}
  for i = 1, 3 do
    local name = "client " .. i
    local messages = { "hello from " .. name, "line two from " .. name, "bye from " .. name }
    tasks[i] = loop.spawn(converse, name, "127.0.0.1", port, messages)
  end
  for i, task in ipairs(tasks) do
    -- join: true, results... of converse, or false and the error.
    local ran, ok, err = task:join()
    if not (ran and ok) then
      print(("client %d failed: %s"):format(i, tostring(ran and err or ok)))
      failures = failures + 1
    end
  end
  server:close()
  loop.run() -- lets the server's tasks finish
end

print(failures == 0 and "all replies matched" or "some replies did not match")
os.exit(failures == 0 and 0 or 1)
