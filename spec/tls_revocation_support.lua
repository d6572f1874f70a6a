-- Shared by tls_crl_spec.lua and tls_ocsp_spec.lua: the revocation
-- fixtures of scripts/gen-revocation.sh (made fresh in a temp dir, removed
-- at the end), and openssl peers on free ports.
local helper = require "helper"
local T = require "tls_support"

local R = {}

local dir
--- Makes the fixtures once per spec file; returns their directory.
function R.setup()
  if not dir then
    dir = os.tmpname()
    os.remove(dir)
    local cmd = ("sh %s %s >/dev/null"):format(T.q(T.root .. "/scripts/gen-revocation.sh"), T.q(dir))
    assert(os.execute(cmd), "scripts/gen-revocation.sh failed")
  end
  return dir
end

function R.teardown()
  if dir then os.execute("rm -rf " .. T.q(dir)) end
  dir = nil
end

--- Path of fixture `name` (with its extension: "rca.crl", "good.ocsp").
function R.file(name) return dir .. "/" .. name end
function R.pem(name) return R.file(name .. ".pem") end
function R.key(name) return R.file(name .. ".key") end

--- Client options trusting the revocation CA, plus `extra`.
function R.trust(extra)
  return T.with({ cafile = R.pem("rca") }, extra)
end

--- Server options for certificate `name`, plus `extra`.
function R.server(name, extra)
  return T.with({ cert = R.pem(name), key = R.key(name) }, extra)
end

--- A file in the fixture directory holding `data`; returns its path.
function R.put(name, data)
  T.write(R.file(name), data)
  return R.file(name)
end

-- Peers started by R.start, stopped by R.cleanup.
local peers = {}

--- T.start, with the peer stopped by R.cleanup (call it in after_each).
function R.start(cmd, port)
  local p = T.start(cmd, port)
  peers[#peers + 1] = p
  return p
end

function R.cleanup()
  for i = #peers, 1, -1 do
    peers[i]:stop()
    peers[i] = nil
  end
  T.cleanup()
end

--- `openssl s_server -www` on a free port serving certificate `cert`
-- (a chain file may follow it with -cert_chain), with extra arguments.
-- Returns "127.0.0.1:port" and the process.
function R.s_server(cert, args)
  local port = helper.free_port()
  local p = R.start(("openssl s_server -www -accept 127.0.0.1:%d -cert %s -key %s %s")
    :format(port, T.q(R.pem(cert)), T.q(R.key(cert)), args or ""), port)
  return "127.0.0.1:" .. port, p
end

--- `openssl s_client` against 127.0.0.1:port with extra arguments, sending
-- one line; returns exit code, stdout, stderr.
function R.s_client(port, args)
  return T.run(("openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s -ign_eof %s")
    :format(port, T.q(R.pem("rca")), args or ""), 15, "hello\n")
end

--- GET / from an `openssl s_server -www`; returns the status line.
function R.www(ios)
  assert(ios:write("GET / HTTP/1.0\r\n\r\n"))
  local page = assert(ios:read("a"))
  return page:match("^[^\r\n]*")
end

return R
