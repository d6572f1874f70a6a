-- The public face of a method that may wait. The plain method `_name`
-- answers at once when it can. In a task that must wait it parks the task
-- on the socket and returns WAIT (plus what the retry needs); we then yield
-- mlua's "pending" value, which suspends the task without a Rust future,
-- and call the retry method when the loop wakes us. SELF in a result
-- stands for the stream itself; RAISE, value is an error to raise (see
-- api/surface.rs: the plain methods never raise themselves).
local WAIT, SELF, PENDING, RAISE, methods, kind = ...
-- `kind` names the object in messages ("ios" unless the caller says).
kind = kind or "ios"
local error, yield, type = error, coroutine.yield, type
local getmt = debug and debug.getmetatable

-- Whether `self` is a stream: its metatable's __index is our methods table
-- (without the debug library, any userdata passes and mlua checks it).
local function is_ios(self)
  if getmt == nil then return type(self) == "userdata" end
  local mt = getmt(self)
  return mt ~= nil and mt.__index == methods
end

local function raise(v)
  if v == RAISE then v = nil end -- stands for a nil error value
  error(v, 0)
end

local function bad_self(name, self)
  error(("calling '%s:%s' on bad self (%s expected, got %s)"):format(kind, name, kind, type(self)), 3)
end

local function make(name, plain, retry_name)
  local function again(self, p, ...)
    if p == SELF then return self end
    if p ~= WAIT then
      if p == RAISE then raise((...)) end
      return p, ...
    end
    yield(PENDING)
    return again(self, methods[retry_name](self, ...))
  end
  return function(self, ...)
    if not is_ios(self) then bad_self(name, self) end
    return again(self, methods[plain](self, ...))
  end
end

-- The same for a plain function that checks `self` itself (and is its own
-- retry): one call and one comparison fewer on every call.
local function direct(plain)
  local function again(self, p, ...)
    if p == WAIT then
      yield(PENDING)
      return again(self, plain(self, ...))
    end
    if p == RAISE then raise((...)) end
    return p, ...
  end
  return function(self, ...) return again(self, plain(self, ...)) end
end

return make, is_ios, bad_self, raise, direct
