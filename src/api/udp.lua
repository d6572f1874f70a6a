-- s:recv, s:send and s:sendto: the raw fast path (fast/udp.rs) first,
-- which answers a datagram already queued, a send the socket takes now,
-- and parks a task whose recv must wait (we yield, then ask it again).
-- Every case it declines (it returns no value, having changed nothing the
-- general path would see) goes to the general methods, today's path:
-- bad arguments, blocking mode, timeouts that ran out, closed sockets.
-- Fixed parameters, no varargs: these are the hot paths of tls.udp.
local WAIT, PENDING, known, handle_of, fast_recv, fast_send, fast_sendto, recv, send, sendto = ...
local yield = coroutine.yield

-- The fast path's handle on `self`, made at its first call (nil for
-- anything that is not a udp socket: the general path raises for it).
local function handle(self)
  local h = handle_of(self)
  if h ~= nil then known[self] = h end
  return h
end

local function fast_recv_then(self, t)
  local h = known[self] or handle(self)
  if h ~= nil then
    local d, msg, code = fast_recv(h, t)
    while d == WAIT do
      yield(PENDING)
      d, msg, code = fast_recv(h, t)
    end
    if d ~= nil then return d, msg end
    if msg ~= nil then return nil, msg, code end
  end
  return recv(self, t)
end

local function fast_send_then(self, data)
  local h = known[self] or handle(self)
  if h ~= nil then
    local n, msg, code = fast_send(h, data)
    if n ~= nil then return n end
    if msg ~= nil then return nil, msg, code end
  end
  return send(self, data)
end

local function fast_sendto_then(self, data, to)
  local h = known[self] or handle(self)
  if h ~= nil then
    local n, msg, code = fast_sendto(h, data, to)
    if n ~= nil then return n end
    if msg ~= nil then return nil, msg, code end
  end
  return sendto(self, data, to)
end

return fast_recv_then, fast_send_then, fast_sendto_then
