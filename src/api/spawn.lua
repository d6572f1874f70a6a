-- The body of every task: runs f(...) under xpcall so a failure message
-- carries its traceback. Other error values (tables, numbers, nil) are
-- kept as they are, and so is the task's own cancellation (it is not a bug,
-- and <close> handlers should see it as task:cancel made it).
local adopt, is_cancel, ended_outside = ...
-- Without the debug library (a sandbox), messages go without traceback.
local xpcall, type = xpcall, type
local traceback = debug and debug.traceback or function(a, b)
  if type(a) == "thread" then return b end
  return a
end
local function handler(e)
  if type(e) ~= "string" or is_cancel(e) then return e end
  return traceback(e, 2)
end
if not (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) then
  return function(f, ...)
    return xpcall(f, handler, ...)
  end
end

-- Lua 5.1's xpcall passes no arguments and cannot be yielded across. So f
-- runs in a coroutine of its own, which the loop adopts as the task's
-- (I/O inside it yields as in any task); this outer one only passes each
-- yield up and each resume down, and catches the error value unchanged.
local create, resume, status, yield = coroutine.create, coroutine.resume, coroutine.status, coroutine.yield

local pass

-- Resumed by the loop: passes the values down, unless f's coroutine was
-- run to its end meanwhile by someone else (resumed by hand, see
-- runtime/by_hand.rs).
local function again(co, ...)
  if status(co) == "dead" then return false, ended_outside() end
  return pass(co, resume(co, ...))
end

function pass(co, ok, ...)
  if not ok then
    local e = ...
    if type(e) == "string" and not is_cancel(e) then e = traceback(co, e) end
    return false, e
  end
  if status(co) == "dead" then return true, ... end
  return again(co, yield(...))
end

-- Once f is done, the coroutine that called us is the task's again, so it
-- can go on waiting (a server's connection task closes its stream).
local running = coroutine.running
local function done(outer, ...)
  adopt(outer)
  return ...
end

return function(f, ...)
  local outer = running()
  -- coroutine.create takes functions only; f may be a callable table.
  local co = create(function(...) return f(...) end)
  adopt(co)
  return done(outer, pass(co, resume(co, ...)))
end
