-- The body of every task: runs f(...) under xpcall so a failure carries its
-- traceback. Table error values are kept as they are.
local xpcall, traceback, type, tostring = xpcall, debug.traceback, type, tostring
local function handler(e)
  if type(e) == "table" then return e end
  return traceback(tostring(e), 2)
end
return function(f, ...)
  return xpcall(f, handler, ...)
end
