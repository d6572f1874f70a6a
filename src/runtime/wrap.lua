-- Turns a sync method into one that can wait: when the Rust side cannot
-- answer at once it returns PENDING, async_fn, args... and we tail-call
-- async_fn(args...), which yields the task until the answer is ready.
-- Results pass through unchanged, their count included (no results stay
-- no results).
local PENDING = ...
local select = select
local function call(f, ...) return f(...) end
local function again(...)
  if ... == PENDING then return call(select(2, ...)) end
  return ...
end
return function(sync)
  return function(...) return again(sync(...)) end
end
