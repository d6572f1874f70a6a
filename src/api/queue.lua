-- The public face of queue:put, queue:get, cond:wait, cond:signal and
-- cond:broadcast. The raw fast path (fast/sync.rs) answers a task's call:
-- at once, or by parking the task in line and returning WAIT, token: we
-- then yield mlua's "pending" value (no Rust future is built) and ask the
-- raw retry with the token each time the loop wakes us. CANCEL means the
-- task was cancelled while it waited: its cancellation value is raised.
-- Whatever the fast path declines (it returns no value: misuse, blocking
-- mode, a zero timeout) goes to the general methods (api/loop_sync.rs),
-- which raise as RAISE, value, answer, drive the loop, or park as well.
local WAIT, CANCEL, PENDING, RAISE, cancel_value, is_ours = ...
local yield, error, type, setmetatable = coroutine.yield, error, type, setmetatable

local function raise(v)
  if v == RAISE then v = nil end -- stands for a nil error value
  error(v, 0)
end

-- The objects seen so far (weak keys), each with its raw handle.
local known = setmetatable({}, { __mode = "k" })

-- The handle of `self` when it is an object of `methods` (checked once,
-- then found in `known`; `make` makes it, and is no entry of `methods`);
-- else raises as luaL_argerror does for a bad self (level 3: the caller
-- of the method).
local function handle(self, methods, make, fname, what)
  local ok, h = is_ours(self, methods, make)
  if not ok then
    error(("calling '%s' on bad self (%s expected, got %s)"):format(fname, what, type(self)), 3)
  end
  known[self] = h
  return h
end

-- The call each retry function finishes, for the error raised when the
-- task's coroutine was resumed by hand (see runtime/by_hand.rs).
local finishes = {}

-- Asks `retry(h, token, item)` after each wake-up until the wait is over.
-- Answers are exact: one value, or `nil, msg, code`. CANCEL: the task was
-- cancelled, or its coroutine resumed by hand; `cancel_value` says which.
local function waited(retry, h, token, item)
  while true do
    yield(PENDING)
    local v, msg, code = retry(h, token, item)
    if v ~= WAIT then
      if v == CANCEL then error(cancel_value(finishes[retry]), 0) end
      if msg == nil then return v end
      return v, msg, code
    end
  end
end

-- The general method's answer: RAISE, WAIT (parked; go on as the fast
-- path would), or the results.
local function general(retry, h, v, a, b)
  if v == WAIT then return waited(retry, h, a, b) end
  if v == RAISE then raise(a) end
  if a == nil then return v end
  return v, a, b
end

local function queue(methods, make, put, get, retry_put, retry_get, store, slow_put, slow_get)
  finishes[retry_put], finishes[retry_get] = "queue:put", "queue:get"
  function methods.put(self, v, timeout)
    local h = known[self] or handle(self, methods, make, "queue:put", "queue")
    local r, a, b = put(h, v, timeout)
    if r == true then return true end
    if r == WAIT then return waited(retry_put, h, a, b) end
    if a ~= nil then return r, a, b end
    return general(retry_put, h, slow_put(self, store(h), v, timeout))
  end
  function methods.get(self, timeout)
    local h = known[self] or handle(self, methods, make, "queue:get", "queue")
    local r, a, b = get(h, timeout)
    if r == WAIT then return waited(retry_get, h, a) end
    if r ~= nil then return r end
    if a ~= nil then return r, a, b end
    return general(retry_get, h, slow_get(self, store(h), timeout))
  end
end

local function cond(methods, make, wait, retry, signal, broadcast, slow_wait, slow_signal, slow_broadcast)
  finishes[retry] = "cond:wait"
  function methods.wait(self, timeout)
    local h = known[self] or handle(self, methods, make, "cond:wait", "cond")
    local r, token = wait(h, timeout)
    if r == WAIT then return waited(retry, h, token) end
    return general(retry, h, slow_wait(self, timeout))
  end
  function methods.signal(self)
    local h = known[self] or handle(self, methods, make, "cond:signal", "cond")
    local r = signal(h)
    if r == nil then return slow_signal(self) end
    return r
  end
  function methods.broadcast(self)
    local h = known[self] or handle(self, methods, make, "cond:broadcast", "cond")
    local r = broadcast(h)
    if r == nil then return slow_broadcast(self) end
    return r
  end
end

return queue, cond
