-- Our side of the server benchmark (bench/servers.sh): a keep-alive
-- HTTP/1.1 "hello" server on 127.0.0.1, run until killed.
--
-- usage: lua5.4 bench/http_ours.lua http|https [CERTDIR]
-- prints "port=N" once it listens (port 0: a free one).
--
-- Each connection is one task (tcp.listen / tls.listen): read the request
-- line and the head with read("l") up to the empty line, answer with a
-- fixed 6-byte body, go on with the next request unless the client said
-- "Connection: close". No body is read (wrk sends none). The handler is
-- plain Lua on purpose: it is what a user of the library would write.

local mode, certdir = arg[1] or "http", arg[2] or "target/bench-certs"
local tls = require "tls"
local tcp = require "tls.tcp"
local find = string.find

local BODY = "hello\n"
local KEEP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
  .. #BODY .. "\r\n\r\n" .. BODY
local CLOSE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
  .. #BODY .. "\r\nConnection: close\r\n\r\n" .. BODY

local function handler(ios)
  while true do
    local line = ios:read("l")
    if not line then return end
    local close = false
    repeat
      local h = ios:read("l")
      if not h then return end
      -- "Connection: close" (any case of the name; wrk sends it so).
      if find(h, "^[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]:%s*[Cc]lose") then
        close = true
      end
    until h == "\r" or h == ""
    if not ios:write(close and CLOSE or KEEP) or close then return end
  end
end

local server
if mode == "https" then
  server = assert(tls.listen("127.0.0.1", 0, handler, {
    cert = certdir .. "/server.pem",
    key = certdir .. "/server.key",
    protocols = "tlsv1.3",
    backlog = 4096,
  }))
else
  server = assert(tcp.listen("127.0.0.1", 0, handler, { backlog = 4096 }))
end
io.stdout:write("port=", server:address().port, "\n")
io.stdout:flush()
tls.loop.run()
