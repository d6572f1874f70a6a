-- Trust on first use: a server that asks for client certificates and
-- accepts any (verify_client with insecure_no_verify_cert), identifying
-- each by its hash; clients that pin a self-signed server certificate
-- through `ca`; ios:peer_contains_name; options that would do nothing are
-- refused. Peers: our own client and server, openssl s_client.
local tls = require "tls"
local T = require "tls_support"
local X = require "tls_extra_certs"

local bounded, fails, q = T.bounded, T.fails, T.q
local pem, key = T.pem, T.key

describe("tls trust on first use", function()
  local seen
  -- Records what the server saw, answers with the client's hash.
  local function reporter(ios)
    local line = ios:read("l")
    local info = ios:info()
    seen = { line = line, info = info, has_localhost = ios:peer_contains_name("localhost") }
    ios:write("hash=" .. tostring(info.peer and info.peer.hash) .. "\n")
    ios:close()
  end

  local function tofu_server(mode, extra)
    seen = nil
    return T.serve(T.with({ cert = pem("server"), key = key("server"), verify_client = mode,
      insecure_no_verify_cert = true }, extra), reporter)
  end

  local function s_client(port, args)
    return T.run(("openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s -verify_return_error -ign_eof %s")
      :format(port, q(pem("ca")), args or ""), 15, "hello\n")
  end

  setup(function()
    T.certs()
    X.dir()
  end)

  teardown(function()
    X.cleanup()
  end)

  after_each(function()
    T.cleanup()
  end)

  describe("openssl s_client with a self-signed certificate", function()
    for _, v in ipairs { { "tofu-ca", "CA:TRUE (the openssl req -x509 default)" }, { "tofu-ee", "CA:FALSE" } } do
      for _, mode in ipairs { "optional", "required" } do
        for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
          it(("%s %s, verify_client = %q %s: accepted, identified by its hash"):format(flag, v[2], mode, ""), function()
            local _, _, port = tofu_server(mode)
            bounded(20, function()
              local rc, out, err = s_client(port, ("%s -cert %s -key %s"):format(flag, q(X.pem(v[1])), q(X.key(v[1]))))
              assert.equal(0, rc, err .. out)
              local want = X.fingerprint(X.pem(v[1]))
              assert.matches("hash=" .. want, out, 1, true)
              assert.equal("hello", seen.line)
              assert.equal(want, seen.info.peer.hash)
              assert.is_false(seen.has_localhost)
            end)
          end)
        end
      end
    end

    it("verify_client = 'required' still refuses a client without a certificate", function()
      local _, _, port = tofu_server("required")
      bounded(20, function()
        local _, out, err = s_client(port, "-tls1_3")
        assert.is_nil(out:find("hash=", 1, true))
        assert.matches("alert certificate required", err .. out, 1, true)
        assert.is_nil(seen)
      end)
    end)

    it("verify_client = 'optional' lets a client without one in, with no peer", function()
      local _, _, port = tofu_server("optional")
      bounded(20, function()
        local rc, out, err = s_client(port, "-tls1_3")
        assert.equal(0, rc, err .. out)
        assert.matches("hash=nil", out, 1, true)
        assert.is_nil(seen.info.peer)
      end)
    end)
  end)

  describe("our client with a self-signed certificate", function()
    it("two clients get two different, stable hashes", function()
      local _, addr = tofu_server("required")
      bounded(20, function()
        local hashes = {}
        for _, name in ipairs { "tofu-ca", "tofu-other", "tofu-ca" } do
          local ios = assert(tls.connecta(addr, "localhost",
            T.trust { cert = X.pem(name), key = X.key(name) }))
          assert(ios:write("hi\n"))
          local line = assert(ios:read("l"))
          hashes[#hashes + 1] = line:match("^hash=(.*)$")
          ios:close()
        end
        assert.equal(X.fingerprint(X.pem("tofu-ca")), hashes[1])
        assert.equal(X.fingerprint(X.pem("tofu-other")), hashes[2])
        assert.equal(hashes[1], hashes[3])
      end)
    end)

    it("the client still proves it holds the key (a mismatched key is refused before connecting)", function()
      local _, addr = tofu_server("required")
      bounded(20, function()
        fails("config", { "does not match" }, tls.connecta(addr, "localhost",
          T.trust { cert = X.pem("tofu-ca"), key = X.key("tofu-other") }))
      end)
    end)
  end)

  describe("options that would do nothing are refused", function()
    local function listen_fails(extra, words)
      local opts = T.with({ cert = pem("server"), key = key("server") }, extra)
      fails("config", words, tls.listen("127.0.0.1", 0, function() end, opts))
    end

    it("on a server", function()
      listen_fails({ insecure_no_verify_cert = true }, { "'insecure_no_verify_cert'", "needs 'verify_client'" })
      listen_fails({ cafile = pem("ca") }, { "needs 'verify_client'" })
      listen_fails({ servername = "localhost" }, { "'servername' applies only to clients" })
      listen_fails({ insecure_no_verify_name = true }, { "applies only to clients" })
      listen_fails({ insecure_no_verify_time = true }, { "applies only to clients" })
      listen_fails({ verify_client = "required", insecure_no_verify_cert = true, cafile = pem("ca") },
        { "do nothing with 'insecure_no_verify_cert'" })
      listen_fails({ verify_depth = 2 }, { "'verify_depth'", "needs 'verify_client'" })
      listen_fails({ resumption = false, session_lifetime = 60 }, { "'session_lifetime' does nothing with 'resumption = false'" })
    end)

    it("on a client", function()
      local _, addr = T.serve(T.server_opts())
      bounded(20, function()
        for _, v in ipairs {
          { { verify_client = "required" }, "'verify_client' applies only to servers" },
          { { certs = { { cert = pem("other"), key = key("other") } } }, "'certs' applies only to servers" },
          { { session_lifetime = 10 }, "'session_lifetime' applies only to servers" },
          { { ticket_keys = { ("k"):rep(32) } }, "'ticket_keys' applies only to servers" },
          { { verify_depth = 2, insecure_no_verify_cert = true }, "'verify_depth' does nothing" },
        } do
          fails("config", { v[2] }, tls.connecta(addr, "localhost", T.trust(v[1])))
        end
      end)
    end)
  end)

  describe("a client pinning a self-signed server certificate", function()
    local function pinned_server(name)
      return T.serve({ cert = X.pem(name), key = X.key(name) }, T.echo)
    end

    it("CA:TRUE, through ca (PEM text) and cafile: verified, name and all", function()
      local _, addr = pinned_server("pinned")
      bounded(20, function()
        for _, opts in ipairs { { ca = T.slurp(X.pem("pinned")) }, { cafile = X.pem("pinned") } } do
          local ios = assert(tls.connecta(addr, "localhost", opts))
          assert(ios:write("ping\n"))
          assert.equal("ping", ios:read("l"))
          assert.equal(X.fingerprint(X.pem("pinned")), ios:info().peer.hash)
          ios:close()
        end
        local ios = assert(tls.connecta(addr, "127.0.0.1", { cafile = X.pem("pinned") }))
        ios:close()
      end)
    end)

    it("the pinned certificate's names are still checked", function()
      local _, addr = pinned_server("pinned")
      bounded(20, function()
        local msg = fails("certificate", { "certificate is for localhost, 127.0.0.1, not other.test" },
          tls.connecta(addr, "other.test", { cafile = X.pem("pinned") }))
        assert.is_nil(msg:find("Other(", 1, true))
        assert(tls.connecta(addr, "other.test", { cafile = X.pem("pinned"), insecure_no_verify_name = true })):close()
      end)
    end)

    it("a changed certificate is refused with a plain message", function()
      local _, addr = pinned_server("pinned2")
      bounded(20, function()
        local msg = fails("certificate", { "self-signed" },
          tls.connecta(addr, "localhost", { cafile = X.pem("pinned") }))
        assert.is_nil(msg:find("Error", 1, true))
      end)
    end)

    it("openssl s_client accepts the same pinning (the peer agrees)", function()
      local _, _, port = pinned_server("pinned")
      bounded(20, function()
        local rc, out, err = T.run(("openssl s_client -connect 127.0.0.1:%d -CAfile %s -verify_return_error -verify_hostname localhost")
          :format(port, q(X.pem("pinned"))), 15, "")
        assert.equal(0, rc, err .. out)
        assert.matches("Verify return code: 0 (ok)", out, 1, true)
      end)
    end)
  end)

  describe("ios:peer_contains_name", function()
    it("applies verification's rules: DNS names, IP addresses, no partial matches", function()
      local _, addr = T.serve(T.server_opts())
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", T.trust()))
        assert.is_true(ios:peer_contains_name("localhost"))
        assert.is_true(ios:peer_contains_name("LocalHost"))
        assert.is_true(ios:peer_contains_name("127.0.0.1"))
        assert.is_true(ios:peer_contains_name("::1"))
        assert.is_true(ios:peer_contains_name("[::1]"))
        assert.is_false(ios:peer_contains_name("127.0.0.2"))
        assert.is_false(ios:peer_contains_name("local"))
        assert.is_false(ios:peer_contains_name("other.test"))
        assert.is_false(ios:peer_contains_name("not a name"))
        assert.is_false(ios:peer_contains_name(""))
        T.raises("bad argument #1 to 'ios:peer_contains_name' (string expected, got nil)",
          function() return ios:peer_contains_name() end)
        ios:close()
        assert.is_false(ios:peer_contains_name("localhost"))
      end)
    end)

    it("the SNI certificate a server chose, and plain TCP streams", function()
      local _, addr = T.serve(T.with(T.server_opts(), { certs = { { cert = pem("other"), key = key("other") } } }))
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "other.test", T.trust()))
        assert.is_true(ios:peer_contains_name("other.test"))
        assert.is_false(ios:peer_contains_name("localhost"))
        ios:close()
        local tcp = require "tls.tcp"
        local plain = assert(tcp.connecta(addr))
        assert.is_false(plain:peer_contains_name("localhost"))
        plain:close()
      end)
    end)
  end)
end)
