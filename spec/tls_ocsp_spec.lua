-- OCSP stapling against real peers: our client checks what `openssl
-- s_server -status_file` and nginx (`ssl_stapling_file`) staple; `openssl
-- s_client -status` sees what our server staples. The responses come from
-- `openssl ocsp -index` (scripts/gen-revocation.sh).
local tls = require "tls"
local helper = require "helper"
local T = require "tls_support"
local R = require "tls_revocation_support"

local bounded, fails, raises, q = T.bounded, T.fails, T.raises, T.q
local file, trust = R.file, R.trust

-- os.execute gives true on 5.2+ and 0 on 5.1 for success.
local function have(cmd)
  local r = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return r == true or r == 0
end

-- s_server stapling `staple` (a fixture file name) with certificate `cert`.
local function stapling(cert, staple, args)
  return R.s_server(cert, ("-status_file %s %s"):format(q(file(staple)), args or ""))
end

-- Connects, fetches the page, closes; returns ios:info().
local function info_of(addr, opts)
  local ios = assert(tls.connecta(addr, "localhost", opts))
  local i = ios:info()
  assert.equal("HTTP/1.0 200 ok", R.www(ios))
  ios:close()
  return i
end

describe("tls ocsp", function()
  setup(function() R.setup() end)
  teardown(function() R.teardown() end)
  after_each(function() R.cleanup() end)

  describe("our client against openssl s_server -status_file", function()
    for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
      it(flag .. ": a good staple shows in info().ocsp", function()
        local addr = stapling("good", "good.ocsp", flag)
        bounded(20, function()
          local now = os.time()
          local o = info_of(addr, trust()).ocsp
          assert.equal("good", o.status)
          assert(o.this_update <= now + 60 and o.this_update > now - 3600, o.this_update)
          assert(o.next_update > now + 20 * 86400, o.next_update)
          assert.is_nil(o.revocation_time)
          assert.is_nil(o.reason)
          -- ocsp_require is satisfied.
          assert.equal("good", info_of(addr, trust { ocsp_require = true }).ocsp.status)
        end)
      end)

      it(flag .. ": a stapled 'revoked' fails with code 'certificate'", function()
        local addr = stapling("revoked", "revoked.ocsp", flag)
        bounded(20, function()
          fails("certificate", { "certificate revoked", "stapled OCSP response", "keyCompromise" },
            tls.connecta(addr, "localhost", trust()))
        end)
      end)
    end

    it("a staple signed by the issuer itself counts", function()
      local addr = stapling("good", "good-ca.ocsp")
      bounded(20, function()
        assert.equal("good", info_of(addr, trust { ocsp_require = true }).ocsp.status)
      end)
    end)

    it("'unknown' is reported, and fails ocsp_require", function()
      local addr = stapling("unlisted", "unknown.ocsp")
      bounded(20, function()
        assert.equal("unknown", info_of(addr, trust()).ocsp.status)
        fails("certificate", { "status is unknown", "ocsp_require" },
          tls.connecta(addr, "localhost", trust { ocsp_require = true }))
      end)
    end)

    -- A staple that does not verify is ignored (info().ocsp absent,
    -- info().ocsp_error says why) unless ocsp_require.
    local bad = {
      { "expired", "good", "expired.ocsp", "expired (next update 2020-01-02 00:00:00 UTC)" },
      { "not yet valid", "good", "future.ocsp", "not valid yet" },
      { "for another certificate", "revoked", "good.ocsp", "not about this certificate" },
      { "signed by the wrong key", "good", "rogue.ocsp", "not issued by the server certificate's issuer" },
      { "signed without the OCSP signing EKU", "good", "noeku.ocsp", "OCSP signing extended key usage" },
    }
    for _, case in ipairs(bad) do
      local what, cert, staple, why = case[1], case[2], case[3], case[4]
      it("a staple " .. what .. " is ignored, and fails ocsp_require", function()
        local addr = stapling(cert, staple)
        bounded(20, function()
          local i = info_of(addr, trust())
          assert.is_nil(i.ocsp)
          assert.matches(why, i.ocsp_error, 1, true)
          fails("certificate", { "stapled OCSP response rejected", why, "ocsp_require" },
            tls.connecta(addr, "localhost", trust { ocsp_require = true }))
        end)
      end)
    end

    -- openssl s_server refuses to staple bytes that are not an
    -- OCSPResponse at all (truncated, garbage): the Rust loopback tests
    -- (src/tls/tests/revocation.rs) make our own server staple those.
    -- These are OCSPResponses that it staples, with nothing usable inside.
    local function tlv(tag, content)
      assert(#content < 128)
      return string.char(tag, #content) .. content
    end
    local basic_oid = tlv(0x06, string.char(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01))
    local empty = {
      { "tryLater", tlv(0x30, tlv(0x0a, "\3")), "the responder answered tryLater" },
      { "a garbage basic response",
        tlv(0x30, tlv(0x0a, "\0") .. tlv(0xa0, tlv(0x30, basic_oid .. tlv(0x04, ("garbage"):rep(3))))),
        "its basic response is malformed" },
    }
    for _, case in ipairs(empty) do
      local what, der, why = case[1], case[2], case[3]
      it("a staple holding " .. what .. " is ignored, and fails ocsp_require", function()
        R.put("empty.ocsp", der)
        local addr = stapling("good", "empty.ocsp")
        bounded(20, function()
          local i = info_of(addr, trust())
          assert.is_nil(i.ocsp)
          assert.equal(why, i.ocsp_error)
          fails("certificate", { "stapled OCSP response rejected: " .. why },
            tls.connecta(addr, "localhost", trust { ocsp_require = true }))
        end)
      end)
    end

    it("no staple: info().ocsp is absent; ocsp_require fails", function()
      local addr = R.s_server("good")
      bounded(20, function()
        local i = info_of(addr, trust())
        assert.is_nil(i.ocsp)
        assert.is_nil(i.ocsp_error)
        fails("certificate", { "stapled no OCSP response", "ocsp_require" },
          tls.connecta(addr, "localhost", trust { ocsp_require = true }))
      end)
    end)

    it("insecure_no_verify_time accepts an expired staple", function()
      local addr = stapling("good", "expired.ocsp")
      bounded(20, function()
        local o = info_of(addr, trust { insecure_no_verify_time = true, ocsp_require = true }).ocsp
        assert.equal("good", o.status)
        assert.equal(1577923200, o.next_update) -- 2020-01-02 00:00:00 UTC
      end)
    end)
  end)

  describe("our client against nginx (ssl_stapling_file)", function()
    local function nginx(cert, staple)
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute(("mkdir -p %s/tmp"):format(q(dir))))
      finally(function() os.execute("rm -rf " .. q(dir)) end)
      local port = helper.free_port()
      T.write(dir .. "/nginx.conf", ([[
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  server {
    listen 127.0.0.1:%d ssl;
    server_name localhost;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_stapling on;
    ssl_stapling_file %s;
    location / { return 200 "stapled\n"; }
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, port, R.pem(cert), R.key(cert), file(staple)))
      R.start(("nginx -p %s -c %s -e %s"):format(q(dir), q(dir .. "/nginx.conf"), q(dir .. "/error.log")), port)
      return "127.0.0.1:" .. port
    end

    it("a good staple, over TLS 1.2 and 1.3", function()
      if not have("nginx") then return pending("nginx is not installed") end
      local addr = nginx("good", "good.ocsp")
      bounded(20, function()
        for _, p in ipairs { "tlsv1.2", "tlsv1.3" } do
          local ios = assert(tls.connecta(addr, "localhost", trust { protocols = p, ocsp_require = true }))
          assert.equal("good", ios:info().ocsp.status)
          assert(ios:write("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"))
          assert.matches("stapled\n$", ios:read("a"))
          ios:close()
        end
      end)
    end)

    it("a revoked staple fails", function()
      if not have("nginx") then return pending("nginx is not installed") end
      local addr = nginx("revoked", "revoked.ocsp")
      bounded(20, function()
        fails("certificate", { "certificate revoked" }, tls.connecta(addr, "localhost", trust()))
      end)
    end)
  end)

  describe("our server", function()
    local function answer(ios)
      local line = ios:read("l")
      if line then ios:write("ok " .. line .. "\n") end
    end

    for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
      it(flag .. ": openssl s_client -status sees our staple", function()
        local _, _, port = T.serve(R.server("good", { ocsp_staple = file("good.ocsp") }), answer)
        bounded(20, function()
          local rc, out, err = R.s_client(port, flag .. " -status")
          assert.equal(0, rc, err .. out)
          assert.matches("OCSP Response Status: successful", out, 1, true)
          assert.matches("Cert Status: good", out, 1, true)
          assert.matches("ok hello", out, 1, true)
        end)
      end)
    end

    it("without ocsp_staple, s_client -status sees none", function()
      local _, _, port = T.serve(R.server("good"), answer)
      bounded(20, function()
        local rc, out, err = R.s_client(port, "-status")
        assert.equal(0, rc, err .. out)
        assert.matches("OCSP response: no response sent", out, 1, true)
      end)
    end)

    it("staples per certs entry (SNI) and takes DER bytes", function()
      local opts = R.server("good", {
        ocsp_staple = T.slurp(file("good.ocsp")),
        certs = { { cert = R.pem("other"), key = R.key("other"), ocsp_staple = file("other.ocsp") } },
      })
      local _, addr, port = T.serve(opts, answer)
      bounded(20, function()
        local _, out = R.s_client(port, "-status -servername other.test")
        assert.matches("Cert Status: good", out, 1, true)
        assert.matches("CN = other", out, 1, true)
        -- Our client checks each staple against its own certificate.
        local ios = assert(tls.connecta(addr, "other.test", trust { ocsp_require = true }))
        assert.equal("good", ios:info().ocsp.status)
        ios:close()
        ios = assert(tls.connecta(addr, "localhost", trust { ocsp_require = true }))
        assert.equal("good", ios:info().ocsp.status)
        ios:close()
      end)
    end)

    it("a replaced ocsp_staple file is stapled from the next connection on: never a stale staple", function()
      local path = R.put("current.ocsp", T.slurp(file("good.ocsp")))
      local _, addr = T.serve(R.server("good", { ocsp_staple = path }), answer)
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal("good", ios:info().ocsp.status)
        ios:close()
        -- Replaced as deployment tools do: a new file renamed over the old.
        R.put("current.ocsp.new", T.slurp(file("expired.ocsp")))
        assert(os.rename(path .. ".new", path))
        ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.is_nil(ios:info().ocsp)
        assert.matches("expired", ios:info().ocsp_error, 1, true)
        ios:close()
      end)
    end)

    it("our client refuses our server's stapled 'revoked'", function()
      local _, addr = T.serve(R.server("revoked", { ocsp_staple = file("revoked.ocsp") }), answer)
      bounded(20, function()
        fails("certificate", { "certificate revoked", "stapled OCSP response" },
          tls.connecta(addr, "localhost", trust()))
      end)
    end)

    it("an unusable ocsp_staple is a 'config' failure; wrong types raise", function()
      R.put("garbage.ocsp", ("\1\2garbage"):rep(50))
      fails("config", { "cannot load OCSP response from", "nonexistent.ocsp" },
        tls.listen("127.0.0.1", 0, answer, R.server("good", { ocsp_staple = file("nonexistent.ocsp") })))
      fails("config", { "unusable OCSP response in option 'ocsp_staple'", "not a DER OCSP response" },
        tls.listen("127.0.0.1", 0, answer, R.server("good", { ocsp_staple = file("garbage.ocsp") })))
      fails("config", { "'ocsp_require' applies only to clients" },
        tls.listen("127.0.0.1", 0, answer, R.server("good", { ocsp_require = true })))
      raises("'ocsp_staple' must be a string (path or DER bytes), got boolean", tls.config, { ocsp_staple = true })
      raises("'certs[1].ocsp_staple' must be a string", tls.config,
        { certs = { { cert = "c", key = "k", ocsp_staple = 1 } } })
      raises("'ocsp_require' must be a boolean", tls.config, { ocsp_require = "yes" })
    end)

    it("ocsp_staple on a client, ocsp_require without verification: 'config' failures", function()
      local _, addr = T.serve(R.server("good"), answer)
      bounded(20, function()
        fails("config", { "'ocsp_staple' applies only to servers" },
          tls.connecta(addr, "localhost", trust { ocsp_staple = file("good.ocsp") }))
        fails("config", { "'ocsp_require' does nothing with 'insecure_no_verify_cert'" },
          tls.connecta(addr, "localhost", trust { ocsp_require = true, insecure_no_verify_cert = true }))
      end)
    end)
  end)
end)
