-- TEST-ONLY stand-in for the native tls.so, written in Lua on top of
-- cqueues (scheduler and polling) and LuaSocket + LuaSec (sockets, TLS).
--
-- It exists so that the Lua code written against docs API.md (examples,
-- benchmarks) can be run before the Rust library is usable. It follows the
-- contract loosely and is slow; it verifies certificates through OpenSSL
-- but does NOT check host names, cannot resume sessions (info().resumed is
-- always false) and cannot tell a truncated TLS stream from a clean end.
-- Never ship it, never benchmark it.
--
-- Use: LUA_PATH="spec/support/apishim/?.lua;lua/?.lua;;" lua5.4 script.lua

local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local socket = require "socket"
local ssl = require "ssl"

local core = {}

local cq = cqueues.new()
core.cq = cq

---------------------------------------------------------------------------
-- Tasks and blocking mode

local function in_task()
  local _, inside = cqueues.running()
  return inside
end

-- Runs the controller until pred() holds; errors of tasks nobody joins
-- come out here.
local function drive(pred, deadline)
  while not pred() do
    local timeout = 0.05
    if deadline then
      timeout = math.max(0, math.min(timeout, deadline - cqueues.monotime()))
    end
    local ok, err = cq:step(timeout)
    if not ok then
      error(err, 0)
    end
    if deadline and cqueues.monotime() >= deadline then
      break
    end
  end
end

local Task = {}
Task.__index = Task

function core.spawn(f, ...)
  local task = setmetatable({ done = false, cond = condition.new(), joiners = 0 }, Task)
  local args = table.pack(...)
  cq:wrap(function()
    local res = table.pack(xpcall(f, debug.traceback, table.unpack(args, 1, args.n)))
    task.res = res
    task.done = true
    task.cond:signal()
    if not res[1] and task.joiners == 0 and not task.quiet then
      -- Yield once so that a join() coming right after can still take it.
      cqueues.sleep(0)
      if task.joiners == 0 then
        error(res[2], 0)
      end
    end
  end)
  return task
end

function Task:join()
  self.joiners = self.joiners + 1
  if in_task() then
    while not self.done do
      self.cond:wait()
    end
  else
    drive(function() return self.done end)
  end
  local res = self.res
  if res[1] then
    return true, table.unpack(res, 2, res.n)
  end
  return false, res[2]
end

-- Runs fn(...) as if blocking: directly in a task, through the loop from
-- the main thread.
function core.blocking(fn, ...)
  if in_task() then
    return fn(...)
  end
  local task = core.spawn(fn, ...)
  task.quiet = true
  local res = table.pack(task:join())
  if not res[1] then
    error(res[2], 0)
  end
  return table.unpack(res, 2, res.n)
end

function core.sleep(s)
  if in_task() then
    cqueues.sleep(s)
  else
    local deadline = cqueues.monotime() + s
    drive(function() return cqueues.monotime() >= deadline end, deadline)
  end
end

core.now = cqueues.monotime

---------------------------------------------------------------------------
-- Polling a LuaSocket descriptor

local function wait_fd(fd, events, deadline)
  local timeout
  if deadline then
    timeout = deadline - cqueues.monotime()
    if timeout <= 0 then
      return false
    end
  end
  local obj = {
    pollfd = function() return fd end,
    events = function() return events end,
    timeout = function() return timeout end,
  }
  local ready = cqueues.poll(obj, timeout)
  return ready == obj
end

-- Closes a LuaSocket object that cqueues may have polled.
local function close_sock(sock)
  pcall(cqueues.cancel, sock:getfd())
  sock:close()
end

local function deadline_of(t)
  return t and (cqueues.monotime() + t) or nil
end

---------------------------------------------------------------------------
-- Addresses

local Addr = {}
Addr.__index = Addr
Addr.__tostring = function(a)
  if a.family == "ip6" then
    return "[" .. a.addr .. "]:" .. a.port
  end
  return a.addr .. ":" .. a.port
end

function core.addr(addr, port)
  local family = addr:find(":", 1, true) and "ip6" or "ip4"
  return setmetatable({ family = family, addr = addr, port = math.tointeger(tonumber(port)) }, Addr)
end

function core.resolve(host, port)
  if host:find("^%d+%.%d+%.%d+%.%d+$") or host:find(":", 1, true) then
    return { core.addr(host, port) }
  end
  local res, err = socket.dns.getaddrinfo(host)
  if not res then
    return nil, "cannot resolve " .. host .. ": " .. tostring(err), "nxdomain"
  end
  local out = {}
  for _, r in ipairs(res) do
    out[#out + 1] = core.addr(r.addr, port)
  end
  if #out == 0 then
    return nil, "no address for " .. host, "noaddress"
  end
  return out
end

---------------------------------------------------------------------------
-- Streams

local Ios = {}
Ios.__index = Ios

local function new_ios(sock, kind)
  sock:settimeout(0)
  return setmetatable({ sock = sock, fd = sock:getfd(), kind = kind, buf = "", eof = false }, Ios)
end
core.new_ios = new_ios

local function errcode(err)
  if err == "closed" then
    return "closed"
  elseif err == "timeout" then
    return "timeout"
  elseif tostring(err):find("refused") then
    return "refused"
  elseif tostring(err):find("reset") then
    return "reset"
  end
  return "closed"
end

-- Reads more into the buffer; false, msg, code on failure.
function Ios:fill(deadline)
  while true do
    local data, err, partial = self.sock:receive(65536)
    local got = data or partial
    if got and #got > 0 then
      self.buf = self.buf .. got
      if err == "closed" then
        self.eof = true
      end
      return true
    end
    if err == "closed" then
      self.eof = true
      return true
    elseif err == "timeout" or err == "wantread" then
      if not wait_fd(self.fd, "r", deadline) then
        return false, "read timed out", "timeout"
      end
    elseif err == "wantwrite" then
      if not wait_fd(self.fd, "w", deadline) then
        return false, "read timed out", "timeout"
      end
    else
      return false, tostring(err), errcode(err)
    end
  end
end

function Ios:read_one(fmt, deadline)
  if type(fmt) == "string" then
    fmt = fmt:gsub("^%*", ""):sub(1, 1)
  end
  if fmt == "l" or fmt == "L" then
    while true do
      local nl = self.buf:find("\n", 1, true)
      if nl then
        local line = self.buf:sub(1, fmt == "L" and nl or nl - 1)
        self.buf = self.buf:sub(nl + 1)
        return line
      end
      if self.eof then
        if #self.buf > 0 then
          local line = self.buf
          self.buf = ""
          return line
        end
        return nil
      end
      local ok, msg, code = self:fill(deadline)
      if not ok then
        return nil, msg, code
      end
    end
  elseif fmt == "a" then
    while not self.eof do
      local ok, msg, code = self:fill(deadline)
      if not ok then
        return nil, msg, code
      end
    end
    local s = self.buf
    self.buf = ""
    return s
  elseif fmt == "b" then
    if #self.buf == 0 and not self.eof then
      local ok, msg, code = self:fill(deadline)
      if not ok then
        return nil, msg, code
      end
    end
    if #self.buf == 0 then
      return nil
    end
    local s = self.buf
    self.buf = ""
    return s
  elseif math.type(fmt) == "integer" or (type(fmt) == "number") then
    local n = math.tointeger(fmt)
    while #self.buf < n and not self.eof do
      local ok, msg, code = self:fill(deadline)
      if not ok then
        return nil, msg, code
      end
    end
    if #self.buf == 0 and n > 0 then
      return nil
    end
    local s = self.buf:sub(1, n)
    self.buf = self.buf:sub(n + 1)
    return s
  end
  error("bad argument to 'read' (invalid format '" .. tostring(fmt) .. "')", 3)
end

function Ios:read(...)
  if self.closed then
    return nil, "stream is closed", "closed"
  end
  local fmts = table.pack(...)
  if fmts.n == 0 then
    fmts = { "l", n = 1 }
  end
  local out = {}
  local this = self
  return core.blocking(function()
    local deadline = deadline_of(this.timeout)
    for i = 1, fmts.n do
      local v, msg, code = this:read_one(fmts[i], deadline)
      if v == nil then
        if msg then
          return nil, msg, code
        end
        out[i] = nil
        return table.unpack(out, 1, i)
      end
      out[i] = v
    end
    return table.unpack(out, 1, fmts.n)
  end)
end

function Ios:lines(...)
  local fmts = table.pack(...)
  return function()
    local v, msg = self:read(table.unpack(fmts, 1, fmts.n))
    if v == nil and msg then
      error(msg, 2)
    end
    return v
  end
end

function Ios:write(...)
  if self.closed then
    return nil, "stream is closed", "closed"
  end
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) ~= "string" and type(v) ~= "number" then
      error("bad argument #" .. i .. " to 'write' (string expected, got " .. type(v) .. ")", 2)
    end
    parts[i] = tostring(v)
  end
  local data = table.concat(parts)
  local this = self
  return core.blocking(function()
    local deadline = deadline_of(this.timeout)
    local i = 1
    while i <= #data do
      local last, err, partial = this.sock:send(data, i)
      if last then
        i = last + 1
      else
        if partial and partial >= i then
          i = partial + 1
        end
        if err == "timeout" or err == "wantwrite" then
          if not wait_fd(this.fd, "w", deadline) then
            return nil, "write timed out", "timeout"
          end
        elseif err == "wantread" then
          if not wait_fd(this.fd, "r", deadline) then
            return nil, "write timed out", "timeout"
          end
        else
          return nil, "write failed: " .. tostring(err), errcode(err)
        end
      end
    end
    return this
  end)
end

function Ios:flush()
  if self.closed then
    return nil, "stream is closed", "closed"
  end
  return self
end

function Ios:setvbuf()
  return true
end

function Ios:settimeout(t)
  self.timeout = t
  return self
end

function Ios:shutdown()
  if self.kind == "tcp" then
    self.sock:shutdown("send")
  end
  return true
end

function Ios:close()
  if not self.closed then
    self.closed = true
    cqueues.cancel(self.fd)
    self.sock:close()
  end
  return true
end

Ios.__close = Ios.close
Ios.__gc = Ios.close
Ios.__tostring = function(self)
  return "ios (shim " .. self.kind .. ")"
end

function Ios:getpeername()
  local addr, port = self.sock:getpeername()
  return addr and core.addr(addr, port)
end

function Ios:getsockname()
  local addr, port = self.sock:getsockname()
  return addr and core.addr(addr, port)
end

function Ios:info()
  if self.kind ~= "tls" then
    return nil
  end
  local i = self.sock:info() or {}
  return { version = i.protocol, cipher = i.cipher, resumed = false, servername = self.servername }
end

---------------------------------------------------------------------------
-- TCP

function core.tcp_connect_addr(a, opts)
  local sock = a.family == "ip6" and socket.tcp6() or socket.tcp()
  sock:settimeout(0)
  local deadline = deadline_of(opts and opts.timeout)
  local ok, err = sock:connect(a.addr, a.port)
  if not ok and err == "timeout" then
    if not wait_fd(sock:getfd(), "w", deadline) then
      close_sock(sock)
      return nil, "connect to " .. tostring(a) .. " timed out", "timeout"
    end
    ok, err = sock:connect(a.addr, a.port)
    if not ok and err == "already connected" then
      ok = true
    end
  end
  if not ok then
    close_sock(sock)
    return nil, "connect to " .. tostring(a) .. ": " .. tostring(err), errcode(err)
  end
  sock:setoption("tcp-nodelay", true)
  return new_ios(sock, "tcp")
end

function core.tcp_connect(host, port, opts)
  return core.blocking(function()
    local addrs, msg, code = core.resolve(host, port)
    if not addrs then
      return nil, msg, code
    end
    for _, a in ipairs(addrs) do
      local ios
      ios, msg, code = core.tcp_connect_addr(a, opts)
      if ios then
        return ios
      end
    end
    return nil, msg, code
  end)
end

local Server = {}
Server.__index = Server

function Server:close()
  if not self.closed then
    self.closed = true
    cqueues.cancel(self.fd)
    self.sock:close()
  end
  return true
end

function Server:address()
  return self.addr
end

-- wrap(client_sock) returns an ios or nil, msg (e.g. a failed handshake).
function core.listen(host, port, handler, wrap)
  local sock = host:find(":", 1, true) and socket.tcp6() or socket.tcp()
  sock:setoption("reuseaddr", true)
  if host:find(":", 1, true) then
    sock:setoption("ipv6-v6only", true)
  end
  local ok, err = sock:bind(host, port)
  if not ok then
    sock:close()
    return nil, "cannot listen on " .. host .. ":" .. port .. ": " .. tostring(err), "unreachable"
  end
  ok, err = sock:listen(1024)
  if not ok then
    sock:close()
    return nil, tostring(err), "unreachable"
  end
  sock:settimeout(0)
  local laddr, lport = sock:getsockname()
  local srv = setmetatable({ sock = sock, fd = sock:getfd(), addr = core.addr(laddr, lport) }, Server)
  cq:wrap(function()
    while not srv.closed do
      if wait_fd(srv.fd, "r", cqueues.monotime() + 0.05) and not srv.closed then
        local client = sock:accept()
        if client then
          cq:wrap(function()
            local ios, msg = wrap(client)
            if not ios then
              io.stderr:write("shim server: ", tostring(msg), "\n")
              return
            end
            local hok, herr = xpcall(handler, debug.traceback, ios)
            if not hok then
              io.stderr:write("shim server: handler error: ", tostring(herr), "\n")
            end
            ios:close()
          end)
        end
      end
    end
  end)
  return srv
end

---------------------------------------------------------------------------
-- TLS (LuaSec)

local function handshake(conn, deadline)
  while true do
    local ok, err = conn:dohandshake()
    if ok then
      return true
    end
    if err == "wantread" then
      if not wait_fd(conn:getfd(), "r", deadline) then
        return nil, "handshake timed out", "timeout"
      end
    elseif err == "wantwrite" then
      if not wait_fd(conn:getfd(), "w", deadline) then
        return nil, "handshake timed out", "timeout"
      end
    else
      local code = tostring(err):find("certificate") and "certificate" or "handshake"
      return nil, "TLS handshake failed: " .. tostring(err), code
    end
  end
end

-- LuaSec wants files: PEM text goes through a temporary file (left in
-- /tmp when the script ends with os.exit without closing the state).
local pem_files = {}
local function pem_path(v)
  if v and v:find("-----BEGIN", 1, true) then
    if not pem_files[v] then
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(v)
      f:close()
      pem_files[v] = path
    end
    return pem_files[v]
  end
  return v
end

function core.tls_client(ios, hostname, opts, deadline)
  local params = {
    mode = "client",
    protocol = "any",
    options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
    verify = opts.insecure_no_verify_cert and "none" or "peer",
    cafile = pem_path(opts.cafile or opts.ca),
  }
  if not params.cafile and not opts.insecure_no_verify_cert then
    params.capath = "/etc/ssl/certs"
  end
  local conn, err = ssl.wrap(ios.sock, params)
  if not conn then
    ios:close()
    return nil, "TLS setup failed: " .. tostring(err), "handshake"
  end
  conn:settimeout(0)
  if not hostname:find("^[%d.]+$") and not hostname:find(":", 1, true) then
    conn:sni(hostname)
  end
  local ok, msg, code = handshake(conn, deadline)
  if not ok then
    close_sock(conn)
    return nil, msg, code
  end
  local t = new_ios(conn, "tls")
  t.servername = hostname
  return t
end

function core.tls_server_wrap(opts)
  local params = {
    mode = "server",
    protocol = "any",
    key = pem_path(opts.key),
    certificate = pem_path(opts.cert),
    options = { "all", "no_sslv2", "no_sslv3" },
  }
  local ctx = assert(ssl.newcontext(params))
  return function(client)
    client:settimeout(0)
    local conn, err = ssl.wrap(client, ctx)
    if not conn then
      close_sock(client)
      return nil, err
    end
    conn:settimeout(0)
    local ok, msg = handshake(conn, cqueues.monotime() + 10)
    if not ok then
      close_sock(conn)
      return nil, msg
    end
    return new_ios(conn, "tls")
  end
end

return core
