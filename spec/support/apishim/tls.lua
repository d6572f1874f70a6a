-- TEST-ONLY stand-in for the native module: see tls/_core.lua.
local core = require "tls._core"

local tls = {
  loop = require "tls.loop",
  tcp = require "tls.tcp",
  dns = require "tls.dns",
}

local KEYS = {
  cafile = true, ca = true, cert = true, key = true, alpn = true, protocols = true,
  timeout = true, verify_client = true, resumption = true,
  insecure_no_verify_cert = true, insecure_no_verify_name = true, insecure_no_verify_time = true,
}

function tls.config(opts)
  local c = {}
  for k, v in pairs(opts or {}) do
    if not KEYS[k] then
      error("bad argument #1 to 'config' (unknown option '" .. tostring(k) .. "')", 2)
    end
    c[k] = v
  end
  return c
end

function tls.connect(host, port, opts)
  opts = opts or {}
  return core.blocking(function()
    local deadline = opts.timeout and core.now() + opts.timeout
    local ios, msg, code = core.tcp_connect(host, port, { timeout = opts.timeout })
    if not ios then
      return nil, msg, code
    end
    return core.tls_client(ios, host, opts, deadline)
  end)
end

function tls.connecta(addr, hostname, opts)
  opts = opts or {}
  return core.blocking(function()
    local ios, msg, code = tls.tcp.connecta(addr, { timeout = opts.timeout })
    if not ios then
      return nil, msg, code
    end
    return core.tls_client(ios, hostname, opts, opts.timeout and core.now() + opts.timeout)
  end)
end

function tls.listen(host, port, handler, opts)
  return core.listen(host, port, handler, core.tls_server_wrap(opts))
end

return tls
