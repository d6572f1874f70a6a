-- ios:read(...). The single line formats, by far the most common reads,
-- call argument-less plain methods directly (nothing to convert or
-- parse); everything else goes through the general wrapper `read`.
-- Written without varargs on the line path: it is the hottest path of the
-- library.
local WAIT, PENDING, RAISE, methods, read, known, check_self, raise, fast_l, fast_L = ...
local yield = coroutine.yield
local read_l, read_L -- the plain methods; mlua adds them after this runs

-- A failure: `nil, msg, code`, or with a partial line (a stream that
-- ended in failure hands over its last, cut-off line) four values; exact
-- counts, as callers may pack them. RAISE in first place: an error to raise.
local function failed(v, msg, code, partial)
  if v == RAISE then raise(msg) end
  if partial == nil then return v, msg, code end
  return v, msg, code, partial
end

-- A plain line read answers `line`, `nil` (end of stream), a failure (see
-- above), or WAIT: the task is parked, so yield, then ask again.
local function waited(plain, fast, h, self)
  while true do
    yield(PENDING)
    -- Woken: the line is usually there now, for the fast path.
    local line = fast(h)
    if line ~= nil then return line end
    local v, msg, code, partial = plain(self)
    if msg ~= nil then return failed(v, msg, code, partial) end
    if v ~= WAIT then return v end
  end
end

-- `(...) == nil` rather than select("#", ...) == 0: it is cheaper, and
-- the only difference is that a trailing nil format reads a line.
return function(self, fmt, ...)
  local plain, fast
  if (fmt == "l" or fmt == "*l" or fmt == nil) and (...) == nil then
    plain = read_l or methods._read_l
    read_l, fast = plain, fast_l
  elseif (fmt == "L" or fmt == "*L") and (...) == nil then
    plain = read_L or methods._read_L
    read_L, fast = plain, fast_L
  else
    return read(self, fmt, ...)
  end
  local h = known[self]
  if h == nil then
    check_self(self, "read")
    h = known[self]
  end
  -- A line already buffered or waiting in the socket: the raw fast path
  -- answers it; no value means "anything else", for the plain method.
  local line = fast(h)
  if line ~= nil then return line end
  local v, msg, code, partial = plain(self)
  if msg ~= nil then return failed(v, msg, code, partial) end
  if v ~= WAIT then return v end
  return waited(plain, fast, h, self)
end
