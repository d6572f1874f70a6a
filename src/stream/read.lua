-- ios:read(...). The single line formats, by far the most common reads,
-- call argument-less plain methods directly (nothing to convert or
-- parse); everything else goes through the general wrapper `read`.
local WAIT, PENDING, methods, read = ...
local yield = coroutine.yield
local read_l, read_L -- the plain methods; mlua adds them after this runs

-- A plain line read answers `line`, `nil` (end of stream),
-- `nil, msg, code`, or WAIT (the task is parked: yield, then ask again).
-- Written without varargs: this is the hottest path of the library.
local function line(plain, self)
  while true do
    local v, msg, code = plain(self)
    if msg ~= nil then return v, msg, code end
    if v ~= WAIT then return v end
    yield(PENDING)
  end
end

-- `(...) == nil` rather than select("#", ...) == 0: it is cheaper, and
-- the only difference is that a trailing nil format reads a line.
return function(self, fmt, ...)
  if (fmt == "l" or fmt == "*l" or fmt == nil) and (...) == nil then
    read_l = read_l or methods._read_l
    return line(read_l, self)
  elseif (fmt == "L" or fmt == "*L") and (...) == nil then
    read_L = read_L or methods._read_L
    return line(read_L, self)
  end
  return read(self, fmt, ...)
end
