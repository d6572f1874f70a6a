-- Whether `self` is an object whose methods table (its metatable's
-- __index) is `methods`, and its raw fast-path handle when the caller has
-- a maker of handles (`make`, kept private: no `_handle` in `methods`):
-- `ok, handle`. Shared by the streams'
-- (stream/waiting.lua) and the queues' (api/queue.lua) checks of `self`,
-- which each raise their own message when it is not.
-- Without the debug library (a sandbox) the metatable cannot be read:
-- `make` itself fails for anything that is not one of ours, and where
-- there is none any userdata passes (its methods check it themselves).
local getmt = debug and debug.getmetatable
local pcall, type = pcall, type

return function(self, methods, make)
  if getmt == nil then
    if type(self) ~= "userdata" then return false end
    if make == nil then return true end
    return pcall(make, self)
  end
  local mt = getmt(self)
  if mt == nil or mt.__index ~= methods then return false end
  if make == nil then return true end
  return true, make(self)
end
