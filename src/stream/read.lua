-- ios:read(...). The single line formats, by far the most common reads,
-- call argument-less plain methods directly (nothing to convert or
-- parse); everything else goes through the general wrapper `read`.
-- Written without varargs on the line path: it is the hottest path of the
-- library.
-- (`read_l`, `read_L`: the plain line reads, private to the wrappers.)
local WAIT, PENDING, RAISE, read_l, read_L, read, known, check_self, raise, fast_l, fast_L = ...
local yield = coroutine.yield

-- A failure: `nil, msg, code`, or with a partial line (a stream that
-- ended in failure hands over its last, cut-off line) four values; exact
-- counts, as callers may pack them. RAISE in first place: an error to raise.
local function failed(v, msg, code, partial)
  if v == RAISE then raise(msg) end
  if partial == nil then return v, msg, code end
  return v, msg, code, partial
end

-- A plain line read answers `line`, `nil` (end of stream), a failure (see
-- above), or WAIT: the task is parked, so yield, then ask again. The fast
-- path answers WAIT too when it parked the task itself.
local function waited(plain, fast, h, self)
  while true do
    yield(PENDING)
    -- Woken: the line is usually there now, for the fast path.
    local line = fast(h)
    if line ~= WAIT then
      if line ~= nil then return line end
      local v, msg, code, partial = plain(self)
      if msg ~= nil then return failed(v, msg, code, partial) end
      if v ~= WAIT then return v end
    end
  end
end

-- After a fast path parked the task for a line (`keep`: "L").
local function waited_line(self, keep)
  if keep then
    return waited(read_L, fast_L, known[self], self)
  end
  return waited(read_l, fast_l, known[self], self)
end

-- The rest of a line read the fast path did not answer: the plain method
-- (which flushes, reads, parks or fails), then the wait.
local function slow(self, h, plain, fast)
  local v, msg, code, partial = plain(self)
  if msg ~= nil then return failed(v, msg, code, partial) end
  if v ~= WAIT then return v end
  return waited(plain, fast, h, self)
end

-- A stream not seen yet: checked here, before any tail call, so that a
-- bad self is reported as `front` was called (see api/surface.rs).
local function handle(self)
  check_self(self, "read")
  return known[self]
end

-- `(...) == nil` rather than select("#", ...) == 0: it is cheaper, and
-- the only difference is that a trailing nil format reads a line. A line
-- already buffered or waiting in the socket is answered by the raw fast
-- path (no value there means "anything else").
-- (WAIT from the fast path: it parked the task, see `waited_line`.)
local function front(self, fmt, ...)
  if (fmt == "l" or fmt == "*l" or fmt == nil) and (...) == nil then
    local h = known[self] or handle(self)
    local line = fast_l(h)
    if line ~= nil then
      if line ~= WAIT then return line end
      return waited_line(self, false)
    end
    return slow(self, h, read_l, fast_l)
  elseif (fmt == "L" or fmt == "*L") and (...) == nil then
    local h = known[self] or handle(self)
    local line = fast_L(h)
    if line ~= nil then
      if line ~= WAIT then return line end
      return waited_line(self, true)
    end
    return slow(self, h, read_L, fast_L)
  end
  if known[self] == nil then handle(self) end
  return read(self, fmt, ...)
end

return front, waited_line
