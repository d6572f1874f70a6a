-- Turns a sync method into one that can wait: when the Rust side cannot
-- answer at once it returns PENDING, async_fn, args... and we tail-call
-- async_fn(args...), which yields the task until the answer is ready.
local PENDING = ...
local function call(f, ...) return f(...) end
local function again(p, ...)
  if p == PENDING then return call(...) end
  return p, ...
end
return function(sync)
  return function(...) return again(sync(...)) end
end
