-- One of the two server processes of bench/tls_tickets.sh: our TLS 1.3
-- server on 127.0.0.1:PORT with SO_REUSEPORT (the other process listens on
-- the same port) and session tickets under the keys of KEYFILE, so a
-- session one process issued resumes on the other.
--
-- usage: lua5.4 bench/tls_ticket_server.lua PORT CERTDIR KEYFILE
--
-- Answers any request with "HTTP/1.1 200 OK" and "ok\n" (as nginx's
-- /hello in bench/nginx/nginx.sh), then closes with close_notify.
local tls = require "tls"
local loop = require "tls.loop"

local port, certs, keyfile = tonumber(arg[1] or ""), arg[2], arg[3]
if not (port and certs and keyfile) then
  io.stderr:write("usage: lua5.4 bench/tls_ticket_server.lua PORT CERTDIR KEYFILE\n")
  os.exit(2)
end

local REPLY = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"

local server = assert(tls.listen("127.0.0.1", port, function(ios)
  ios:settimeout(30)
  repeat
    local line = ios:read("l")
  until not line or line == "\r" or line == ""
  ios:write(REPLY)
  ios:close()
end, {
  cert = certs .. "/server.pem",
  key = certs .. "/server.key",
  protocols = "tlsv1.3",
  ticket_key_file = keyfile,
  reuseport = true,
  backlog = 4096,
}))
print("listening on " .. server:address().port)
io.stdout:flush()
loop.run()
