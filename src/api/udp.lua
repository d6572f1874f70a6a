-- s:recv, s:send and s:sendto: the raw fast path (fast/udp.rs) first,
-- which answers a datagram already queued, a send the socket takes now,
-- and parks a task whose recv must wait (we yield, then ask it again).
-- Every case it declines (it returns no value, having changed nothing the
-- general path would see) goes to the general methods, today's path:
-- bad arguments, blocking mode, timeouts that ran out, closed sockets.
-- The fast functions take the socket itself and find its handle in
-- `known`; a socket not there yet gets one (`handle_of`) at its first
-- declined call, which is then tried again once.
-- Fixed parameters, no varargs: these are the hot paths of tls.udp.
local WAIT, PENDING, known, handle_of, fast_recv, fast_send, fast_sendto, recv, send, sendto = ...
local yield = coroutine.yield

-- Whether `self` just got its handle (false for a socket that had one,
-- and for anything that is not a udp socket: the general path raises).
local function new_handle(self)
  if known[self] ~= nil then return false end
  local h = handle_of(self)
  if h == nil then return false end
  known[self] = h
  return true
end

local function fast_recv_then(self, t)
  local d, msg, code = fast_recv(self, t)
  if d ~= nil then
    while d == WAIT do
      yield(PENDING)
      d, msg, code = fast_recv(self, t)
    end
    if d ~= nil then return d, msg end
  end
  if msg ~= nil then return nil, msg, code end
  if new_handle(self) then return fast_recv_then(self, t) end
  return recv(self, t)
end

local function fast_send_then(self, data)
  local n, msg, code = fast_send(self, data)
  if n ~= nil then return n end
  if msg ~= nil then return nil, msg, code end
  if new_handle(self) then return fast_send_then(self, data) end
  return send(self, data)
end

local function fast_sendto_then(self, data, to)
  local n, msg, code = fast_sendto(self, data, to)
  if n ~= nil then return n end
  if msg ~= nil then return nil, msg, code end
  if new_handle(self) then return fast_sendto_then(self, data, to) end
  return sendto(self, data, to)
end

-- After a C front (fast/udp.rs, Lua 5.3 and 5.4) parked the task: wait,
-- then receive.
local function waited(self, t)
  yield(PENDING)
  return fast_recv_then(self, t)
end

return fast_recv_then, fast_send_then, fast_sendto_then, waited
