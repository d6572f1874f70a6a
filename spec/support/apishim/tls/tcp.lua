-- TEST-ONLY: see tls/_core.lua.
local core = require "tls._core"

local tcp = {}

local function parse_addr(addr)
  if type(addr) == "table" then
    return addr
  end
  local host, port = addr:match("^%[(.-)%]:(%d+)$")
  if not host then
    host, port = addr:match("^([^:]+):(%d+)$")
  end
  if not host then
    error("bad argument #1 (address expected, got '" .. tostring(addr) .. "')", 3)
  end
  return core.addr(host, port)
end

function tcp.connecta(addr, opts)
  local a = parse_addr(addr)
  return core.blocking(core.tcp_connect_addr, a, opts)
end

function tcp.connect(host, port, opts)
  return core.tcp_connect(host, port, opts)
end

function tcp.listen(host, port, handler, opts)
  local sock_ios = core.new_ios
  return core.listen(host, port, handler, function(client)
    client:setoption("tcp-nodelay", true)
    return sock_ios(client, "tcp")
  end)
end

return tcp
