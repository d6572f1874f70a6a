-- ios:write(...). One string, by far the most common call, goes to the raw
-- fast path (stream/fast.rs), which takes it and sends it when the
-- buffering mode says so; every other call, and every case the fast path
-- declines (it then returns no value, having done nothing), goes through
-- the general wrapper, which converts numbers, raises on bad arguments and
-- waits.
local fast, write, flush, known, check_self = ...

return function(self, ...)
  local h = known[self]
  if h == nil then
    check_self(self, "write")
    h = known[self]
  end
  local ok, msg, code = fast(h, ...)
  if ok then return self end
  -- Taken, but the socket is full: waiting for it is flush's job.
  if ok == false then return flush(self) end
  if msg ~= nil then return nil, msg, code end
  return write(self, ...)
end
