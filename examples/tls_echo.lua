#!/usr/bin/env lua
-- tls_echo: a TLS echo server that requires client certificates, and
-- clients that connect to it with and without one.
--
--   lua examples/tls_echo.lua [CERTDIR]
--
-- CERTDIR holds the test certificates that scripts/gen-certs.sh writes
-- (ca.pem, server.pem/key, client.pem/key, foreign-client.pem/key); when
-- they are missing there, gen-certs.sh makes them. Without CERTDIR the
-- script uses spec/certs if it has them, else a temporary directory that
-- it removes at the end.
--
-- Everything runs in one process and one loop: the server on a free port
-- of 127.0.0.1, then four clients in turn. Exit status 0 when each client
-- saw what it should.

local tls = require "tls"
local loop = require "tls.loop"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

--- The certificate directory, and whether it is ours to remove.
local function certificates()
  local dir, temporary = arg[1], false
  if not dir then
    dir = here .. "/../spec/certs"
    if not exists(dir .. "/client.pem") then
      dir, temporary = os.tmpname(), true
      os.remove(dir)
    end
  end
  if not exists(dir .. "/client.pem") then
    print("generating test certificates in " .. dir)
    local script = here .. "/../scripts/gen-certs.sh"
    assert(os.execute(("sh %q %q >/dev/null 2>&1"):format(script, dir)), "gen-certs.sh failed")
  end
  return dir, temporary
end

local dir, temporary = certificates()
local function path(name) return dir .. "/" .. name end

-- The server: its own certificate, and client certificates must chain to
-- the test CA. ALPN names the protocol spoken inside.
local server = assert(tls.listen("127.0.0.1", 0, function(ios)
  -- The handshake is complete here, so the client's certificate is known.
  local info = ios:info()
  print(("server: client %q (issued by %s) over %s, alpn %s"):format(
    info.peer.common_name, info.peer.issuer, info.version, tostring(info.alpn)))
  -- A while loop, not `for line in ios:lines("L")`: Lua 5.1 cannot yield
  -- inside a for iterator, and this runs on every Lua version.
  local line = ios:read("L")
  while line do
    ios:write(line)
    line = ios:read("L")
  end
end, {
  cert = path("server.pem"),
  key = path("server.key"),
  cafile = path("ca.pem"),
  verify_client = "required",
  alpn = { "echo/1" },
}))
local address = server:address()
print("server: listening on " .. tostring(address))

local failures = 0
local function expect(what, ok)
  print((ok and "ok:   " or "FAIL: ") .. what)
  if not ok then failures = failures + 1 end
end

-- One configuration for the good client: connections made with it share a
-- session cache, so the second one resumes the first one's session.
local good = tls.config {
  cafile = path("ca.pem"),
  cert = path("client.pem"),
  key = path("client.key"),
  alpn = { "echo/1" },
  timeout = 5,
}

for round = 1, 2 do
  local ios = assert(tls.connecta(address, "localhost", good))
  ios:settimeout(5)
  local info = ios:info()
  print(("client: server certificate %s, %s, %s, resumed: %s"):format(
    info.peer.subject, info.version, info.cipher, tostring(info.resumed)))
  expect("round " .. round .. ": ALPN chose echo/1", info.alpn == "echo/1")
  expect("round " .. round .. ": resumed is " .. tostring(round == 2), info.resumed == (round == 2))
  assert(ios:write("hello over TLS\n", "second line\n"))
  expect("round " .. round .. ": echoed line 1", ios:read("l") == "hello over TLS")
  expect("round " .. round .. ": echoed line 2", ios:read("l") == "second line")
  ios:close()
end

-- Clients the server must turn away. With TLS 1.3 the client finishes its
-- half of the handshake before the server has checked the client's
-- certificate, so connecta succeeds and the refusal arrives with the first
-- read: nil, message, "certificate".
local function refused(label, opts)
  opts.cafile = path("ca.pem")
  opts.timeout = 5
  local ios, err, code = tls.connecta(address, "localhost", opts)
  if ios then
    ios:settimeout(5)
    ios:write("let me in\n")
    local line
    line, err, code = ios:read("l")
    ios:close()
    if line then err, code = "the server answered: " .. line, nil end
  end
  print(("client %s: %s (%s)"):format(label, tostring(err), tostring(code)))
  expect(label .. " is refused with code certificate", code == "certificate")
end

refused("without a certificate", {})
refused("with a certificate from an unknown CA", {
  cert = path("foreign-client.pem"),
  key = path("foreign-client.key"),
})

server:close()
loop.run()
if temporary then os.execute(("rm -rf %q"):format(dir)) end
print(failures == 0 and "all checks passed" or failures .. " checks failed")
os.exit(failures == 0 and 0 or 1)
