-- cqueues + luaossl side of the server benchmark (bench/servers.sh): the
-- same keep-alive HTTP/1.1 "hello" server as bench/http_ours.lua, on
-- 127.0.0.1, run until killed.
--
-- usage: lua5.4 bench/cqueues/http_server.lua http|https [CERTDIR]
-- prints "port=N" once it listens.
--
-- One controller; each accepted socket gets its own coroutine (cq:wrap).
-- HTTPS: con:starttls(ctx) with one server context (TLS 1.3 only, the
-- same certificate and key as the other servers). Binary mode with full
-- output buffering and a flush per response, as cqueues users write it
-- for speed.

local mode, certdir = arg[1] or "http", arg[2] or "target/bench-certs"
local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local find = string.find

local BODY = "hello\n"
local KEEP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
  .. #BODY .. "\r\n\r\n" .. BODY
local CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
  .. #BODY .. "\r\nConnection: close\r\n\r\n" .. BODY

local ctx
if mode == "https" then
  local context = require "openssl.ssl.context"
  local x509 = require "openssl.x509"
  local pkey = require "openssl.pkey"
  local function slurp(p)
    local f = assert(io.open(p, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end
  ctx = context.new("TLS", true)
  ctx:setOptions(context.OP_NO_TLSv1 + context.OP_NO_TLSv1_1 + context.OP_NO_TLSv1_2)
  assert(ctx:setCertificate(x509.new(slurp(certdir .. "/server.pem"))))
  assert(ctx:setPrivateKey(pkey.new(slurp(certdir .. "/server.key"))))
end

local function serve(con)
  if ctx then
    local ok = con:starttls(ctx)
    if not ok then con:close() return end
  end
  con:setmode("b", "bf")
  while true do
    local line = con:read("*l")
    if not line then break end
    local close = false
    repeat
      local h = con:read("*l")
      if not h then con:close() return end
      if find(h, "^[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]:%s*[Cc]lose") then
        close = true
      end
    until h == "\r" or h == ""
    if not con:write(close and CLOSE or KEEP) or not con:flush() or close then break end
  end
  con:close()
end

local cq = cqueues.new()
local srv = assert(socket.listen { host = "127.0.0.1", port = 0, reuseaddr = true,
  nodelay = true, backlog = 4096 })
assert(srv:listen())
local _, _, port = srv:localname()
io.stdout:write("port=", port, "\n")
io.stdout:flush()

cq:wrap(function()
  for con in srv:clients() do
    -- A peer that resets mid-handshake makes starttls raise: that ends
    -- this connection only, quietly (the other servers say nothing either).
    cq:wrap(function() pcall(serve, con) end)
  end
end)
-- A failed connection (reset mid-request...) must not end the server.
while true do
  local ok, err = cq:loop()
  if not ok then io.stderr:write("cqueues: ", tostring(err), "\n") end
end
