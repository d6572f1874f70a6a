-- The body of every task: runs f(...) under xpcall so a failure message
-- carries its traceback. Other error values (tables, numbers, nil) are
-- kept as they are.
local xpcall, traceback, type = xpcall, debug.traceback, type
local function handler(e)
  if type(e) ~= "string" then return e end
  return traceback(e, 2)
end
-- Lua 5.1's xpcall passes no arguments and cannot be yielded across: run
-- f directly there; the loop adds the traceback of a failure itself.
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  return function(f, ...)
    return true, f(...)
  end
end
return function(f, ...)
  return xpcall(f, handler, ...)
end
