-- The public face of a method that may wait. The plain method `_name`
-- answers at once when it can. In a task that must wait it parks the task
-- on the socket and returns WAIT (plus what the retry needs); we then yield
-- mlua's "pending" value, which suspends the task without a Rust future,
-- and call the retry method when the loop wakes us. SELF in a result
-- stands for the stream itself. `kind` names the object in misuse errors
-- ("ios" unless the caller says, e.g. "s" for datagram sockets).
local WAIT, SELF, PENDING, methods, kind = ...
kind = kind or "ios"
local type, error, yield = type, error, coroutine.yield

return function(name, plain, retry_name)
  local function again(self, p, ...)
    if p == SELF then return self end
    if p ~= WAIT then return p, ... end
    yield(PENDING)
    return again(self, methods[retry_name](self, ...))
  end
  return function(self, ...)
    local f = methods[plain]
    if type(self) ~= "userdata" or f == nil then
      error(("bad argument #1 to '%s' (%s expected; use %s:%s(...))"):format(name, kind, kind, name), 2)
    end
    return again(self, f(self, ...))
  end
end
