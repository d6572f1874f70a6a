-- ios:lines(...): an iterator over reads, as file:lines. A read that fails
-- with an error (timeout, reset, truncated) raises it instead of ending the
-- loop quietly, so a cut-off stream never looks like a complete one. When
-- the failed read handed over a partial result (the bytes of a last,
-- cut-off line or chunk), the iterator yields it first and raises at the
-- next step: nothing that arrived is dropped.
local read, known, check_self, fast_l, WAIT, waited_line = ...
local select, error = select, error
local unpack = table.unpack or unpack

return function(self, ...)
  if known[self] == nil then check_self(self, "lines") end
  local n = select("#", ...)
  local fmts = { ... }
  if n == 0 then fmts, n = { "l" }, 1 end
  local pending -- the error to raise at the next step
  local function check(...)
    local v, msg, _, partial = ...
    if v == nil and msg ~= nil then
      if partial ~= nil and partial ~= "" then
        pending = msg
        return partial
      end
      error(msg, 2) -- a tail call: level 2 is the loop
    end
    return ...
  end
  if n == 1 and (fmts[1] == "l" or fmts[1] == "*l") then
    -- The default: buffered lines come from the raw fast path.
    local h = known[self]
    return function()
      if pending then error(pending, 2) end
      local line = fast_l(h)
      if line ~= nil then
        if line ~= WAIT then return line end
        return check(waited_line(self, false)) -- the task is parked
      end
      return check(read(self, "l"))
    end
  end
  return function()
    if pending then error(pending, 2) end
    return check(read(self, unpack(fmts, 1, n)))
  end
end
