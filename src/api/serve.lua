-- The body of a server's connection task. The TLS handshake (if any) is
-- complete before the handler runs; a handler error is reported on stderr
-- and closes only this connection.
-- `protect` is the task body of loop.spawn (spawn.lua): on Lua 5.1, whose
-- xpcall passes no arguments and cannot be yielded across, it is the
-- protected call that can wait, so a failed handler still closes its
-- connection there too.
local protect = ...
local xpcall, tostring = xpcall, tostring
-- Without the debug library (a sandbox), the message goes without traceback.
local traceback = debug and debug.traceback or function(e) return e end
local stderr = io and io.stderr
local function handler_error(e)
  return traceback(tostring(e), 2)
end
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  xpcall = function(f, _, ...) return protect(f, ...) end
end

return function(handler, ios, handshake, timeout)
  if handshake then
    local ok = ios:handshake()
    if not ok then ios:close() return end
    ios:settimeout(timeout)
  end
  local ok, err = xpcall(handler, handler_error, ios)
  ios:close()
  if not ok and stderr then
    stderr:write("tls: connection handler failed: ", tostring(err), "\n")
  end
end
