-- ios:lines(...): an iterator over reads, as file:lines. A read that fails
-- with an error (timeout, reset, truncated) raises it instead of ending the
-- loop quietly, so a cut-off stream never looks like a complete one.
local read, known, check_self = ...
local select, error = select, error
local unpack = table.unpack or unpack

local function check(v, msg, ...)
  if v == nil and msg ~= nil then error(msg, 2) end
  return v, msg, ...
end

return function(self, ...)
  if known[self] == nil then check_self(self, "lines") end
  local n = select("#", ...)
  if n == 0 then
    return function() return check(read(self, "l")) end
  end
  local fmts = { ... }
  return function() return check(read(self, unpack(fmts, 1, n))) end
end
