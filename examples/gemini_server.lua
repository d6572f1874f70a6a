#!/usr/bin/env lua
-- gemini_server: a Gemini server (gemini://, TLS on port 1965) that knows
-- its visitors by their client certificates, trust on first use: any
-- certificate is accepted, self-signed as Gemini clients make them, and
-- the SHA-256 fingerprint of it is the visitor's identity.
--
--   lua examples/gemini_server.lua CERT KEY [HOST [PORT]]
--
-- CERT/KEY: the server's certificate (self-signed is usual in Gemini; make
-- one with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
-- -nodes -keyout key.pem -out cert.pem -subj /CN=localhost -addext
-- subjectAltName=DNS:localhost,IP:127.0.0.1`). HOST defaults to 127.0.0.1,
-- PORT to 1965 (0 picks a free one). Prints "gemini server on HOST:PORT".
-- Replace CERT and KEY on disk and new connections get the new pair.
--
-- Pages:
--   /          a greeting; says who you are if you sent a certificate
--   /whoami    needs a certificate (status 60 otherwise): your fingerprint
--              and how many times it has been here
--   anything else: 51 Not found; a request that is not a gemini:// URL: 59

local tls = require "tls"
local loop = require "tls.loop"

local cert, key, host, port = arg[1], arg[2], arg[3] or "127.0.0.1", tonumber(arg[4] or "1965")
if not cert or not key or not port then
  io.stderr:write("usage: lua examples/gemini_server.lua CERT KEY [HOST [PORT]]\n")
  os.exit(2)
end

local visits = {} -- fingerprint -> count

local function answer(ios, status, meta, body)
  ios:write(("%d %s\r\n"):format(status, meta), body or "")
end

local function serve(ios)
  ios:settimeout(10)
  -- A request is one absolute URL of at most 1024 bytes, then CRLF.
  ios:setmaxline(1026)
  local line = ios:read("l")
  if not line then return end
  local url = line:gsub("\r$", "")
  local path = url:match("^gemini://[^/]+(/?[^?#]*)")
  if not path then
    return answer(ios, 59, "Bad request: a gemini:// URL expected")
  end
  local peer = ios:info().peer
  local who = peer and peer.hash
  if path == "" or path == "/" then
    local greeting = who and ("You are " .. who .. ".\n")
      or "You sent no client certificate; /whoami needs one.\n"
    answer(ios, 20, "text/gemini", "# Hello\n\n" .. greeting .. "=> /whoami Who am I?\n")
  elseif path == "/whoami" then
    if not who then
      return answer(ios, 60, "Client certificate required")
    end
    visits[who] = (visits[who] or 0) + 1
    answer(ios, 20, "text/gemini", ("# Who you are\n\n%s\nsubject %s\nvisit %d\n")
      :format(who, tostring(peer.subject), visits[who]))
  else
    answer(ios, 51, "Not found")
  end
end

local server, err = tls.listen(host, port, function(ios)
  serve(ios)
  ios:close()
end, {
  cert = cert,
  key = key,
  -- Ask for a certificate, accept any (or none): trust on first use.
  verify_client = "optional",
  insecure_no_verify_cert = true,
})
if not server then
  io.stderr:write("gemini_server: ", err, "\n")
  os.exit(1)
end
local a = server:address()
print(("gemini server on %s:%d"):format(a.host or host, a.port))
io.stdout:flush()
loop.run()
