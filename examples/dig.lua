#!/usr/bin/env lua
-- dig: look a name up the way tcp.connect and tls.connect would.
--
--   lua examples/dig.lua [@SERVER] [-4|-6] NAME [PORT]
--   lua examples/dig.lua            # demo: names that need no network
--
-- NAME is a host name or a literal address. -4 asks for IPv4 addresses
-- only, -6 for IPv6 only; the default is both, in the order a connect would
-- try them. PORT (a number or a service name such as https) is attached to
-- each address. @SERVER (127.0.0.1, 127.0.0.1:5353, [::1]:53) asks that
-- name server instead of the ones in /etc/resolv.conf.
--
-- Exit status: 0 when the name has addresses, 1 when the lookup failed
-- (the message and code are printed), 2 on a usage error.

local dns = require "tls.dns"
local loop = require "tls.loop"

local USAGE = "usage: dig.lua [@SERVER] [-4|-6] NAME [PORT]"

--- Looks `name` up and prints one line per address; true on success.
local function dig(name, family, port)
  local started = loop.now()
  -- Blocking mode: called from the main thread, dns.address waits for the
  -- answer (any tasks would go on running meanwhile).
  local addrs, err, code = dns.address(name, family, "tcp", port)
  local ms = (loop.now() - started) * 1000
  print((";; %s  family %s  port %s"):format(name, family, tostring(port)))
  if not addrs then
    print((";; failed: %s (%s)"):format(err, code))
    return false
  end
  for _, a in ipairs(addrs) do
    -- Each address object has family, addr and port; tostring gives the
    -- form connecta accepts: 192.0.2.7:443 or [2001:db8::7]:443.
    print(("%-30s %-4s %-40s %s"):format(name, a.family, a.addr, tostring(a)))
  end
  print((";; %d address%s in %.1f ms"):format(#addrs, #addrs == 1 and "" or "es", ms))
  return true
end

local args = { (table.unpack or unpack)(arg) }
local server, family = nil, "ip"
while args[1] and (args[1]:sub(1, 1) == "@" or args[1]:sub(1, 1) == "-") do
  local a = table.remove(args, 1)
  if a == "-4" then
    family = "ip4"
  elseif a == "-6" then
    family = "ip6"
  elseif a:sub(1, 1) == "@" and #a > 1 then
    server = a:sub(2)
  else
    io.stderr:write(USAGE, "\n")
    os.exit(2)
  end
end
local name, port = args[1], args[2]
if #args > 2 or (name == nil and (server or family ~= "ip")) then
  io.stderr:write(USAGE, "\n")
  os.exit(2)
end
port = tonumber(port) or port or 0

if server then
  -- A name server given as an address, with port 53 unless it says.
  if not server:find("%]:%d+$") and not server:find("^[^:]+:%d+$") then
    server = server:find(":") and ("[" .. server .. "]:53") or (server .. ":53")
  end
  dns.config { nameservers = { server } }
end

if name then
  os.exit(dig(name, family, port) and 0 or 1)
end

-- Demo: a literal of each family and the hosts file's localhost. None of
-- them sends a query, so the demo works without a network.
local ok = true
for _, q in ipairs {
  { "127.0.0.1", "ip", 80 },
  { "::1", "ip", "https" },
  { "localhost", "ip", 8080 },
  { "localhost", "ip4", 8080 },
} do
  ok = dig(q[1], q[2], q[3]) and ok
  print()
end
os.exit(ok and 0 or 1)
