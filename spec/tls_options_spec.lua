-- The tuning options: ciphers, curves, verify_depth, session_lifetime,
-- ticket_keys and ticket_key_file, checked against openssl s_server and
-- s_client and between our own servers in two processes.
local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"
local X = require "tls_extra_certs"

local bounded, fails, q = T.bounded, T.fails, T.q
local pem, key, trust = T.pem, T.key, T.trust

local K1, K2, K3 = ("1"):rep(32), ("second key: more than 32 bytes long"), ("3"):rep(48)

-- Peers started by a test, stopped after it (busted keeps only one
-- `finally` per test, so they are collected here).
local peers = {}
local function stopping(p)
  peers[#peers + 1] = p
  return p
end

local function s_server(args, cert, chain)
  local port = helper.free_port()
  stopping(T.start(("openssl s_server -accept 127.0.0.1:%d -cert %s -key %s %s")
    :format(port, q(cert or pem("server")), q(chain or key("server")), args), port))
  return "127.0.0.1:" .. port
end

local function s_client(port, args, input)
  return T.run(("openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s %s")
    :format(port, q(pem("ca")), args or ""), 15, input or "hello\n")
end

-- Our ticket server in another process; returns its port.
local function other_process(keys, port)
  local portfile = os.tmpname()
  os.remove(portfile)
  stopping(helper.process(("cd %s && %s exec %s spec/fixtures/ticket_server.lua %s %s %s %s %s")
    :format(q(T.root), helper.env, helper.interpreter, q(portfile), q(pem("server")), q(key("server")), q(table.concat(keys, ",")),
      tostring(port or 0))))
  local text
  helper.hold(function()
    local f = io.open(portfile)
    if f then text = f:read("*l"); f:close() end
    return text
  end, 15)
  os.remove(portfile)
  return assert(tonumber(text), "the ticket server did not start")
end

-- Connects, sends a line, returns whether the server says it resumed
-- (and what our side says).
local function ask(port, cfg)
  local ios = assert(tls.connecta("127.0.0.1:" .. port, "localhost", cfg))
  assert(ios:write("x\n"))
  local line = assert(ios:read("l"))
  local ours = ios:info().resumed
  ios:close()
  return line == "resumed=true", ours
end

local function resumer(ios)
  ios:settimeout(10)
  if ios:read("l") then ios:write("resumed=" .. tostring(ios:info().resumed) .. "\n") end
  ios:close()
end

describe("tls tuning options", function()
  setup(function()
    T.certs()
    X.dir()
  end)

  teardown(function()
    X.cleanup()
  end)

  after_each(function()
    for i = #peers, 1, -1 do
      peers[i]:stop()
      peers[i] = nil
    end
    T.cleanup()
  end)

  describe("ciphers", function()
    it("our client offers only its suites (openssl s_server chooses among them)", function()
      local addr = s_server("-www")
      bounded(20, function()
        for _, suite in ipairs { "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256" } do
          local ios = assert(tls.connecta(addr, "localhost", trust { ciphers = { suite } }))
          assert.equal(suite, ios:info().cipher)
          ios:close()
        end
        local ios = assert(tls.connecta(addr, "localhost",
          trust { ciphers = { "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" }, protocols = "tlsv1.2" }))
        assert.equal("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", ios:info().cipher)
        ios:close()
      end)
    end)

    it("no suite in common with s_server -ciphersuites: a handshake failure", function()
      local addr = s_server("-www -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256")
      bounded(20, function()
        fails("handshake", {}, tls.connecta(addr, "localhost", trust { ciphers = { "TLS_AES_256_GCM_SHA384" } }))
      end)
    end)

    it("our server uses only its suites (openssl s_client -ciphersuites / -cipher)", function()
      local _, _, port = T.serve(T.server_opts("server",
        { ciphers = { "TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" } }), T.echo)
      bounded(30, function()
        local rc, out, err = s_client(port, "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256")
        assert.equal(0, rc, err .. out)
        assert.matches("Cipher is TLS_AES_128_GCM_SHA256", out, 1, true)
        rc, out, err = s_client(port, "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305")
        assert.equal(0, rc, err .. out)
        assert.matches("Cipher is ECDHE-ECDSA-CHACHA20-POLY1305", out, 1, true)
        local _, out2, err2 = s_client(port, "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384")
        assert.matches("handshake failure", err2 .. out2, 1, true)
      end)
    end)

    it("'secure' and 'default' mean every suite; the rustls spelling is accepted", function()
      local _, addr = T.serve(T.server_opts("server", { ciphers = "secure" }), T.echo)
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust { ciphers = { "TLS13_AES_256_GCM_SHA384" } }))
        assert.equal("TLS_AES_256_GCM_SHA384", ios:info().cipher)
        ios:close()
        assert(tls.connecta(addr, "localhost", trust { ciphers = "default" })):close()
      end)
    end)

    it("only TLS 1.2 suites with only TLS 1.3 enabled: a clear config failure", function()
      local _, addr = T.serve(T.server_opts(), T.echo)
      bounded(20, function()
        fails("config", { "'protocols' and 'ciphers'" }, tls.connecta(addr, "localhost",
          trust { protocols = "tlsv1.3", ciphers = { "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" } }))
      end)
    end)
  end)

  describe("curves", function()
    it("our server picks among its groups (openssl s_client -groups)", function()
      local _, _, port = T.serve(T.server_opts("server", { curves = { "P-384", "P-256" } }), T.echo)
      bounded(30, function()
        for _, flag in ipairs { "-tls1_3", "-tls1_2" } do
          -- P-256 too: TLS 1.2 needs the certificate's curve in the list.
          local rc, out, err = s_client(port, flag .. " -groups X25519:P-384:P-256")
          assert.equal(0, rc, err .. out)
          assert.matches("Server Temp Key: ECDH, secp384r1", out, 1, true)
        end
        local _, out, err = s_client(port, "-tls1_3 -groups X25519")
        assert.is_nil(out:find("Server Temp Key", 1, true))
        assert.matches("alert", err .. out, 1, true)
      end)
    end)

    it("our client offers only its groups (openssl s_server -groups)", function()
      local addr = s_server("-www -groups P-256:X25519")
      bounded(20, function()
        assert(tls.connecta(addr, "localhost", trust { curves = { "X25519" } })):close()
        assert(tls.connecta(addr, "localhost", trust { curves = { "P-256" } })):close()
        fails("handshake", {}, tls.connecta(addr, "localhost", trust { curves = { "P-384" } }))
      end)
    end)

    it("X25519MLKEM768 between our own client and server", function()
      local _, addr = T.serve(T.server_opts("server", { curves = { "X25519MLKEM768" } }), T.echo)
      bounded(20, function()
        assert(tls.connecta(addr, "localhost", trust { curves = { "X25519MLKEM768", "X25519" } })):close()
        fails("handshake", { "handshake_failure" },
          tls.connecta(addr, "localhost", trust { curves = { "X25519" }, protocols = "tlsv1.3" }))
      end)
    end)
  end)

  describe("verify_depth", function()
    -- deep-chain.pem: the server certificate and two intermediates, three
    -- certificates below the root.
    local function deep_server(extra)
      return T.serve(T.with({ cert = X.pem("deep-chain"), key = X.key("deep") }, extra), T.echo)
    end

    it("a client accepts a chain as long as verify_depth and refuses a longer one", function()
      local _, addr = deep_server()
      bounded(20, function()
        assert(tls.connecta(addr, "localhost", { cafile = X.pem("root") })):close()
        assert(tls.connecta(addr, "localhost", { cafile = X.pem("root"), verify_depth = 3 })):close()
        local msg = fails("certificate", { "chain too long (3 certificates", "verify_depth is 2" },
          tls.connecta(addr, "localhost", { cafile = X.pem("root"), verify_depth = 2 }))
        assert.is_nil(msg:find("Other", 1, true))
        -- Trusting the second intermediate makes the chain shorter.
        assert(tls.connecta(addr, "localhost", { cafile = X.pem("int2"), verify_depth = 1 })):close()
      end)
    end)

    it("against openssl s_server sending the chain", function()
      local port = helper.free_port()
      stopping(T.start(("openssl s_server -www -accept 127.0.0.1:%d -cert %s -key %s -cert_chain %s")
        :format(port, q(X.pem("deep")), q(X.key("deep")), q(X.pem("deep-chain"))), port))
      bounded(20, function()
        local addr = "127.0.0.1:" .. port
        assert(tls.connecta(addr, "localhost", { cafile = X.pem("root"), verify_depth = 3 })):close()
        fails("certificate", { "chain too long" },
          tls.connecta(addr, "localhost", { cafile = X.pem("root"), verify_depth = 1 }))
      end)
    end)

    it("a server holds client chains to it (openssl s_client -cert_chain)", function()
      for _, v in ipairs { { 3, true }, { 2, false } } do
        local _, _, port = T.serve(T.server_opts("server",
          { verify_client = "required", cafile = X.pem("root"), verify_depth = v[1] }), resumer)
        bounded(20, function()
          local rc, out, err = s_client(port, ("-tls1_3 -ign_eof -cert %s -key %s -cert_chain %s")
            :format(q(X.pem("deep")), q(X.key("deep")), q(X.pem("deep-chain"))))
          if v[2] then
            assert.equal(0, rc, err .. out)
            assert.matches("resumed=false", out, 1, true)
          else
            assert.is_nil(out:find("resumed=", 1, true))
            assert.matches("alert", err .. out, 1, true)
          end
        end)
      end
    end)
  end)

  describe("session_lifetime", function()
    it("is the ticket lifetime hint openssl s_client sees", function()
      local _, _, port = T.serve(T.server_opts("server", { session_lifetime = 77 }), resumer)
      bounded(20, function()
        for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
          local rc, out, err = s_client(port, flag .. " -ign_eof")
          assert.equal(0, rc, err .. out)
          assert.matches("lifetime hint: 77 (seconds)", out, 1, true)
        end
      end)
    end)

    it("a session older than the lifetime is not resumed", function()
      local _, _, port = T.serve(T.server_opts("server", { session_lifetime = 1 }), resumer)
      bounded(20, function()
        for _, protocols in ipairs { "tlsv1.3", "tlsv1.2" } do
          local cfg = tls.config(trust { protocols = protocols })
          assert.is_false((ask(port, cfg)))
          assert.is_true((ask(port, cfg)))
          loop.sleep(2.2)
          assert.is_false((ask(port, cfg)))
        end
      end)
    end)
  end)

  describe("ticket_keys", function()
    it("two server processes with the same keys resume each other's sessions", function()
      local _, _, here = T.serve(T.server_opts("server", { ticket_keys = { K1 } }), resumer)
      local there = other_process({ K1 })
      bounded(30, function()
        for _, protocols in ipairs { "tlsv1.3", "tlsv1.2" } do
          local cfg = tls.config(trust { protocols = protocols })
          local resumed, ours = ask(here, cfg)
          assert.is_false(resumed)
          assert.is_false(ours)
          resumed, ours = ask(there, cfg)
          assert.is_true(resumed)
          assert.is_true(ours)
          assert.is_true((ask(here, cfg)))
        end
      end)
    end)

    it("two processes on one port (reuseport) serve every client's resumption", function()
      local _, _, port = T.serve(T.server_opts("server", { ticket_keys = { K1 }, reuseport = true }), resumer)
      other_process({ K1 }, port)
      bounded(30, function()
        local cfg = tls.config(trust())
        ask(port, cfg)
        for _ = 1, 6 do assert.is_true((ask(port, cfg))) end
      end)
    end)

    it("openssl s_client -sess_out on one process, -sess_in on the other: reused", function()
      local _, _, here = T.serve(T.server_opts("server", { ticket_keys = { K1 } }), resumer)
      local there = other_process({ K1 })
      local sess = os.tmpname()
      finally(function() os.remove(sess) end)
      bounded(30, function()
        for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
          local rc, out, err = s_client(here, ("%s -ign_eof -sess_out %s"):format(flag, q(sess)), "x\n")
          assert.equal(0, rc, err .. out)
          assert.matches("resumed=false", out, 1, true)
          rc, out, err = s_client(there, ("%s -ign_eof -sess_in %s"):format(flag, q(sess)), "x\n")
          assert.equal(0, rc, err .. out)
          assert.matches("Reused, TLSv1.", out, 1, true)
          assert.matches("resumed=true", out, 1, true)
        end
      end)
    end)

    it("rotation: the first key issues, every key decrypts; other keys do not", function()
      local _, _, old = T.serve(T.server_opts("server", { ticket_keys = { K1 } }), resumer)
      local rotated = other_process({ K2, K1 })
      local stranger = other_process({ K3 })
      bounded(30, function()
        local cfg = tls.config(trust { protocols = "tlsv1.2" })
        ask(old, cfg)
        assert.is_true((ask(rotated, cfg)))     -- K1 ticket, decrypted by the second key
        -- TLS 1.2 keeps the resumed ticket; a fresh session gets a K2 ticket.
        local fresh = tls.config(trust { protocols = "tlsv1.2" })
        ask(rotated, fresh)
        assert.is_false((ask(old, fresh)))     -- K2 ticket: the old server cannot read it
        assert.is_false((ask(stranger, tls.config(trust()))))
        local c3 = tls.config(trust())
        ask(old, c3)
        assert.is_false((ask(stranger, c3)))
      end)
    end)

    it("ticket_key_file: read at start and again when the file is replaced", function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. q(dir))
      finally(function() os.execute("rm -rf " .. q(dir)) end)
      local file = dir .. "/keys"
      T.write(file, "# ticket keys, newest first\n" .. K1 .. "\n")
      local _, _, here = T.serve(T.server_opts("server", { ticket_key_file = file }), resumer)
      local k1 = other_process({ K1 })
      local k3 = other_process({ K3 })
      bounded(30, function()
        local cfg = tls.config(trust())
        ask(here, cfg)
        assert.is_true((ask(k1, cfg)))
        T.write(file .. ".new", K3 .. "\n" .. K1 .. "\n")
        os.rename(file .. ".new", file)
        local cfg3 = tls.config(trust())
        ask(here, cfg3)                         -- issued under K3 now
        assert.is_true((ask(k3, cfg3)))
        assert.is_true((ask(here, cfg)))        -- K1 tickets still accepted
        T.write(file .. ".new", "short\n")
        os.rename(file .. ".new", file)
        -- Never the stale keys: the server cannot build a config, so it
        -- drops the connection (and says why on stderr).
        assert.is_nil((tls.connecta("127.0.0.1:" .. here, "localhost", trust())))
      end)
    end)

    it("a missing or bad key file fails tls.listen with code config", function()
      local opts = T.server_opts("server", { ticket_key_file = "/nonexistent/keys" })
      fails("config", { "cannot read ticket key file /nonexistent/keys" }, tls.listen("127.0.0.1", 0, resumer, opts))
      local f = os.tmpname()
      finally(function() os.remove(f) end)
      T.write(f, "too short\n")
      fails("config", { "bad ticket key file", "line 1", "at least 32 bytes" },
        tls.listen("127.0.0.1", 0, resumer, T.server_opts("server", { ticket_key_file = f })))
    end)
  end)

  describe("tickets of one name from servers with other ciphers and curves", function()
    -- A rustls server that must ask for another key share, naming a suite
    -- of another hash than the ticket's, gets a second ClientHello without
    -- the ticket, and refuses it (missing_extension).
    -- Whatever the client's order: a's tickets are SHA-384 ones, and b
    -- asks for another share (a's group is the client's hint, b prefers
    -- X25519MLKEM768) naming a SHA-256 suite.
    local A = { ciphers = { "TLS_AES_256_GCM_SHA384" }, curves = { "X25519" } }
    local B = { ciphers = { "TLS_AES_128_GCM_SHA256" } }
    local function servers()
      local _, _, a = T.serve(T.server_opts("server", A), resumer)
      local _, _, b = T.serve(T.server_opts("server", B), resumer)
      return a, b
    end

    it("tls.connecta connects again without the tickets, which are dropped", function()
      local a, b = servers()
      bounded(30, function()
        local cfg = tls.config(trust())
        assert.same({ false, false }, { ask(a, cfg) })
        assert.same({ true, true }, { ask(a, cfg) })
        -- Offered a's ticket, refused after a HelloRetryRequest: the
        -- connect is made again, with a full handshake.
        assert.same({ false, false }, { ask(b, cfg) })
        assert.same({ true, true }, { ask(b, cfg) })
        -- b's ticket does not resume on a (another suite): a full handshake.
        assert.same({ false, false }, { ask(a, cfg) })
        assert.same({ false, false }, { ask(b, cfg) })
        assert.same({ true, true }, { ask(b, cfg) })
      end)
    end)

    it("ios:starttls reports the refusal once; the next handshake is full", function()
      local a, b = servers()
      local plain = assert(tcp.listen("127.0.0.1", 0, function(ios)
        ios:settimeout(10)
        -- The first upgrade fails on this side too (the refusal).
        if ios:starttls(T.server_opts("server", B)) then resumer(ios) else ios:close() end
      end))
      finally(function() plain:close() end)
      bounded(30, function()
        local cfg = tls.config(trust())
        assert.same({ false, false }, { ask(a, cfg) })
        local function upgrade()
          local ios = assert(tcp.connecta(plain:address()))
          local ok, msg, code = ios:starttls("localhost", cfg)
          if not ok then
            ios:close()
            return nil, msg, code
          end
          assert(ios:write("x\n"))
          local line = assert(ios:read("l"))
          ios:close()
          return line
        end
        local ok, msg, code = upgrade()
        assert.is_nil(ok)
        assert.equal("handshake", code)
        assert.matches("missing_extension after a HelloRetryRequest: the server refused the session ticket", msg, 1, true)
        assert.matches("the name's tickets were dropped", msg, 1, true)
        assert.equal("resumed=false", (upgrade()))
        assert.equal("resumed=true", (upgrade()))
        assert.same({ true, true }, { ask(b, cfg) })
      end)
    end)
  end)

  describe("bad input is misuse, naming the valid choices", function()
    local function raises(opts, text)
      T.raises(text, tls.config, opts)
    end

    it("names, depths, lifetimes and keys", function()
      raises({ ciphers = { "RC4-MD5" } }, "TLS option 'ciphers': unknown name 'RC4-MD5' (valid: \"secure\", \"default\", TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384")
      raises({ curves = { "secp256k1" } }, "TLS option 'curves': unknown name 'secp256k1' (valid:")
      raises({ curves = { "secp256k1" } }, "X25519MLKEM768, SecP256r1MLKEM768, X25519, P-256, P-384")
      raises({ ciphers = {} }, "names nothing")
      raises({ ciphers = true }, "TLS option 'ciphers' must be")
      raises({ curves = { 1 } }, "TLS option 'curves[1]' must be a string, got number")
      for _, bad in ipairs { 0, -1, 1.5, "3", true } do
        raises({ verify_depth = bad }, "TLS option 'verify_depth' must be a positive integer")
        raises({ session_lifetime = bad }, "TLS option 'session_lifetime' must be a positive integer")
      end
      raises({ ticket_keys = { ("k"):rep(31) } }, "TLS option 'ticket_keys[1]' must be at least 32 bytes, got 31")
      raises({ ticket_keys = { K1, "short" } }, "TLS option 'ticket_keys[2]' must be at least 32 bytes, got 5")
      raises({ ticket_keys = {} }, "must not be empty")
      raises({ ticket_keys = K1 }, "TLS option 'ticket_keys' must be an array of strings")
      raises({ ticket_keys = { K1 }, ticket_key_file = "/x" }, "exclude each other")
      raises({ ticket_key_file = 3 }, "TLS option 'ticket_key_file' must be a string")
    end)
  end)
end)
