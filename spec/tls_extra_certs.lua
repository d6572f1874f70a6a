-- The extra certificates of scripts/gen-extra-certs.sh (self-signed client
-- and server certificates, a chain three deep), made once per spec run in
-- a fresh temp dir, and the SHA-256 fingerprint openssl computes for one.
local T = require "tls_support"

local X = {}
local dir

--- Makes the certificates (once); returns their directory with a slash.
function X.dir()
  if not dir then
    dir = os.tmpname()
    os.remove(dir)
    local cmd = ("sh %s %s"):format(T.q(T.root .. "/scripts/gen-extra-certs.sh"), T.q(dir))
    assert(os.execute(cmd), "scripts/gen-extra-certs.sh failed")
    dir = dir .. "/"
  end
  return dir
end

function X.pem(name) return X.dir() .. name .. ".pem" end
function X.key(name) return X.dir() .. name .. ".key" end

--- `SHA256:<hex>` of a certificate file, computed by openssl.
function X.fingerprint(path)
  local p = assert(io.popen("openssl x509 -noout -fingerprint -sha256 -in " .. T.q(path)))
  local out = p:read("*a")
  p:close()
  local hex = assert(out:match("=([%x:]+)"), out)
  return "SHA256:" .. hex:gsub(":", ""):lower()
end

--- Removes the temp dir.
function X.cleanup()
  if dir then
    os.execute("rm -rf " .. T.q(dir))
    dir = nil
  end
end

return X
