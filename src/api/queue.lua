-- The public face of queue:get and queue:put. The plain Rust method
-- answers at once when it can; in a task that must wait it parks the task
-- in line and returns WAIT, token: we yield mlua's "pending" value (no
-- Rust future is built) and ask the retry method with the token each time
-- the loop wakes us. RAISE, value is an error to raise (see surface.rs).
local WAIT, PENDING, RAISE = ...
local yield, error = coroutine.yield, error

local function raise(v)
  if v == RAISE then v = nil end
  error(v, 0)
end

return function(plain, retry)
  local function waited(self, token)
    while true do
      yield(PENDING)
      local v, a, b = retry(self, token)
      if v ~= WAIT then
        if v == RAISE then raise(a) end
        return v, a, b
      end
    end
  end
  return function(self, ...)
    local v, a, b = plain(self, ...)
    if v == WAIT then return waited(self, a) end
    if v == RAISE then raise(a) end
    return v, a, b
  end
end
