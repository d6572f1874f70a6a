-- Our side of bench/revocation.sh: the cost of revocation checks per
-- handshake. N full handshakes (resumption off), 20 tasks at a time, each
-- connect + handshake + close, against the nginx that revocation.sh
-- starts (it staples a good OCSP response).
--
-- usage: lua5.4 bench/revocation.lua MODE PORT DIR [N]
--   none    chain and name only (cafile)
--   crl     + crl = DIR/rca.crl (3 entries)
--   bigcrl  + crl = DIR/big.crl (10,000 entries)
--   ocsp    + ocsp_require (the stapled response verified: CertID, the
--           responder certificate, two signatures, dates)
--   all     bigcrl and ocsp together
-- Prints one line: "ours MODE hs_s=... cpu_ms=... n=...".
local tls = require "tls"
local loop = require "tls.loop"

local MODE, PORT, DIR = arg[1], tonumber(arg[2] or ""), arg[3]
local N = tonumber(arg[4] or "") or 1000
local CONC = 20
if not (MODE and PORT and DIR) then
  io.stderr:write("usage: lua5.4 bench/revocation.lua none|crl|bigcrl|ocsp|all PORT DIR [N]\n")
  os.exit(2)
end

local opts = { cafile = DIR .. "/rca.pem", resumption = false }
if MODE == "crl" then opts.crl = DIR .. "/rca.crl" end
if MODE == "bigcrl" or MODE == "all" then opts.crl = DIR .. "/big.crl" end
if MODE == "ocsp" or MODE == "all" then opts.ocsp_require = true end
local cfg = tls.config(opts)
local addr = "127.0.0.1:" .. PORT

local function one()
  local ios, msg, code = tls.connecta(addr, "localhost", cfg)
  if not ios then
    io.stderr:write("revocation.lua: ", tostring(msg), " (", tostring(code), ")\n")
    os.exit(1)
  end
  if (MODE == "ocsp" or MODE == "all") and ios:info().ocsp.status ~= "good" then
    io.stderr:write("revocation.lua: no good staple\n")
    os.exit(1)
  end
  ios:close()
end

one() -- builds the config (reads the CRL) outside the timed part
local t0, c0 = loop.now(), os.clock()
local done = 0
local tasks = {}
for t = 1, CONC do
  tasks[t] = loop.spawn(function()
    while done < N do
      done = done + 1
      one()
    end
  end)
end
for t = 1, CONC do assert(tasks[t]:join()) end
local secs, cpu = loop.now() - t0, os.clock() - c0
print(("ours %s hs_s=%.0f cpu_ms=%.3f n=%d"):format(MODE, done / secs, cpu * 1000 / done, done))
