-- ios:lines(...): an iterator over reads, as file:lines. A read that fails
-- with an error (timeout, reset, truncated) raises it instead of ending the
-- loop quietly, so a cut-off stream never looks like a complete one.
local read, is_ios, bad_self = ...
local select, error = select, error
local unpack = table.unpack or unpack

local function check(v, msg, ...)
  if v == nil and msg ~= nil then error(msg, 2) end
  return v, msg, ...
end

return function(self, ...)
  if not is_ios(self) then bad_self("lines", self) end
  local n = select("#", ...)
  if n == 0 then
    return function() return check(read(self, "l")) end
  end
  local fmts = { ... }
  return function() return check(read(self, unpack(fmts, 1, n))) end
end
