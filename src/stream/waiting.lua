-- The public face of a method that may wait. The plain function
-- `plain[name]` (private: the methods table has no such entry) answers
-- at once when it can. In a task that must wait it parks the task
-- on the socket and returns WAIT (plus what the retry needs); we then yield
-- mlua's "pending" value, which suspends the task without a Rust future,
-- and call the retry method when the loop wakes us. SELF in a result
-- stands for the stream itself; RAISE, value is an error to raise (see
-- api/surface.rs: the plain methods never raise themselves).
local WAIT, SELF, PENDING, RAISE, methods, is_ours, bad_self, plain = ...
local error, yield, type, setmetatable = error, coroutine.yield, type, setmetatable

-- The streams seen so far (weak keys): a stream is checked once, exactly
-- (its metatable's __index is our methods table), then found here by one
-- table lookup, which keeps the hot paths (line reads, writes) cheap.
-- (`is_ours` is api/self_check.lua.)
local known = setmetatable({}, { __mode = "k" })

local function raise(v)
  if v == RAISE then v = nil end -- stands for a nil error value
  error(v, 0)
end

-- Called when `self` is not in `known`: remembers it, or raises as
-- luaL_argerror does for a bad self (`bad_self`, api/surface.rs, finds
-- the caller's position and words it as the call was made).
local function check_self(self, name)
  local ok, handle = is_ours(self, methods, plain and plain.handle)
  if not ok then
    error(bad_self("ios:" .. name, "ios", type(self)), 0)
  end
  -- A stream's value is the handle of the raw fast path (fast/stream.rs,
  -- used by read.lua, write.lua and lines.lua; collected with its key);
  -- other objects get `true`, which the fast path declines.
  known[self] = handle or true
end

local function make(name, first_name, retry_name)
  local first, retry = plain[first_name], plain[retry_name]
  local function again(self, p, ...)
    if p == SELF then return self end
    if p ~= WAIT then
      if p == RAISE then raise((...)) end
      return p, ...
    end
    yield(PENDING)
    return again(self, retry(self, ...))
  end
  return function(self, ...)
    if known[self] == nil then check_self(self, name) end
    return again(self, first(self, ...))
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

return make, known, check_self, raise, direct
