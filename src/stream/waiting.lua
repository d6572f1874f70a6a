-- The public face of a method that may wait. The plain method `_name`
-- answers at once when it can; otherwise it returns PENDING, twin, args...
-- and we call twin(self, args...), which yields the task until the answer
-- is ready. SELF in a result stands for the stream itself.
local PENDING, SELF, methods = ...
local select = select

local function call(self, twin, ...) return twin(self, ...) end

local function again(self, p, ...)
  if p == SELF then return self end
  if p == PENDING then return again(self, call(self, ...)) end
  return p, ...
end

return function(name, plain)
  return function(self, ...)
    local f = methods[plain]
    if type(self) ~= "userdata" or f == nil then
      error(("bad argument #1 to '%s' (ios expected; use ios:%s(...))"):format(name, name), 2)
    end
    return again(self, f(self, ...))
  end
end
