-- tls: our client against our own server (tls.listen). Echo, ios:info(),
-- session resumption, the certificate verification matrix, options and
-- their misuse, client certificates, timeouts and robustness, SNI.
-- Real sockets on 127.0.0.1, ports picked by the kernel; every test is
-- bounded in time. Real third-party peers are in tls_interop_spec.lua.
local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"

local bounded, fails, raises = T.bounded, T.fails, T.raises
local pem, key, trust, server_opts = T.pem, T.key, T.trust, T.server_opts

-- A handler that reports its ios:info() through `seen`, then echoes.
local function recorder(seen)
  return function(ios)
    seen.info = ios:info()
    T.echo(ios)
  end
end

-- Connects with `opts`, checks one echo round trip, returns the info table.
local function roundtrip(addr, host, opts)
  local ios = assert(tls.connecta(addr, host, opts))
  assert(ios:write("ping\n"))
  assert.equal("ping", ios:read("l"))
  local info = ios:info()
  ios:close()
  return info
end

-- The server's certificate as OpenSSL sees it: lowercase hex SHA-256
-- fingerprint and serial.
local function openssl_field(file, what)
  local p = io.popen(("openssl x509 -noout -%s -in %q"):format(what, file))
  local out = p:read("*a")
  p:close()
  return (out:match("=(%S+)") or ""):gsub(":", ""):lower()
end

describe("tls", function()
  setup(function()
    T.certs()
  end)

  after_each(function()
    T.cleanup()
  end)

  describe("our client and our server", function()
    it("echo lines and a megabyte each way at once", function()
      local _, addr = T.serve(server_opts())
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert(ios:write("hello\n", "world\n"))
        assert.equal("hello", ios:read("l"))
        assert.equal("world\n", ios:read("L"))
        -- One task writes while this one reads the echo.
        local chunk = ("0123456789abcdef"):rep(1024) -- 16 KiB
        local writer = loop.spawn(function()
          for _ = 1, 64 do assert(ios:write(chunk)) end
          assert(ios:shutdown())
        end)
        local got = assert(ios:read("a"))
        assert(writer:join())
        assert.equal(64 * #chunk, #got)
        assert.is_true(got == chunk:rep(64))
        ios:close()
      end)
    end)

    it("info() on both sides: version, cipher, ALPN, server name, peer", function()
      local seen = {}
      local _, addr = T.serve(server_opts("server", { alpn = { "x-other", "x-test" } }), recorder(seen))
      bounded(10, function()
        local info = roundtrip(addr, "localhost", trust { alpn = { "x-test" } })
        assert.equal("TLSv1.3", info.version)
        assert.matches("^TLS_[A-Z0-9_]+$", info.cipher)
        assert.equal("x-test", info.alpn)
        assert.equal("localhost", info.servername)
        assert.is_false(info.resumed)
        local peer = assert(info.peer)
        assert.matches("CN=localhost", peer.subject)
        assert.matches("CN=lua%-tls Test CA", peer.issuer)
        assert.equal("localhost", peer.common_name)
        assert.same({ "localhost", "127.0.0.1", "::1" }, peer.names)
        assert.equal(openssl_field(pem("server"), "serial"), peer.serial:lower())
        assert.is_number(peer.notbefore)
        assert.is_number(peer.notafter)
        assert.is_true(peer.notbefore < os.time() and os.time() < peer.notafter)
        assert.matches("^SHA256:" .. ("%x"):rep(64) .. "$", peer.hash)
        assert.equal("SHA256:" .. openssl_field(pem("server"), "fingerprint -sha256"), peer.hash)
        assert.equal(1, peer.chain_pem:find("-----BEGIN CERTIFICATE-----", 1, true))
        assert.equal(T.slurp(pem("server")), peer.chain_pem)
        -- The server's view.
        local s = assert(seen.info)
        assert.equal("TLSv1.3", s.version)
        assert.equal(info.cipher, s.cipher)
        assert.equal("x-test", s.alpn)
        assert.equal("localhost", s.servername)
        assert.is_false(s.resumed)
        assert.is_nil(s.peer) -- no client certificate
      end)
    end)

    it("TLS 1.2 info: version and an ECDHE-ECDSA suite", function()
      local seen = {}
      local _, addr = T.serve(server_opts("server", { protocols = "tlsv1.2" }), recorder(seen))
      bounded(10, function()
        local info = roundtrip(addr, "localhost", trust { protocols = { "tlsv1.2" } })
        assert.equal("TLSv1.2", info.version)
        assert.matches("^TLS_ECDHE_ECDSA_WITH_", info.cipher)
        assert.equal("TLSv1.2", seen.info.version)
      end)
    end)

    it("an IP literal is verified against the IP SAN and sent as no SNI; tls.connect resolves names", function()
      local seen = {}
      local _, addr, port = T.serve(server_opts(), recorder(seen))
      bounded(10, function()
        local info = roundtrip(addr, "127.0.0.1", trust())
        assert.is_nil(info.servername)
        assert.is_nil(seen.info.servername)
        -- tls.connect with a literal host does the same.
        local ios = assert(tls.connect("127.0.0.1", port, trust()))
        assert(ios:write("x\n"))
        assert.equal("x", ios:read("l"))
        assert.is_nil(ios:info().servername)
        ios:close()
        -- A name is resolved, sent as SNI and verified.
        ios = assert(tls.connect("localhost", port, trust()))
        assert(ios:write("y\n"))
        assert.equal("y", ios:read("l"))
        assert.equal("localhost", ios:info().servername)
        assert.equal("localhost", seen.info.servername)
        ios:close()
      end)
    end)

    it("over IPv6 loopback with hostname ::1", function()
      if not helper.ipv6() then
        pending("no IPv6 loopback here")
        return
      end
      local _, addr = T.serve(server_opts(), nil, "::1")
      bounded(10, function()
        local info = roundtrip(addr, "::1", trust())
        assert.equal("TLSv1.3", info.version)
      end)
    end)

    describe("resumption", function()
      it("two connections sharing a tls.config: the second resumes (both sides agree)", function()
        local seen = {}
        local _, addr = T.serve(server_opts(), recorder(seen))
        bounded(10, function()
          local cfg = tls.config(trust())
          assert.is_false(roundtrip(addr, "localhost", cfg).resumed)
          assert.is_false(seen.info.resumed)
          assert.is_true(roundtrip(addr, "localhost", cfg).resumed)
          assert.is_true(seen.info.resumed)
          assert.is_true(roundtrip(addr, "localhost", cfg).resumed)
        end)
      end)

      it("resumption = false on the client: every handshake is full", function()
        local _, addr = T.serve(server_opts())
        bounded(10, function()
          local cfg = tls.config(trust { resumption = false })
          assert.is_false(roundtrip(addr, "localhost", cfg).resumed)
          assert.is_false(roundtrip(addr, "localhost", cfg).resumed)
        end)
      end)

      it("resumption = false on the server: no session to resume", function()
        local _, addr = T.serve(server_opts("server", { resumption = false }))
        bounded(10, function()
          local cfg = tls.config(trust())
          assert.is_false(roundtrip(addr, "localhost", cfg).resumed)
          assert.is_false(roundtrip(addr, "localhost", cfg).resumed)
        end)
      end)

      it("plain tables with the same options share sessions", function()
        local _, addr = T.serve(server_opts())
        bounded(10, function()
          local function opts() return trust { alpn = { "x-plain-resume" } } end
          assert.is_false(roundtrip(addr, "localhost", opts()).resumed)
          assert.is_true(roundtrip(addr, "localhost", opts()).resumed)
        end)
      end)

      it("TLS 1.2 only, both sides: resumes too", function()
        local seen = {}
        local _, addr = T.serve(server_opts("server", { protocols = "tlsv1.2" }), recorder(seen))
        bounded(10, function()
          local cfg = tls.config(trust { protocols = "tlsv1.2" })
          local first = roundtrip(addr, "localhost", cfg)
          assert.equal("TLSv1.2", first.version)
          assert.is_false(first.resumed)
          local second = roundtrip(addr, "localhost", cfg)
          assert.equal("TLSv1.2", second.version)
          assert.is_true(second.resumed)
          assert.is_true(seen.info.resumed)
        end)
      end)
    end)
  end)

  describe("certificate verification", function()
    -- server certificate, words the failure message must contain
    local bad = {
      { "expired", { "certificate expired", "not after 2020-01-01 00:00:00 UTC" } },
      { "notyet", { "certificate not yet valid", "not before 2090-01-01 00:00:00 UTC" } },
      { "wrongname", { "certificate is for wrong.example, not localhost" } },
      { "selfsigned", { "unknown issuer", "self-signed" } },
      { "unknownca", { "unknown issuer" } },
    }
    for _, case in ipairs(bad) do
      local name, words = case[1], case[2]
      it(("rejects %s with code 'certificate', naming host and address"):format(name), function()
        local _, addr = T.serve(server_opts(name))
        bounded(10, function()
          local msg = fails("certificate", words, tls.connecta(addr, "localhost", trust()))
          assert(msg:find("localhost", 1, true) and msg:find(addr, 1, true), msg)
        end)
      end)
    end

    it("IP SANs: 127.0.0.1 matches server.pem and iponly.pem; other names and IPs do not", function()
      local _, addr = T.serve(server_opts())
      local _, ipaddr = T.serve(server_opts("iponly"))
      bounded(10, function()
        roundtrip(addr, "127.0.0.1", trust())
        roundtrip(ipaddr, "127.0.0.1", trust())
        fails("certificate", { "certificate is for localhost, 127.0.0.1, ::1, not 127.0.0.2" },
          tls.connecta(addr, "127.0.0.2", trust()))
        fails("certificate", { "certificate is for 127.0.0.1, not localhost" },
          tls.connecta(ipaddr, "localhost", trust()))
      end)
    end)

    it("default trust is the Mozilla roots: our test CA is unknown", function()
      local _, addr = T.serve(server_opts())
      bounded(10, function()
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost"))
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", {}))
      end)
    end)

    it("ca as PEM text trusts exactly that CA", function()
      local _, addr = T.serve(server_opts())
      bounded(10, function()
        roundtrip(addr, "localhost", { ca = T.slurp(pem("ca")) })
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", { ca = T.slurp(pem("ca2")) }))
      end)
    end)

    it("a missing or unusable cafile fails with code 'config', naming the file", function()
      local _, addr = T.serve(server_opts())
      bounded(10, function()
        fails("config", { "/nonexistent/ca.pem", "no such file" },
          tls.connecta(addr, "localhost", { cafile = "/nonexistent/ca.pem" }))
        fails("config", { "no certificate found", key("server") },
          tls.connecta(addr, "localhost", { cafile = key("server") }))
      end)
    end)

    describe("each insecure option weakens only its own check", function()
      -- option, certificates it must accept, certificates it must still reject
      local cases = {
        { "insecure_no_verify_name", { "wrongname" }, { "expired", "notyet", "unknownca", "selfsigned" } },
        { "insecure_no_verify_time", { "expired", "notyet" }, { "wrongname", "unknownca", "selfsigned" } },
        -- As libtls: not verifying the certificate still checks the name.
        { "insecure_no_verify_cert", { "unknownca", "selfsigned", "expired" }, { "wrongname" } },
      }
      for _, case in ipairs(cases) do
        local option, accepts, rejects = case[1], case[2], case[3]
        it(option, function()
          local addrs = {}
          for _, name in ipairs(accepts) do addrs[name] = select(2, T.serve(server_opts(name))) end
          for _, name in ipairs(rejects) do addrs[name] = select(2, T.serve(server_opts(name))) end
          bounded(15, function()
            for _, name in ipairs(accepts) do
              local ios, msg = tls.connecta(addrs[name], "localhost", trust { [option] = true })
              assert(ios, ("%s should accept %s: %s"):format(option, name, tostring(msg)))
              assert(ios:write("x\n"))
              assert.equal("x", ios:read("l"))
              ios:close()
            end
            for _, name in ipairs(rejects) do
              local ios, msg, code = tls.connecta(addrs[name], "localhost", trust { [option] = true })
              assert(not ios, ("%s should still reject %s"):format(option, name))
              assert.equal("certificate", code, msg)
            end
          end)
        end)
      end
    end)

    it("insecure_no_verify_cert with insecure_no_verify_name accepts any certificate", function()
      local _, addr = T.serve(server_opts("wrongname"))
      local _, self = T.serve(server_opts("selfsigned"))
      bounded(10, function()
        local opts = { insecure_no_verify_cert = true, insecure_no_verify_name = true }
        assert.equal("wrong.example", roundtrip(addr, "localhost", opts).peer.common_name)
        assert.equal("localhost", roundtrip(self, "other.test", opts).peer.common_name)
      end)
    end)

    it("the server's key and certificate may be PEM text", function()
      local _, addr = T.serve { cert = T.slurp(pem("server")), key = T.slurp(key("server")) }
      bounded(10, function()
        assert.equal("localhost", roundtrip(addr, "localhost", trust()).peer.common_name)
      end)
    end)

    it("SEC1 and RSA (PKCS#1) keys", function()
      local _, sec1 = T.serve { cert = pem("server"), key = key("server-sec1") }
      local _, rsa = T.serve(server_opts("rsa"))
      local _, rsa12 = T.serve(server_opts("rsa", { protocols = "tlsv1.2" }))
      bounded(10, function()
        roundtrip(sec1, "localhost", trust())
        assert.equal("TLSv1.3", roundtrip(rsa, "localhost", trust()).version)
        assert.matches("^TLS_ECDHE_RSA_WITH_", roundtrip(rsa12, "localhost", trust()).cipher)
      end)
    end)

    it("tls.listen with an unusable certificate or key: nil, msg, 'config'", function()
      fails("config", { "/nonexistent/server.pem", "no such file" },
        tls.listen("127.0.0.1", 0, T.echo, { cert = "/nonexistent/server.pem", key = key("server") }))
      fails("config", { "/nonexistent/server.key", "no such file" },
        tls.listen("127.0.0.1", 0, T.echo, { cert = pem("server"), key = "/nonexistent/server.key" }))
      fails("config", { "does not match" },
        tls.listen("127.0.0.1", 0, T.echo, { cert = pem("server"), key = key("other") }))
      fails("config", { "no certificate found" },
        tls.listen("127.0.0.1", 0, T.echo, { cert = key("server"), key = key("server") }))
      fails("config", { "verify_client", "cafile" },
        tls.listen("127.0.0.1", 0, T.echo, server_opts("server", { verify_client = "required" })))
    end)
  end)

  describe("misuse raises", function()
    local addr = "127.0.0.1:9" -- nothing is contacted: the checks come first

    it("an unknown option key, everywhere options are taken", function()
      raises("unknown TLS option 'bogus'", tls.connecta, addr, "localhost", { bogus = 1 })
      raises("unknown TLS option 'bogus'", tls.connect, "127.0.0.1", 9, { bogus = 1 })
      raises("unknown TLS option 'bogus'", tls.config, { bogus = 1 })
      raises("unknown TLS option 'bogus'", tls.listen, "127.0.0.1", 0, T.echo, server_opts("server", { bogus = 1 }))
      raises("unknown TLS option 'certs[1].bogus'", tls.config,
        { certs = { { cert = pem("server"), key = key("server"), bogus = 1 } } })
    end)

    it("wrong option types and values", function()
      local cases = {
        { { cafile = 1 }, "TLS option 'cafile' must be a string" },
        { { ca = "/etc/ssl/ca.pem" }, "TLS option 'ca' must be PEM text" },
        { { cert = true, key = key("server") }, "TLS option 'cert' must be a string" },
        { { cert = pem("server") }, "TLS option 'cert' needs option 'key'" },
        { { key = key("server") }, "TLS option 'key' needs option 'cert'" },
        { { alpn = 5 }, "TLS option 'alpn' must be an array of strings" },
        { { alpn = { "h2", 5 } }, "TLS option 'alpn[2]' must be a string, got number" },
        { { alpn = { "" } }, "TLS option 'alpn'" },
        { { protocols = "sslv3" }, "unknown or unsupported protocol 'sslv3'" },
        { { protocols = {} }, "TLS option 'protocols' enables no protocol" },
        { { timeout = "soon" }, "'timeout'" },
        { { timeout = -1 }, "'timeout'" },
        { { resumption = "yes" }, "TLS option 'resumption' must be a boolean" },
        { { verify_client = "maybe" }, "TLS option 'verify_client' must be \"required\" or \"optional\"" },
        { { servername = 1 }, "TLS option 'servername' must be a string" },
        { { insecure_no_verify_name = 1 }, "TLS option 'insecure_no_verify_name' must be a boolean" },
        { { insecure_no_verify_cert = "yes" }, "TLS option 'insecure_no_verify_cert' must be a boolean" },
        { { insecure_no_verify_time = {} }, "TLS option 'insecure_no_verify_time' must be a boolean" },
        { { certs = "x" }, "TLS option 'certs' must be an array" },
        { { certs = { { cert = pem("server") } } }, "TLS option 'certs[1]' needs both 'cert' and 'key'" },
        { { [1] = "x" }, "keys must be strings" },
      }
      for _, c in ipairs(cases) do
        raises(c[2], tls.config, c[1])
        raises(c[2], tls.connecta, addr, "localhost", c[1])
      end
    end)

    it("bad arguments name themselves", function()
      raises("bad argument #2 to 'tls.connecta'", tls.connecta, addr)
      raises("bad argument #3 to 'tls.connecta'", tls.connecta, addr, "localhost", 42)
      raises("bad argument #2 to 'tls.connect'", tls.connect, "127.0.0.1", "no port")
      raises("bad argument #4 to 'tls.listen'", tls.listen, "127.0.0.1", 0, T.echo)
      raises("options need 'cert' and 'key'", tls.listen, "127.0.0.1", 0, T.echo, trust())
      raises("bad argument #3 to 'tls.listen'", tls.listen, "127.0.0.1", 0, "not a function", server_opts())
    end)
  end)

  describe("client certificates", function()
    local function client(name, extra)
      local o = trust(extra)
      if name then o.cert, o.key = pem(name), key(name) end
      return o
    end

    for _, proto in ipairs { "tlsv1.3", "tlsv1.2" } do
      describe(proto .. ", verify_client = 'required'", function()
        local function required(seen)
          return T.serve(server_opts("server",
            { verify_client = "required", cafile = pem("ca"), protocols = proto }), recorder(seen))
        end

        it("a client certificate from the CA works; the server sees it in info().peer", function()
          local seen = {}
          local _, addr = required(seen)
          bounded(10, function()
            local info = roundtrip(addr, "localhost", client("client"))
            assert.equal(proto == "tlsv1.3" and "TLSv1.3" or "TLSv1.2", info.version)
            local peer = assert(seen.info.peer)
            assert.matches("CN=lua%-tls test client", peer.subject)
            assert.matches("CN=lua%-tls Test CA", peer.issuer)
            assert.equal("lua-tls test client", peer.common_name)
            assert.equal("SHA256:" .. openssl_field(pem("client"), "fingerprint -sha256"), peer.hash)
            assert.equal(T.slurp(pem("client")), peer.chain_pem)
          end)
        end)

        it("the client certificate may be PEM text", function()
          local seen = {}
          local _, addr = required(seen)
          bounded(10, function()
            roundtrip(addr, "localhost", trust { cert = T.slurp(pem("client")), key = T.slurp(key("client")) })
            assert.equal("lua-tls test client", seen.info.peer.common_name)
          end)
        end)

        -- TLS 1.2: the server's verdict arrives within the handshake, so
        -- connecta fails. TLS 1.3: the client's handshake is done before
        -- the server has judged its certificate; connecta succeeds and the
        -- server's alert comes out of the first read.
        local function refused(addr, opts, words)
          if proto == "tlsv1.2" then
            fails("certificate", words, tls.connecta(addr, "localhost", opts))
          else
            local ios = assert(tls.connecta(addr, "localhost", opts))
            fails("certificate", words, ios:read("l"))
            -- The failure sticks.
            fails("certificate", words, ios:read("l"))
            ios:close()
          end
        end

        it("no client certificate: code 'certificate' (" ..
          (proto == "tlsv1.2" and "at connecta" or "at the first read") .. ")", function()
          local seen = {}
          local _, addr = required(seen)
          bounded(10, function()
            refused(addr, client(nil), { "client certificate required" })
            assert.is_nil(seen.info) -- the handler never ran
          end)
        end)

        it("a client certificate from another CA: code 'certificate', alert unknown_ca", function()
          local seen = {}
          local _, addr = required(seen)
          bounded(10, function()
            refused(addr, client("foreign-client"), { "client certificate rejected by the server", "unknown_ca" })
            assert.is_nil(seen.info)
          end)
        end)
      end)
    end

    it("verify_client = 'optional' accepts no certificate and a good one, rejects a foreign one", function()
      local seen = {}
      local _, addr = T.serve(server_opts("server", { verify_client = "optional", ca = T.slurp(pem("ca")) }),
        recorder(seen))
      bounded(10, function()
        roundtrip(addr, "localhost", client(nil))
        assert.is_table(seen.info)
        assert.is_nil(seen.info.peer)
        roundtrip(addr, "localhost", client("client"))
        assert.equal("lua-tls test client", seen.info.peer.common_name)
        local ios = assert(tls.connecta(addr, "localhost", client("foreign-client")))
        fails("certificate", { "unknown_ca" }, ios:read("l"))
        ios:close()
      end)
    end)
  end)

  describe("timeouts and robustness", function()
    it("a client that never sends a ClientHello blocks nobody and is dropped at the handshake timeout", function()
      local _, addr = T.serve(server_opts("server", { timeout = 1 }))
      bounded(15, function()
        local raw = assert(tcp.connecta(addr))
        local t0 = loop.now()
        -- The stalled client waits for its end in a task of its own...
        local dropped = loop.spawn(function()
          raw:settimeout(5)
          local r = helper.pack(raw:read("a"))
          return loop.now(), r
        end)
        -- ...while TLS clients are served, before it is dropped.
        for i = 1, 3 do
          local ios = assert(tls.connecta(addr, "localhost", trust()))
          assert(ios:write("line " .. i .. "\n"))
          assert.equal("line " .. i, ios:read("l"))
          ios:close()
        end
        local served = loop.now()
        local _, at, r = assert(dropped:join())
        assert(served < at, "the stalled client held up the others")
        -- Dropped: the end of the stream (after, at most, a plaintext
        -- close_notify alert record: 0x15 0x03 0x03 0x00 0x02 0x01 0x00)
        -- or a reset, and not by our own 5 s read timeout.
        assert(r[1] == "" or r[1] == "\21\3\3\0\2\1\0" or r[3] == "reset",
          ("raw read gave %q %s %s"):format(tostring(r[1]), tostring(r[2]), tostring(r[3])))
        local waited = at - t0
        assert(waited >= 0.9 and waited < 4, ("dropped after %.2f s"):format(waited))
        raw:close()
      end)
    end)

    it("a client that sends garbage is dropped; others go on", function()
      local _, addr = T.serve(server_opts())
      bounded(10, function()
        local raw = assert(tcp.connecta(addr))
        assert(raw:write("GET / HTTP/1.0\r\n\r\n"))
        raw:settimeout(5)
        local r = helper.pack(raw:read("a"))
        assert(r[1] ~= nil or r[3] == "reset", tostring(r[2]))
        raw:close()
        roundtrip(addr, "localhost", trust())
      end)
    end)

    it("a read timeout on a TLS stream gives 'timeout'; the stream stays usable", function()
      local _, addr = T.serve(server_opts(), function(ios)
        loop.sleep(0.6)
        ios:write("late\n")
        ios:read("a")
      end)
      bounded(10, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        ios:settimeout(0.2)
        local t0 = loop.now()
        fails("timeout", { "timed out", "localhost", addr }, ios:read("l"))
        assert(loop.now() - t0 >= 0.15)
        ios:settimeout(5)
        assert.equal("late", ios:read("l"))
        ios:close()
      end)
    end)

    it("the timeout option bounds connect plus handshake against a silent server", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) ios:read("a") end))
      local addr = "127.0.0.1:" .. srv:address().port
      finally(function() srv:close() end)
      bounded(10, function()
        local t0 = loop.now()
        fails("timeout", { "timed out", "localhost", addr }, tls.connecta(addr, "localhost", trust { timeout = 0.3 }))
        local took = loop.now() - t0
        assert(took >= 0.25 and took < 2, ("took %.2f s"):format(took))
        -- The same through a tls.config.
        fails("timeout", { "timed out" }, tls.connecta(addr, "localhost", tls.config(trust { timeout = 0.3 })))
      end)
    end)

    it("a plain-text server: code 'handshake', asks whether it speaks TLS", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
        ios:write("HTTP/1.0 400 Bad Request\r\n\r\n")
      end))
      finally(function() srv:close() end)
      bounded(10, function()
        fails("handshake", { "is it speaking TLS?" },
          tls.connecta("127.0.0.1:" .. srv:address().port, "localhost", trust()))
      end)
    end)

    it("a server that closes at once: code 'handshake'", function()
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) ios:close() end))
      finally(function() srv:close() end)
      bounded(10, function()
        fails("handshake", { "closed the connection during the TLS handshake" },
          tls.connecta("127.0.0.1:" .. srv:address().port, "localhost", trust()))
      end)
    end)

    it("nothing listening: code 'refused'", function()
      local port = helper.free_port()
      bounded(10, function()
        fails("refused", { "refused", "127.0.0.1:" .. port },
          tls.connecta("127.0.0.1:" .. port, "localhost", trust()))
      end)
    end)

    it("ALPN: no protocol in common with a server that has a list is 'handshake'", function()
      local _, addr = T.serve(server_opts("server", { alpn = { "h2" } }))
      bounded(10, function()
        fails("handshake", { "no ALPN protocol in common", "no_application_protocol" },
          tls.connecta(addr, "localhost", trust { alpn = { "http/1.1" } }))
        -- A client that offers nothing gets no ALPN, and no failure.
        assert.is_nil(roundtrip(addr, "localhost", trust()).alpn)
      end)
    end)

    it("protocol mismatch is 'handshake' and says which version the peer lacks", function()
      local _, only13 = T.serve(server_opts("server", { protocols = "tlsv1.3" }))
      local _, only12 = T.serve(server_opts("server", { protocols = "tlsv1.2" }))
      bounded(10, function()
        fails("handshake", { "peer does not support TLS 1.2", "protocol_version" },
          tls.connecta(only13, "localhost", trust { protocols = "tlsv1.2" }))
        fails("handshake", { "peer does not support TLS 1.3", "protocol_version" },
          tls.connecta(only12, "localhost", trust { protocols = "tlsv1.3" }))
      end)
    end)

    it("close() sends close_notify: our server reads a clean end, not a truncation", function()
      local got = {}
      local _, addr = T.serve(server_opts(), function(ios)
        got.data, got.msg, got.code = ios:read("a")
        got.after = ios:read("a")
      end)
      bounded(10, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert(ios:write("all of it"))
        ios:close()
        assert(helper.hold(function() return got.after ~= nil or got.code ~= nil end, 5))
        assert.equal("all of it", got.data, tostring(got.msg))
        assert.equal("", got.after)
      end)
    end)

    it("shutdown() half-closes: the server sees the end, replies, the client reads it", function()
      local got = {}
      local _, addr = T.serve(server_opts(), function(ios)
        got.data = ios:read("a")
        got.eof = ios:read(1)
        ios:write("got " .. #got.data .. " bytes")
      end)
      bounded(10, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert(ios:write("twelve bytes"))
        assert.is_true(ios:shutdown())
        assert.equal("got 12 bytes", ios:read("a"))
        assert.equal("", ios:read("a"))
        assert.equal("twelve bytes", got.data)
        assert.is_nil(got.eof)
        ios:close()
      end)
    end)

    it("I/O after close() is nil, msg, 'closed'; closing twice is harmless", function()
      local _, addr = T.serve(server_opts())
      bounded(10, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(ios, ios:handshake()) -- already done: returns at once
        ios:close()
        ios:close()
        fails("closed", { "closed" }, ios:read("l"))
        fails("closed", { "closed" }, ios:write("x"))
        fails("closed", { "closed" }, ios:handshake())
      end)
    end)
  end)

  describe("SNI", function()
    local function sni_server(seen)
      return T.serve({
        certs = {
          { cert = pem("server"), key = key("server") },
          { cert = pem("other"), key = key("other") },
        },
      }, recorder(seen))
    end

    it("presents other.pem to 'other.test' and server.pem to 'localhost'", function()
      local seen = {}
      local _, addr = sni_server(seen)
      bounded(10, function()
        local info = roundtrip(addr, "other.test", trust())
        assert.equal("other.test", info.peer.common_name)
        assert.same({ "other.test" }, info.peer.names)
        assert.equal("other.test", seen.info.servername)
        info = roundtrip(addr, "localhost", trust())
        assert.equal("localhost", info.peer.common_name)
        assert.equal("localhost", seen.info.servername)
      end)
    end)

    it("an unknown name or no SNI at all gets the first certificate", function()
      local seen = {}
      local _, addr = sni_server(seen)
      bounded(10, function()
        local info = roundtrip(addr, "unknown.test", trust { insecure_no_verify_name = true })
        assert.equal("localhost", info.peer.common_name)
        assert.equal("unknown.test", seen.info.servername)
        info = roundtrip(addr, "127.0.0.1", trust())
        assert.equal("localhost", info.peer.common_name)
        assert.is_nil(seen.info.servername)
      end)
    end)

    it("the servername option overrides the name sent and verified", function()
      local seen = {}
      local _, addr = sni_server(seen)
      bounded(10, function()
        local info = roundtrip(addr, "127.0.0.1", trust { servername = "other.test" })
        assert.equal("other.test", info.peer.common_name)
        assert.equal("other.test", info.servername)
        assert.equal("other.test", seen.info.servername)
      end)
    end)

    it("cert/key plus certs: cert/key is the fallback, certs add names", function()
      local seen = {}
      local _, addr = T.serve(server_opts("server", {
        certs = { { cert = pem("other"), key = key("other") } },
      }), recorder(seen))
      bounded(10, function()
        assert.equal("other.test", roundtrip(addr, "other.test", trust()).peer.common_name)
        assert.equal("localhost", roundtrip(addr, "localhost", trust()).peer.common_name)
      end)
    end)
  end)
end)
