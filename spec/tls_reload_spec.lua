-- Changed files are noticed: a config built from paths is rebuilt when a
-- certificate, key or CA file is replaced (by our server, our client, a
-- plain options table or a tls.config), and server:reload(opts) swaps a
-- running server's configuration while open connections keep theirs.
local tls = require "tls"
local tcp = require "tls.tcp"
local T = require "tls_support"
local X = require "tls_extra_certs"

local bounded, fails, q = T.bounded, T.fails, T.q
local pem, key = T.pem, T.key

local dir
-- Replaces `name` in the temp dir by a copy of `from`, atomically (a new
-- file renamed over the old, as deployment tools do).
local function install(from, name)
  local tmp = dir .. name .. ".new"
  T.write(tmp, T.slurp(from))
  assert(os.rename(tmp, dir .. name))
end

local function hash_of(addr, host, opts)
  local ios = assert(tls.connecta(addr, host or "localhost", opts or T.trust()))
  local h = ios:info().peer.hash
  ios:close()
  return h
end

describe("tls reload", function()
  setup(function()
    T.certs()
    X.dir()
  end)

  teardown(function()
    X.cleanup()
  end)

  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir)))
    dir = dir .. "/"
  end)

  after_each(function()
    T.cleanup()
    os.execute("rm -rf " .. q(dir))
  end)

  describe("replaced files are noticed", function()
    it("a new tls.listen with the same paths serves the new certificate", function()
      install(pem("server"), "cert.pem")
      install(key("server"), "key.pem")
      local opts = { cert = dir .. "cert.pem", key = dir .. "key.pem" }
      local _, first = T.serve(opts)
      bounded(20, function()
        assert.equal(X.fingerprint(pem("server")), hash_of(first))
        install(pem("rsa"), "cert.pem")
        install(key("rsa"), "key.pem")
        local _, second = T.serve(opts)
        assert.equal(X.fingerprint(pem("rsa")), hash_of(second))
        -- The first server builds new connections from the new files too.
        assert.equal(X.fingerprint(pem("rsa")), hash_of(first))
      end)
    end)

    it("a replaced cafile is read again, by plain tables and tls.config objects alike", function()
      local _, addr = T.serve(T.server_opts("unknownca"))
      bounded(20, function()
        install(pem("ca"), "ca.pem")
        local opts = { cafile = dir .. "ca.pem" }
        local cfg = tls.config(opts)
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", opts))
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", cfg))
        install(pem("ca2"), "ca.pem")
        assert(tls.connecta(addr, "localhost", opts)):close()
        assert(tls.connecta(addr, "localhost", cfg)):close()
        -- Never a stale CA: trust taken away is gone at once.
        install(pem("ca"), "ca.pem")
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", opts))
        fails("certificate", { "unknown issuer" }, tls.connecta(addr, "localhost", cfg))
      end)
    end)

    it("a CA file that became unreadable is a config failure, not the old CA", function()
      local _, addr = T.serve(T.server_opts())
      bounded(20, function()
        install(pem("ca"), "ca.pem")
        local opts = { cafile = dir .. "ca.pem" }
        assert(tls.connecta(addr, "localhost", opts)):close()
        T.write(dir .. "ca.pem", "garbage\n")
        fails("config", { dir .. "ca.pem" }, tls.connecta(addr, "localhost", opts))
        os.remove(dir .. "ca.pem")
        fails("config", { "no such file" }, tls.connecta(addr, "localhost", opts))
      end)
    end)

    it("sessions still resume while nothing changes", function()
      install(pem("ca"), "ca.pem")
      local _, addr = T.serve(T.server_opts())
      bounded(20, function()
        local cfg = tls.config({ cafile = dir .. "ca.pem" })
        local first = assert(tls.connecta(addr, "localhost", cfg))
        -- A round trip, so the TLS 1.3 ticket that follows the handshake arrives.
        assert(first:write("x\n"))
        assert.equal("x", first:read("l"))
        first:close()
        local ios = assert(tls.connecta(addr, "localhost", cfg))
        assert.is_true(ios:info().resumed)
        ios:close()
      end)
    end)
  end)

  describe("a resumed session does not outlive what checked the client", function()
    -- Tickets under fixed keys (ticket_keys) outlive a rebuilt config; a
    -- ticket issued under other client-certificate rules must not let its
    -- client in without a full check.
    local KEYS = { ("k"):rep(32) }

    -- Connects with the client certificate of `ca` and reads the greeting
    -- (TLS 1.3: a refusal of the client arrives with that read).
    local function visit(addr, cfg)
      local ios, msg = tls.connecta(addr, "localhost", cfg)
      if not ios then return nil, msg end
      local line, err = ios:read("l")
      local resumed = ios:info().resumed
      ios:close()
      if not line then return nil, err end
      return line, resumed
    end

    local function greeter(ios)
      ios:write("welcome\n")
      ios:read("a")
    end

    local client = function() return T.trust { cert = pem("client"), key = key("client") } end

    it("a replaced client CA file refuses tickets issued before", function()
      install(pem("ca"), "clients.pem")
      local _, addr = T.serve(T.server_opts("server", {
        verify_client = "required", cafile = dir .. "clients.pem", ticket_keys = KEYS }), greeter)
      bounded(20, function()
        local cfg = tls.config(client())
        assert.same({ "welcome", false }, { visit(addr, cfg) })
        assert.same({ "welcome", true }, { visit(addr, cfg) })
        install(pem("ca2"), "clients.pem")
        local line, msg = visit(addr, cfg)
        assert.is_nil(line)
        assert.matches("unknown_ca", msg)
      end)
    end)

    it("server:reload with other client CAs refuses tickets issued before", function()
      local opts = T.server_opts("server", {
        verify_client = "required", cafile = pem("ca"), ticket_keys = KEYS })
      local srv, addr = T.serve(opts, greeter)
      bounded(20, function()
        local cfg = tls.config(client())
        assert.same({ "welcome", false }, { visit(addr, cfg) })
        assert.is_true(srv:reload(T.server_opts("server", {
          verify_client = "required", cafile = pem("ca2"), ticket_keys = KEYS })))
        local line, msg = visit(addr, cfg)
        assert.is_nil(line)
        assert.matches("unknown_ca", msg)
        -- The first rules again (a config of its own, same contents): the
        -- session made under them resumes, as in another process with the
        -- same files and keys.
        assert.is_true(srv:reload(T.server_opts("server", {
          verify_client = "required", cafile = pem("ca"), ticket_keys = KEYS })))
        assert.same({ "welcome", true }, { visit(addr, cfg) })
      end)
    end)

    it("session_lifetime bounds a session's whole life, resumptions included", function()
      -- Lifetime 1 s (whole seconds): a session begun at second S resumes
      -- until S + 1 at most, however often it was resumed since.
      local _, addr = T.serve(T.server_opts("server", { session_lifetime = 1 }), greeter)
      bounded(20, function()
        local cfg = tls.config(T.trust())
        local loop = require "tls.loop"
        assert.same({ "welcome", false }, { visit(addr, cfg) })
        local t0, full_again = loop.now(), false
        while loop.now() - t0 < 3.2 do
          loop.sleep(0.25)
          local line, resumed = visit(addr, cfg)
          assert.equal("welcome", line)
          if not resumed then full_again = true break end
        end
        assert.is_true(full_again, "every connection for 3 s resumed a 1 s session")
      end)
    end)
  end)

  describe("server:reload", function()
    it("new connections get the new certificate; open ones keep theirs", function()
      local srv, addr = T.serve(T.server_opts())
      bounded(20, function()
        local open = assert(tls.connecta(addr, "localhost", T.trust()))
        assert.is_true(srv:reload(T.server_opts("rsa")))
        assert.equal(X.fingerprint(pem("rsa")), hash_of(addr))
        assert(open:write("still here\n"))
        assert.equal("still here", open:read("l"))
        assert.equal(X.fingerprint(pem("server")), open:info().peer.hash)
        open:close()
        -- A tls.config works as well as a table.
        assert.is_true(srv:reload(tls.config(T.server_opts("other"))))
        assert.equal(X.fingerprint(pem("other")), hash_of(addr, "other.test"))
      end)
    end)

    it("a configuration that cannot be built: nil, msg, code, and the old one stays", function()
      local srv, addr = T.serve(T.server_opts())
      bounded(20, function()
        fails("config", { "/nonexistent/cert.pem" },
          srv:reload({ cert = "/nonexistent/cert.pem", key = key("server") }))
        fails("config", { "does not match" }, srv:reload({ cert = pem("server"), key = key("rsa") }))
        fails("config", { "needs 'verify_client'" }, srv:reload(T.server_opts("rsa", { insecure_no_verify_cert = true })))
        assert.equal(X.fingerprint(pem("server")), hash_of(addr))
      end)
    end)

    it("can change how clients are checked (to trust on first use)", function()
      local srv, addr = T.serve(T.server_opts(), function(ios)
        local info = ios:info()
        ios:write((info.peer and info.peer.hash or "none") .. "\n")
        ios:close()
      end)
      bounded(20, function()
        local client = T.trust { cert = X.pem("tofu-ca"), key = X.key("tofu-ca") }
        local ios = assert(tls.connecta(addr, "localhost", client))
        assert.equal("none", ios:read("l"))
        assert.is_true(srv:reload(T.server_opts("server", { verify_client = "required", insecure_no_verify_cert = true })))
        ios = assert(tls.connecta(addr, "localhost", client))
        assert.equal(X.fingerprint(X.pem("tofu-ca")), ios:read("l"))
        local bare = tls.connecta(addr, "localhost", T.trust())
        -- TLS 1.3: the refusal arrives with the first read.
        if bare then
          local line, msg, code = bare:read("l")
          assert.is_nil(line)
          assert.equal("certificate", code, msg)
        end
      end)
    end)

    it("misuse raises: no options, no certificate, TCP options, a TCP server", function()
      local srv = T.serve(T.server_opts())
      T.raises("bad argument #1 to 'server:reload' (options with cert and key expected, got nil)",
        function() return srv:reload() end)
      T.raises("bad argument #1 to 'server:reload' (options need 'cert' and 'key'", function() return srv:reload({}) end)
      T.raises("option 'backlog' is fixed when the server starts", function()
        return srv:reload(T.server_opts("rsa", { backlog = 5 }))
      end)
      T.raises("unknown TLS option 'bogus'", function() return srv:reload(T.server_opts("rsa", { bogus = 1 })) end)
      local plain = assert(tcp.listen("127.0.0.1", 0, function() end))
      T.raises("'server:reload'", function() return plain:reload(T.server_opts()) end)
      plain:close()
    end)
  end)
end)
