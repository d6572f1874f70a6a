-- ios:read(...). The single line formats, by far the most common reads,
-- call argument-less plain methods directly (nothing to convert or
-- parse); everything else goes through the general wrapper `read`.
local WAIT, PENDING, methods, read = ...
local yield = coroutine.yield
local read_l, read_L -- the plain methods; mlua adds them after this runs

local function again_l(self, p, ...)
  if p ~= WAIT then return p, ... end
  yield(PENDING)
  return again_l(self, read_l(self))
end

local function again_L(self, p, ...)
  if p ~= WAIT then return p, ... end
  yield(PENDING)
  return again_L(self, read_L(self))
end

-- `(...) == nil` rather than select("#", ...) == 0: it is cheaper, and
-- the only difference is that a trailing nil format reads a line.
return function(self, fmt, ...)
  if (fmt == "l" or fmt == "*l" or fmt == nil) and (...) == nil then
    read_l = read_l or methods._read_l
    return again_l(self, read_l(self))
  elseif (fmt == "L" or fmt == "*L") and (...) == nil then
    read_L = read_L or methods._read_L
    return again_L(self, read_L(self))
  end
  return read(self, fmt, ...)
end
