-- cqueues + luaossl side of bench/revocation.sh (bench/revocation.lua
-- describes the workload): N full handshakes, 20 coroutines at a time.
--
-- usage: lua5.4 bench/cqueues/revocation.lua MODE PORT DIR [N]
--   none  VERIFY_PEER against DIR/rca.pem and the host name
--   ocsp  + the status request, and after the handshake what luaossl can
--         check of the staple: OCSP_basic_verify (signature and responder
--         against the store) and "Cert Status: good" in its printed form.
--         luaossl has no OCSP_resp_find_status / OCSP_check_validity, so
--         CertID and dates go unchecked: less work than ours does.
--   crl   not possible: luaossl can add a CRL to an X509_STORE but exposes
--         no X509_V_FLAG_CRL_CHECK (no X509_STORE_set_flags or
--         X509_VERIFY_PARAM_set_flags), so OpenSSL never consults it;
--         prints "n/a".
local MODE, PORT, DIR = arg[1], tonumber(arg[2] or ""), arg[3]
local N = tonumber(arg[4] or "") or 1000
local CONC = 20
if not (MODE and PORT and DIR) then
  io.stderr:write("usage: lua5.4 bench/cqueues/revocation.lua none|ocsp|crl PORT DIR [N]\n")
  os.exit(2)
end
if MODE ~= "none" and MODE ~= "ocsp" then
  print(("cqueues %s hs_s=n/a (luaossl cannot turn on CRL checking)"):format(MODE))
  os.exit(0)
end

local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local context = require "openssl.ssl.context"
local openssl_ssl = require "openssl.ssl"
local x509_store = require "openssl.x509.store"
local verify_param = require "openssl.x509.verify_param"

local store = x509_store.new()
store:add(DIR .. "/rca.pem")
local ctx = context.new("TLS", false)
ctx:setVerify(context.VERIFY_PEER)
ctx:setStore(store)
local param = verify_param.new()
param:setHost("localhost")
ctx:setParam(param)

local function die(...)
  io.stderr:write("cqueues/revocation.lua: ", table.concat({ ... }), "\n")
  os.exit(1)
end

local function one()
  local con = socket.connect { host = "127.0.0.1", port = PORT, nodelay = true }
  local ssl = openssl_ssl.new(ctx)
  ssl:setHostName("localhost")
  if MODE == "ocsp" then ssl:setTLSextStatusType("ocsp") end
  local ok, why = con:starttls(ssl)
  if not ok then die("handshake: ", tostring(why)) end
  if MODE == "ocsp" then
    local resp = ssl:getTLSextStatusOCSPResp()
    if not resp then die("no staple") end
    local chain = ssl:getPeerChain()
    if not resp:getBasic():verify(chain, store) then die("staple does not verify") end
    if not tostring(resp):find("Cert Status: good", 1, true) then die("staple not good") end
  end
  con:close()
end

local cq = cqueues.new()
cq:wrap(one)
assert(cq:loop())
local t0, c0 = cqueues.monotime(), os.clock()
local done = 0
for _ = 1, CONC do
  cq:wrap(function()
    while done < N do
      done = done + 1
      one()
    end
  end)
end
assert(cq:loop())
local secs, cpu = cqueues.monotime() - t0, os.clock() - c0
print(("cqueues %s hs_s=%.0f cpu_ms=%.3f n=%d"):format(MODE, done / secs, cpu * 1000 / done, done))
