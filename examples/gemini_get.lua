#!/usr/bin/env lua
-- gemini_get: fetches a gemini:// URL and prints the response body,
-- trusting the server's certificate on first use: its fingerprint is
-- written to a known-hosts file the first time, and a later connection
-- to the same host and port that shows another certificate is refused.
--
--   lua examples/gemini_get.lua [--known-hosts FILE] [--cert CERT --key KEY] URL
--
-- --known-hosts: default ~/.gemini_known_hosts; lines "host:port SHA256:hex".
-- --cert/--key: a client certificate (Gemini's way of logging in).
-- The status line goes to stderr, the body to stdout.
-- Exit status: 0 for a 2x answer, 4 for any other status, 3 when the
-- certificate changed, 1 when the connection failed, 2 on bad usage.

local tls = require "tls"

local function usage()
  io.stderr:write("usage: lua examples/gemini_get.lua [--known-hosts FILE] [--cert CERT --key KEY] URL\n")
  os.exit(2)
end

local known = (os.getenv("HOME") or ".") .. "/.gemini_known_hosts"
local cert, key, url
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--known-hosts" then known, i = arg[i + 1], i + 2
  elseif a == "--cert" then cert, i = arg[i + 1], i + 2
  elseif a == "--key" then key, i = arg[i + 1], i + 2
  elseif not url then url, i = a, i + 1
  else usage() end
end
if not url or not known or (cert == nil) ~= (key == nil) then usage() end

local host, port = url:match("^gemini://%[([^%]]+)%]:?(%d*)")
if not host then host, port = url:match("^gemini://([^/:?#]+):?(%d*)") end
if not host then usage() end
port = tonumber(port) or 1965
local id = ("%s:%d"):format(host, port)

--- The fingerprint recorded for `id`, if any.
local function recorded()
  local f = io.open(known)
  if not f then return nil end
  for line in f:lines() do
    local h, fp = line:match("^(%S+)%s+(%S+)")
    if h == id then f:close() return fp end
  end
  f:close()
end

-- Any certificate will do (Gemini servers sign their own); its
-- fingerprint is what we check, below, before sending anything.
local opts = { insecure_no_verify_cert = true, insecure_no_verify_name = true, cert = cert, key = key }
local ios, err = tls.connect(host, port, opts)
if not ios then
  io.stderr:write("gemini_get: ", err, "\n")
  os.exit(1)
end
local seen = ios:info().peer.hash
local expected = recorded()
if not expected then
  local f = assert(io.open(known, "a"))
  f:write(id, " ", seen, "\n")
  f:close()
  io.stderr:write(("gemini_get: trusting new certificate for %s: %s\n"):format(id, seen))
elseif expected ~= seen then
  io.stderr:write(("gemini_get: the certificate of %s changed (known %s, now %s); refusing to continue\n")
    :format(id, expected, seen))
  ios:close()
  os.exit(3)
end
if not ios:peer_contains_name(host) then
  io.stderr:write(("gemini_get: note: the certificate does not name %s\n"):format(host))
end

assert(ios:write(url, "\r\n"))
local header, herr = ios:read("l")
if not header then
  io.stderr:write("gemini_get: no answer: ", tostring(herr), "\n")
  os.exit(1)
end
header = header:gsub("\r$", "")
io.stderr:write(header, "\n")
local status = tonumber(header:match("^(%d%d)"))
if status and status >= 20 and status < 30 then
  local body, berr = ios:read("a")
  if not body then
    io.stderr:write("gemini_get: ", tostring(berr), "\n")
    os.exit(1)
  end
  io.write(body)
  ios:close()
  os.exit(0)
end
ios:close()
os.exit(4)
