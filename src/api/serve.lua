-- The body of a server's connection task. The TLS handshake (if any) is
-- complete before the handler runs; a handler error is reported on stderr
-- and closes only this connection.
local xpcall, traceback, tostring = xpcall, debug.traceback, tostring
local stderr = io and io.stderr
local function handler_error(e)
  return traceback(tostring(e), 2)
end
-- Lua 5.1's xpcall passes no arguments and cannot be yielded across: call
-- the handler directly there; the loop then reports a failure on stderr.
local protected = not (_VERSION == "Lua 5.1" and not rawget(_G, "jit"))

return function(handler, ios, handshake, timeout)
  if handshake then
    local ok = ios:handshake()
    if not ok then ios:close() return end
    ios:settimeout(timeout)
  end
  if not protected then
    handler(ios)
    ios:close()
    return
  end
  local ok, err = xpcall(handler, handler_error, ios)
  ios:close()
  if not ok and stderr then
    stderr:write("tls: connection handler failed: ", tostring(err), "\n")
  end
end
