-- ios:write(...) and ios:flush(). Strings, by far the most common
-- arguments, go to the raw fast path (fast/stream.rs), which takes them and
-- sends them when the buffering mode says so; every other call, and every
-- case the fast path declines (it then returns no value, having done
-- nothing), goes through the general wrappers, which convert numbers,
-- raise on bad arguments and wait.
-- `write_more` finishes a write whose bytes were taken: a flush whose
-- messages (timeout, busy) say `write`.
local fast_write, fast_flush, write, write_more, flush, known, check_self = ...

local function handle(self, name)
  local h = known[self]
  if h == nil then
    check_self(self, name)
    h = known[self]
  end
  return h
end

local function fast_flushed(self)
  local ok, msg, code = fast_flush(handle(self, "flush"))
  if ok then return self end
  if msg ~= nil then return nil, msg, code end
  -- Declined, or the socket is full: waiting is the general flush's job.
  return flush(self)
end

local function fast_written(self, ...)
  local ok, msg, code = fast_write(handle(self, "write"), ...)
  if ok then return self end
  -- Taken, but the socket is full: the rest of the write waits.
  if ok == false then return write_more(self) end
  if msg ~= nil then return nil, msg, code end
  return write(self, ...)
end

return fast_written, fast_flushed
