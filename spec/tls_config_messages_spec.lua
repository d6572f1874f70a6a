-- What a user reads when a TLS configuration is wrong: certificate and key
-- files that cannot be used say which file and what is wrong with it, in
-- plain words (each file blamed for its own fault), and misused options
-- say which option, which element of an array, and Lua's type name.
local tls = require "tls"
local T = require "tls_support"
local helper = require "helper"

local fails, pem, key = T.fails, T.pem, T.key

-- Words that come from Rust's Debug output of a pki-types or rustls error.
local DEBUG = { "InvalidCharacter", "%[%d+, %d+", "base64 decode error", "unexpected error",
                "ed dsa", "section end marker", "bad encoding" }

local function plain(msg)
  for _, w in ipairs(DEBUG) do
    assert(not msg:find(w), ("Rust wording (%s) in: %s"):format(w, msg))
  end
  return msg
end

local dir
local function file(name) return dir .. name end

local function sh(cmd)
  assert(os.execute(cmd .. " >/dev/null 2>&1"), "failed: " .. cmd)
end

local function listen(cert, k)
  return tls.listen("127.0.0.1", 0, T.echo, { cert = cert, key = k })
end

-- Nothing is contacted: a client config that cannot be built fails first.
local function connect(cert, k)
  return tls.connecta("127.0.0.1:9", "localhost", T.trust({ cert = cert, key = k }))
end

-- The message of a raised error, without the position.
local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  assert.equal("string", type(e))
  return (e:gsub("^[^\n]-:%d+: ", "", 1))
end

describe("tls configuration messages", function()
  setup(function()
    T.certs()
    dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -p " .. T.q(dir))
    dir = dir .. "/"
    T.write(file("words.pem"), "hello, not a certificate\n")
    T.write(file("badb64.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n")
    T.write(file("unterminated.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n")
    -- Valid PEM, but the DER inside is no certificate.
    T.write(file("junk.pem"), "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQ=\n-----END CERTIFICATE-----\n")
    T.write(file("junk.key"), "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n")
    sh(("openssl x509 -in %s -outform DER -out %s"):format(T.q(pem("server")), T.q(file("server.der"))))
    sh(("openssl pkey -in %s -aes256 -passout pass:x -out %s"):format(T.q(key("server")), T.q(file("enc.key"))))
    sh(("openssl rsa -in %s -traditional -aes128 -passout pass:x -out %s"):format(T.q(key("rsa")), T.q(file("legacy.key"))))
    sh(("openssl genpkey -algorithm ED448 -out %s"):format(T.q(file("ed448.key"))))
  end)

  teardown(function()
    if dir then sh("rm -rf " .. T.q(dir)) end
    T.cleanup()
  end)

  describe("certificate files", function()
    it("no PEM block, DER, or only other blocks: says what the file holds", function()
      plain(fails("config", { "no certificate found in " .. file("words.pem") .. " (no PEM block found)" },
        listen(file("words.pem"), key("server"))))
      plain(fails("config", { file("server.der"), "read as PEM only (this looks like DER)" },
        listen(file("server.der"), key("server"))))
      plain(fails("config", { key("server"), "it holds only \"PRIVATE KEY\" PEM blocks" },
        listen(key("server"), key("server"))))
    end)

    it("broken PEM is named as such, not shown as a Rust value", function()
      plain(fails("config", { "cannot load certificates from " .. file("badb64.pem"),
                              "the contents of a PEM block are not valid base64" },
        listen(file("badb64.pem"), key("server"))))
      plain(fails("config", { file("unterminated.pem"),
                              "the \"CERTIFICATE\" PEM block has no \"-----END CERTIFICATE-----\" line" },
        listen(file("unterminated.pem"), key("server"))))
      plain(fails("config", { file("badb64.pem"), "not valid base64" },
        tls.connecta("127.0.0.1:9", "localhost", { cafile = file("badb64.pem") })))
    end)

    it("a block that is no certificate is the certificate's fault, not the key's", function()
      for _, r in ipairs({ T.result(listen(file("junk.pem"), key("server"))),
                           T.result(connect(file("junk.pem"), key("client"))) }) do
        local m = plain(fails("config", { "unusable certificate " .. file("junk.pem"),
                                          "not a valid X.509 certificate" }, helper.unpack(r, 1, r.n)))
        assert(not m:find("private key", 1, true), m)
      end
    end)
  end)

  describe("key files", function()
    it("a certificate file or words given as the key: says what it holds", function()
      plain(fails("config", { "no private key found in " .. pem("server"),
                              "it holds only \"CERTIFICATE\" PEM blocks" },
        listen(pem("server"), pem("server"))))
      plain(fails("config", { "no private key found in " .. file("words.pem"), "no PEM block found" },
        listen(pem("server"), file("words.pem"))))
    end)

    it("encrypted keys (PKCS#8 and OpenSSL's legacy form) are refused as encrypted", function()
      for _, k in ipairs({ file("enc.key"), file("legacy.key") }) do
        plain(fails("config", { "private key " .. k .. " is encrypted, which is not supported" },
          listen(pem("server"), k)))
      end
      plain(fails("config", { file("enc.key"), "is encrypted" }, connect(pem("client"), file("enc.key"))))
    end)

    it("a key rustls cannot sign with says why, on a server and on a client", function()
      for _, r in ipairs({ T.result(listen(pem("server"), file("ed448.key"))),
                           T.result(connect(pem("client"), file("ed448.key"))) }) do
        local m = plain(fails("config", { "unusable private key " .. file("ed448.key"),
                                          "Ed448 keys are not supported" }, helper.unpack(r, 1, r.n)))
        assert(not m:find("certificate", 1, true), m)
      end
      plain(fails("config", { "unusable private key " .. file("junk.key"), "not a valid PKCS#8 key" },
        connect(pem("client"), file("junk.key"))))
    end)

    it("a key of another certificate does not match it", function()
      plain(fails("config", { "private key " .. key("other") .. " does not match certificate " .. pem("client") },
        connect(pem("client"), key("other"))))
    end)
  end)

  describe("misused options", function()
    local addr = "127.0.0.1:9"

    it("an array option names the element that is wrong and its Lua type", function()
      local cases = {
        { { alpn = { "h2", 5 } }, "TLS option 'alpn[2]' must be a string, got number" },
        { { alpn = { "h2", "x", {} } }, "TLS option 'alpn[3]' must be a string, got table" },
        { { protocols = { "tlsv1.3", true } }, "TLS option 'protocols[2]' must be a string, got boolean" },
        { { ciphers = { "TLS_AES_128_GCM_SHA256", 1 } }, "TLS option 'ciphers[2]' must be a string, got number" },
        { { curves = { 1 } }, "TLS option 'curves[1]' must be a string, got number" },
        { { ticket_keys = { 1 } }, "TLS option 'ticket_keys[1]' must be a string, got number" },
        { { certs = { 5 } }, "TLS option 'certs[1]' must be a {cert=, key=} table, got number" },
        { { certs = { { [1] = "x" } } }, "TLS option 'certs[1]' keys must be strings, got number" },
      }
      for _, c in ipairs(cases) do
        assert.equal("bad argument #1 to 'tls.config' (" .. c[2] .. ")", raised(tls.config, c[1]))
        assert.equal("bad argument #3 to 'tls.connecta' (" .. c[2] .. ")",
          raised(function() local r = tls.connecta(addr, "localhost", c[1]); return r end))
      end
    end)

    it("revocation options give Lua's type names and name array elements", function()
      local cases = {
        { { crl = { "a.crl", 5 } }, "TLS option 'crl[2]' must be a string (path or PEM text), got number" },
        { { crl = { "a.crl", "b.crl", true } }, "TLS option 'crl[3]' must be a string (path or PEM text), got boolean" },
        { { crl = { "a.crl", "" } }, "TLS option 'crl[2]' must be a path or PEM text, got an empty string" },
        { { crl = 5 }, "TLS option 'crl' must be a string (path or PEM text) or an array of them, got number" },
        { { crl = "a.crl", crl_require = 1 }, "TLS option 'crl_require' must be a boolean, got number" },
        { { ocsp_require = "yes" }, "TLS option 'ocsp_require' must be a boolean, got string" },
        { { ocsp_staple = {} }, "TLS option 'ocsp_staple' must be a string (path or DER bytes), got table" },
      }
      for _, c in ipairs(cases) do
        assert.equal("bad argument #1 to 'tls.config' (" .. c[2] .. ")", raised(tls.config, c[1]))
      end
    end)

    it("server:reload names Lua's type, counting arguments as a method does", function()
      local srv = T.serve(T.server_opts())
      for v, name in pairs({ [5] = "number", [true] = "boolean", x = "string" }) do
        assert.equal("bad argument #1 to 'server:reload' (options with cert and key expected, got " .. name .. ")",
          raised(srv.reload, srv, v))
      end
      assert.equal("bad argument #1 to 'server:reload' (options with cert and key expected, got number)",
        raised(function() local r = srv:reload(1.5); return r end))
      local line
      local ok, e = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        srv:reload(5)
      end)
      assert.is_false(ok)
      assert.equal("tls_config_messages_spec.lua:" .. line .. ": bad argument #1 to 'server:reload'"
        .. " (options with cert and key expected, got number)", e:match("tls_config_messages_spec%.lua:.*$"))
      assert.equal("bad argument #1 to 'server:reload' (TLS option 'alpn[2]' must be a string, got number)",
        raised(srv.reload, srv, T.server_opts("server", { alpn = { "h2", 5 } })))
    end)
  end)
end)
