-- TEST-ONLY: see tls/_core.lua.
local core = require "tls._core"
local dns = {}
function dns.address(host, family, proto, port)
  return core.resolve(host, port or 0)
end
function dns.config() end
return dns
