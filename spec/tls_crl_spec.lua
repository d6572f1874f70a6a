-- CRLs (`crl`, `crl_require`) on both sides, against real peers: our
-- client against `openssl s_server`, our server against `openssl s_client`,
-- and our client against our server. The CRLs come from `openssl ca
-- -gencrl` (scripts/gen-revocation.sh).
local tls = require "tls"
local T = require "tls_support"
local R = require "tls_revocation_support"

local bounded, fails, raises = T.bounded, T.fails, T.raises
local file, trust = R.file, R.trust

describe("tls crl", function()
  setup(function() R.setup() end)
  teardown(function() R.teardown() end)
  after_each(function() R.cleanup() end)

  describe("our client against openssl s_server", function()
    it("a certificate that the CRL does not list passes", function()
      local addr = R.s_server("good")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust { crl = file("rca.crl") }))
        assert.equal("HTTP/1.0 200 ok", R.www(ios))
        ios:close()
      end)
    end)

    it("a revoked certificate fails with code 'certificate', naming subject, serial and reason", function()
      local addr = R.s_server("revoked")
      bounded(20, function()
        -- Without a CRL nothing knows it is revoked.
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        ios:close()
        local msg = fails("certificate", { "certificate revoked", "/CN=revoked", "serial 1001", "keyCompromise" },
          tls.connecta(addr, "localhost", trust { crl = file("rca.crl") }))
        assert.not_matches("Revoked", msg, 1, true) -- no Rust enum names
      end)
    end)

    it("takes several CRLs: an array, PEM text, a DER file", function()
      local addr = R.s_server("revoked")
      local text = T.slurp(file("rca2.crl")) .. T.slurp(file("rca.crl"))
      bounded(20, function()
        for _, crl in ipairs { { file("rca2.crl"), file("rca.crl") }, text, file("rca.crl.der") } do
          fails("certificate", { "revoked" }, tls.connecta(addr, "localhost", trust { crl = crl }))
        end
      end)
    end)

    it("a CRL from another CA is ignored for certificates it does not cover", function()
      local addr = R.s_server("revoked")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust { crl = file("rca2.crl") }))
        ios:close()
        -- ... unless crl_require asks for a CRL from every issuer.
        fails("certificate", { "revocation status unknown", "no CRL from the issuer of /O=lua-tls tests/CN=revoked" },
          tls.connecta(addr, "localhost", trust { crl = file("rca2.crl"), crl_require = true }))
      end)
    end)

    it("checks the whole chain: a revoked intermediate CA fails", function()
      local bad = R.s_server("via-inter", "-cert_chain " .. T.q(R.pem("inter")))
      local ok = R.s_server("via-inter-ok", "-cert_chain " .. T.q(R.pem("inter-ok")))
      bounded(20, function()
        fails("certificate", { "intermediate CA certificate revoked", "/CN=inter " },
          tls.connecta(bad, "localhost", trust { crl = file("rca.crl") }))
        -- inter-ok is not revoked; its leaf has no CRL and passes by default.
        local ios = assert(tls.connecta(ok, "localhost", trust { crl = file("rca.crl") }))
        ios:close()
        fails("certificate", { "unknown", "/CN=via-inter-ok" },
          tls.connecta(ok, "localhost", trust { crl = file("rca.crl"), crl_require = true }))
        ios = assert(tls.connecta(ok, "localhost",
          trust { crl = { file("rca.crl"), file("inter-ok.crl") }, crl_require = true }))
        ios:close()
      end)
    end)

    it("an expired CRL fails every chain it covers (not with insecure_no_verify_time)", function()
      local addr = R.s_server("good")
      bounded(20, function()
        fails("certificate", { "CRL expired", "2020-02-01 00:00:00 UTC" },
          tls.connecta(addr, "localhost", trust { crl = file("rca-expired.crl") }))
        local ios = assert(tls.connecta(addr, "localhost",
          trust { crl = file("rca-expired.crl"), insecure_no_verify_time = true }))
        ios:close()
        -- An expired CRL of another CA does not matter.
        ios = assert(tls.connecta(addr, "localhost",
          { cafile = R.pem("rca"), crl = { file("rca.crl"), file("rca2.crl") } }))
        ios:close()
      end)
    end)

    it("an unusable CRL is a 'config' failure naming it, never a Rust debug string", function()
      local addr = R.s_server("good")
      local garbage = R.put("garbage.crl", "-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n")
      bounded(20, function()
        fails("config", { "cannot load CRL from", "nonexistent.crl", "no such file" },
          tls.connecta(addr, "localhost", trust { crl = file("nonexistent.crl") }))
        fails("config", { "no \"X509 CRL\" PEM block", R.pem("rca") },
          tls.connecta(addr, "localhost", trust { crl = R.pem("rca") }))
        local msg = fails("config", { "unusable CRL in", garbage, "malformed" },
          tls.connecta(addr, "localhost", trust { crl = garbage }))
        assert.not_matches("BadDer", msg, 1, true)
        fails("config", { "unusable CRL", "malformed" },
          tls.connecta(addr, "localhost", trust { crl = file("good.ocsp") }))
      end)
    end)

    it("a replaced CRL file is read again: never a stale CRL", function()
      local addr = R.s_server("revoked")
      local path = R.put("current.crl", T.slurp(file("rca2.crl")))
      bounded(20, function()
        local cfg = tls.config(trust { crl = path })
        local ios = assert(tls.connecta(addr, "localhost", cfg))
        ios:close()
        -- Replaced as deployment tools do: a new file renamed over the old.
        R.put("current.crl.new", T.slurp(file("rca.crl")))
        assert(os.rename(path .. ".new", path))
        fails("certificate", { "certificate revoked", "/CN=revoked" }, tls.connecta(addr, "localhost", cfg))
        -- A plain option table (a cached config) notices too.
        fails("certificate", { "certificate revoked" }, tls.connecta(addr, "localhost", trust { crl = path }))
      end)
    end)

    it("wrong option types raise, naming the option", function()
      raises("'crl' must be a string (path or PEM text) or an array of them, got", tls.config, { crl = 5 })
      raises("'crl[2]' must be a string (path or PEM text), got boolean", tls.config, { crl = { "a.crl", true } })
      raises("'crl_require' must be a boolean", tls.config, { crl = "a.crl", crl_require = 1 })
      raises("'crl_require' needs option 'crl'", tls.config, { crl_require = true })
    end)
  end)

  describe("our server", function()
    -- A server's handshake failure closes the connection before the
    -- handler runs, so the server's own message ("client certificate
    -- rejected: certificate revoked: ...") is checked by the Rust loopback
    -- tests (src/tls/tests/revocation.rs); here the peer's side is.
    local function reporter(ios)
      local line = ios:read("l")
      if line then ios:write("ok " .. line .. "\n") end
    end

    local function server(extra)
      local _, addr, port = T.serve(R.server("good", T.with({
        verify_client = "required", cafile = R.pem("rca"), crl = file("rca.crl"),
      }, extra)), reporter)
      return addr, port
    end

    it("openssl s_client with a good client certificate gets in", function()
      local _, port = server()
      bounded(20, function()
        local rc, out, err = R.s_client(port, ("-cert %s -key %s"):format(T.q(R.pem("client-good")), T.q(R.key("client-good"))))
        assert.equal(0, rc, err .. out)
        assert.matches("ok hello", out, 1, true)
      end)
    end)

    for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
      it(flag .. ": openssl s_client with a revoked client certificate is refused (alert certificate_revoked)", function()
        local _, port = server()
        bounded(20, function()
          local _, out, err = R.s_client(port, ("%s -cert %s -key %s"):format(flag, T.q(R.pem("client-revoked")), T.q(R.key("client-revoked"))))
          assert.not_matches("ok hello", out, 1, true)
          assert.matches("certificate revoked", err .. out, 1, true)
        end)
      end)
    end

    it("our client with a revoked client certificate hears why", function()
      local addr = server()
      bounded(20, function()
        local opts = trust { cert = R.pem("client-revoked"), key = R.key("client-revoked") }
        local ios, msg, code = tls.connecta(addr, "localhost", opts)
        if ios then -- TLS 1.3: the server's verdict comes after our handshake
          assert(ios:write("hello\n"))
          local line
          line, msg, code = ios:read("l")
          assert.is_nil(line)
          ios:close()
        end
        assert.equal("certificate", code)
        assert.matches("certificate_revoked", msg, 1, true)
        local good = trust { cert = R.pem("client-good"), key = R.key("client-good") }
        ios = assert(tls.connecta(addr, "localhost", good))
        assert(ios:write("hi\n"))
        assert.equal("ok hi", ios:read("l"))
        ios:close()
      end)
    end)

    it("our client refuses our server's revoked certificate", function()
      local _, addr = T.serve(R.server("revoked"))
      bounded(20, function()
        fails("certificate", { "certificate revoked", "/CN=revoked" },
          tls.connecta(addr, "localhost", trust { crl = file("rca.crl") }))
      end)
    end)

    it("'crl' without verify_client, or an unusable CRL, is a 'config' failure", function()
      fails("config", { "'crl'", "verify_client" },
        tls.listen("127.0.0.1", 0, T.echo, R.server("good", { crl = file("rca.crl") })))
      fails("config", { "unusable CRL in" },
        tls.listen("127.0.0.1", 0, T.echo, R.server("good", {
          verify_client = "optional", cafile = R.pem("rca"), crl = file("good.ocsp") })))
      -- TOFU checks no chain, so no CRL either.
      fails("config", { "'crl' does nothing with 'insecure_no_verify_cert'" },
        tls.listen("127.0.0.1", 0, T.echo, R.server("good", {
          verify_client = "optional", insecure_no_verify_cert = true, crl = file("rca.crl") })))
    end)
  end)
end)
