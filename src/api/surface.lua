-- The Lua face of every public function (see surface.rs). The Rust side
-- never raises: it returns RAISE, value for an error, which we raise here
-- unchanged (level 0: a message already carries its position, a task's
-- error value must stay as it was), or PENDING, async_fn, args... to go on
-- in the async twin, whose results are checked the same way. Anything else
-- passes through, its count included.
local PENDING, RAISE = ...
local select, error = select, error

local function raise(v)
  if v == RAISE then v = nil end -- stands for a nil error value
  error(v, 0)
end

local function checked(...)
  if ... == RAISE then raise((select(2, ...))) end
  return ...
end

local function call(f, ...) return checked(f(...)) end

local function again(...)
  local first = ...
  if first == PENDING then return call(select(2, ...)) end
  if first == RAISE then raise((select(2, ...))) end
  return ...
end

return function(raw)
  return function(...) return again(raw(...)) end
end
