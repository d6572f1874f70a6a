-- Turns a sync method into one that can wait: when the Rust side cannot
-- answer at once it returns PENDING, async_fn, args... and we call
-- async_fn(args...), which yields the task until the answer is ready.
-- Results pass through unchanged, their count included (no results stay
-- no results). A wait that a task:cancel interrupted answers CANCEL, err:
-- raise err as it is.
local PENDING, CANCEL = ...
local select, error = select, error
local function checked(first, ...)
  if first == CANCEL then error((...), 0) end
  return first, ...
end
local function call(f, ...) return checked(f(...)) end
local function again(...)
  if ... == PENDING then return call(select(2, ...)) end
  return ...
end
return function(sync)
  return function(...) return again(sync(...)) end
end
