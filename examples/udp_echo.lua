#!/usr/bin/env lua5.4
-- udp_echo: a UDP echo server and its clients in one program, on loopback.
--
--   lua5.4 examples/udp_echo.lua [CLIENTS]
--
-- The server task answers every datagram with the same bytes; CLIENTS
-- tasks (default 3) each send a few datagrams and check the replies. A
-- reply that does not come within a second is reported, not waited for.

local udp = require "tls.udp"
local loop = require "tls.loop"

local clients = tonumber(arg[1] or "3")
if not clients or clients < 1 then
  io.stderr:write("usage: lua5.4 examples/udp_echo.lua [CLIENTS]\n")
  os.exit(2)
end

-- Port 0: the system picks a free one.
local server = assert(udp.bind("127.0.0.1", 0))
local where = server:getsockname()
print("udp echo server on " .. tostring(where))

loop.spawn(function()
  while true do
    local data, from = server:recv()
    if not data then break end -- closed below, when the clients are done
    server:sendto(data, from)
  end
end)

local ok = true
local tasks = {}
for i = 1, clients do
  tasks[i] = loop.spawn(function()
    local s = assert(udp.connect(where, { timeout = 1 }))
    for n = 1, 3 do
      local msg = ("datagram %d from client %d"):format(n, i)
      s:send(msg)
      local reply, err = s:recv()
      if reply ~= msg then
        print(("client %d: %s"):format(i, err or "wrong reply"))
        ok = false
      else
        print(("client %d sent and got %q"):format(i, reply))
      end
    end
    s:close()
  end)
end
for _, t in ipairs(tasks) do assert(t:join()) end
server:close()
print(ok and "all replies matched" or "some replies were missing")
os.exit(ok and 0 or 1)
