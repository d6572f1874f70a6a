-- The programs in examples/ run as a user would run them: each in its own
-- interpreter, killed if it outlives its time bound, its output checked.
-- (examples/fetch.lua has its own spec, fetch_spec.lua.)
local helper = require "helper"

local ROOT = helper.root
local ENV = helper.env
local LUA = helper.interpreter

--- Runs `LUA examples/<script> <args>` (LUA: this interpreter); returns the exit code and
-- everything printed (stdout and stderr).
local function run(script, args, seconds)
  local cmd = ("cd %q && %s timeout -k 2 %d %s examples/%s %s 2>&1; echo \"exit=$?\"")
    :format(ROOT, ENV, seconds or 30, LUA, script, args or "")
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), (out:gsub("exit=%d+%s*$", ""))
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local s, e = text:find(plain, at, true)
    if not s then return n end
    n, at = n + 1, e + 1
  end
end

--- Whether a fresh interpreter can require `module`.
local function available(module)
  return (helper.lua(("require %q"):format(module), 10))
end

describe("examples", function()
  describe("echo_client.lua", function()
    it("runs its demo: three clients at once against the in-process server", function()
      local code, out = run("echo_client.lua", "", 30)
      assert.equal(0, code, out)
      assert.truthy(out:match("echo server on port %d+"), out)
      for i = 1, 3 do
        for _, msg in ipairs { "hello from client ", "line two from client ", "bye from client " } do
          local text = msg .. i
          assert.equal(1, count(out, ("sent %q, got %q"):format(text, text)), out)
        end
      end
      assert.truthy(out:find("all replies matched", 1, true), out)
    end)

    it("exits 1 and says why when nothing listens", function()
      local port = helper.free_port()
      local code, out = run("echo_client.lua", "127.0.0.1:" .. port, 30)
      assert.equal(1, code, out)
      assert.truthy(out:find(("client failed: connect to 127.0.0.1:%d: connection refused"):format(port), 1, true), out)
    end)

    it("exits 2 on an address it cannot read", function()
      local code, out = run("echo_client.lua", "nonsense", 30)
      assert.equal(2, code, out)
      assert.truthy(out:find("usage:", 1, true), out)
    end)
  end)

  describe("echo_server.lua", function()
    local server, port

    setup(function()
      server = helper.process(("cd %q && %s %s examples/echo_server.lua 127.0.0.1 0"):format(ROOT, ENV, LUA))
      for _ = 1, 200 do
        port = server:output():match("listening on 127%.0%.0%.1:(%d+)")
        if port then break end
        os.execute("sleep 0.05")
      end
      assert(port, "echo_server.lua did not start: " .. server:output())
    end)

    teardown(function()
      if server then server:stop() end
    end)

    it("answers echo_client.lua given its address", function()
      local code, out = run("echo_client.lua", ("localhost:%s alpha 'beta gamma'"):format(port), 30)
      assert.equal(0, code, out)
      assert.truthy(out:find('client: sent "alpha", got "alpha"', 1, true), out)
      assert.truthy(out:find('client: sent "beta gamma", got "beta gamma"', 1, true), out)
      assert.truthy(out:find("all replies matched", 1, true), out)
      assert.truthy(helper.wait_until(function()
        return server:output():find("done after 2 lines", 1, true)
      end, 5), server:output())
    end)

    it("echoes bytes unchanged, CR LF and a last line without newline included", function()
      local tcp = require "tls.tcp"
      local ios = assert(tcp.connecta("127.0.0.1:" .. port))
      ios:settimeout(5)
      assert(ios:write("one\r\n", "two\n", "three"))
      assert(ios:shutdown())
      assert.equal("one\r\ntwo\nthree", ios:read("a"))
      ios:close()
    end)
  end)

  describe("tls_echo.lua", function()
    it("runs its checks with spec/certs", function()
      assert(os.execute(("sh %q/scripts/gen-certs.sh %q/spec/certs >/dev/null"):format(ROOT, ROOT)))
      local code, out = run("tls_echo.lua", "", 60)
      assert.equal(0, code, out)
      assert.equal(0, count(out, "FAIL:"), out)
      assert.equal(10, count(out, "ok:   "), out)
      assert.truthy(out:find("resumed: false", 1, true), out)
      assert.truthy(out:find("resumed: true", 1, true), out)
      assert.equal(2, count(out, 'server: client "lua-tls test client"'), out)
      assert.truthy(out:find("client certificate required (certificate)", 1, true), out)
      assert.truthy(out:find("alert unknown_ca) (certificate)", 1, true), out)
      assert.truthy(out:find("all checks passed", 1, true), out)
    end)

    it("makes its own certificates in a directory that has none", function()
      local dir = os.tmpname()
      os.remove(dir)
      local code, out = run("tls_echo.lua", ("%q"):format(dir), 120)
      os.execute(("rm -rf %q"):format(dir))
      assert.equal(0, code, out)
      assert.truthy(out:find("generating test certificates in " .. dir, 1, true), out)
      assert.truthy(out:find("all checks passed", 1, true), out)
    end)
  end)

  describe("luv_embed.lua", function()
    if not available("luv") then
      pending("lua-luv is not installed")
      return
    end

    it("drives our loop from luv's until the client is done", function()
      local code, out = run("luv_embed.lua", "", 30)
      assert.equal(0, code, out)
      for i = 1, 3 do
        assert.truthy(out:find("reply: LINE " .. i, 1, true), out)
      end
      local ticks = tonumber(out:match("luv ticked (%d+) times"))
      assert.truthy(ticks and ticks >= 1, out)
    end)
  end)

  describe("dig.lua", function()
    -- Runs only where tls.dns is built in.
    if not available("tls.dns") then
      pending("tls.dns is not in this build of tls.so")
      return
    end

    it("runs its demo without a network", function()
      local code, out = run("dig.lua", "", 30)
      assert.equal(0, code, out)
      assert.truthy(out:find("127.0.0.1:80", 1, true), out)
      assert.truthy(out:find("[::1]:443", 1, true), out)
      assert.truthy(out:find("127.0.0.1:8080", 1, true), out)
    end)

    it("exits 2 on a usage error", function()
      local code, out = run("dig.lua", "-x name", 30)
      assert.equal(2, code, out)
      assert.truthy(out:find("usage:", 1, true), out)
    end)

    describe("against dnsmasq", function()
      if not os.execute("command -v dnsmasq >/dev/null 2>&1") then
        pending("dnsmasq is not installed")
        return
      end
      local dnsmasq, server

      setup(function()
        local port = helper.free_port()
        server = "127.0.0.1:" .. port
        dnsmasq = helper.process(("dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll"
          .. " --listen-address=127.0.0.1 --bind-interfaces --port=%d --pid-file="
          .. " --host-record=example.test,192.0.2.7,2001:db8::7 --local=/test/"):format(port))
        -- dnsmasq answers on UDP; give it a moment to bind.
        os.execute("sleep 0.3")
      end)

      teardown(function()
        if dnsmasq then dnsmasq:stop() end
      end)

      it("prints both families with the port attached", function()
        local code, out = run("dig.lua", ("@%s example.test 443"):format(server), 30)
        assert.equal(0, code, out .. dnsmasq:output())
        assert.truthy(out:find("192.0.2.7:443", 1, true), out)
        assert.truthy(out:find("[2001:db8::7]:443", 1, true), out)
        assert.truthy(out:find(";; 2 addresses in", 1, true), out)
      end)

      it("asks for one family with -4", function()
        local code, out = run("dig.lua", ("@%s -4 example.test"):format(server), 30)
        assert.equal(0, code, out)
        assert.truthy(out:find("192.0.2.7:0", 1, true), out)
        assert.falsy(out:find("2001:db8::7", 1, true), out)
      end)

      it("exits 1 with code nxdomain for a name that does not exist", function()
        local code, out = run("dig.lua", ("@%s missing.test."):format(server), 30)
        assert.equal(1, code, out)
        assert.truthy(out:find("(nxdomain)", 1, true), out)
      end)
    end)
  end)
  describe("smtp_starttls.lua", function()
    it("runs its demo: a mail over STARTTLS to its own in-process server", function()
      local code, out = run("smtp_starttls.lua", "", 30)
      assert.equal(0, code, out)
      assert.truthy(out:find("client: TLS up: TLSv1.3", 1, true), out)
      assert.truthy(out:find("client: mail accepted", 1, true), out)
      assert.truthy(out:find("This line was sent encrypted.\n.A line that starts with a dot.", 1, true), out)
    end)

    it("sends a mail to aiosmtpd (a real STARTTLS server) and exits 0", function()
      local T = require "tls_support"
      T.certs()
      local port = helper.free_port()
      local p = helper.process(("exec python3 %s smtp %s %s %d"):format(
        T.q(ROOT .. "/spec/fixtures/starttls_peer.py"), T.q(T.pem("server")), T.q(T.key("server")), port))
      local ok, err = pcall(function()
        T.await_output(p, "listening (%d+)", 20)
        local code, out = run("smtp_starttls.lua", ("127.0.0.1:%d localhost %s"):format(port, T.q(T.pem("ca"))), 30)
        assert.equal(0, code, out)
        assert.truthy(out:find("client: mail accepted", 1, true), out)
        T.await_output(p, "(message tls=True from=demo@client.example)")
      end)
      p:stop()
      assert(ok, err)
    end)

    it("exits 1 when the server's certificate is not trusted (the bundled roots do not know the test CA)", function()
      local T = require "tls_support"
      local port = helper.free_port()
      local p = helper.process(("exec python3 %s smtp %s %s %d"):format(
        T.q(ROOT .. "/spec/fixtures/starttls_peer.py"), T.q(T.pem("server")), T.q(T.key("server")), port))
      local ok, err = pcall(function()
        T.await_output(p, "listening (%d+)", 20)
        local code2, out2 = run("smtp_starttls.lua", ("127.0.0.1:%d localhost"):format(port), 30)
        assert.equal(1, code2, out2)
        assert.truthy(out2:find("client: failed:", 1, true), out2)
      end)
      p:stop()
      assert(ok, err)
    end)
  end)

  describe("gemini_server.lua and gemini_get.lua", function()
    local T = require "tls_support"
    local X = require "tls_extra_certs"
    local dir, server, port, url

    local function install(from, name)
      T.write(dir .. name .. ".new", T.slurp(from))
      assert(os.rename(dir .. name .. ".new", dir .. name))
    end

    local function get(path, extra)
      return run("gemini_get.lua", ("--known-hosts %s %s %s"):format(T.q(dir .. "known"), extra or "",
        T.q(url .. path)), 30)
    end

    setup(function()
      X.dir()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. T.q(dir)))
      dir = dir .. "/"
      install(X.pem("pinned"), "cert.pem")
      install(X.key("pinned"), "key.pem")
      server = helper.process(("cd %q && %s %s examples/gemini_server.lua %s %s 127.0.0.1 0")
        :format(ROOT, ENV, LUA, T.q(dir .. "cert.pem"), T.q(dir .. "key.pem")))
      for _ = 1, 200 do
        port = server:output():match("gemini server on 127%.0%.0%.1:(%d+)")
        if port then break end
        os.execute("sleep 0.05")
      end
      assert(port, "gemini_server.lua did not start: " .. server:output())
      url = "gemini://127.0.0.1:" .. port
    end)

    teardown(function()
      if server then server:stop() end
      os.execute("rm -rf " .. T.q(dir))
      X.cleanup()
    end)

    it("first visit: trusts and records the certificate; second: checks it silently", function()
      local code, out = get("/")
      assert.equal(0, code, out)
      local fp = X.fingerprint(X.pem("pinned"))
      assert.truthy(out:find("trusting new certificate for 127.0.0.1:" .. port .. ": " .. fp, 1, true), out)
      assert.truthy(out:find("20 text/gemini", 1, true), out)
      assert.truthy(out:find("You sent no client certificate", 1, true), out)
      assert.equal(("127.0.0.1:%s %s\n"):format(port, fp), T.slurp(dir .. "known"))
      code, out = get("/")
      assert.equal(0, code, out)
      assert.falsy(out:find("trusting", 1, true), out)
      assert.falsy(out:find("does not name", 1, true), out)
    end)

    it("knows a visitor by the fingerprint of a self-signed client certificate", function()
      local fp = X.fingerprint(X.pem("tofu-ca"))
      local creds = ("--cert %s --key %s"):format(T.q(X.pem("tofu-ca")), T.q(X.key("tofu-ca")))
      local code, out = get("/whoami", creds)
      assert.equal(0, code, out)
      assert.truthy(out:find(fp .. "\nsubject /CN=gemini client\nvisit 1", 1, true), out)
      code, out = get("/whoami", creds)
      assert.truthy(out:find(fp .. "\nsubject /CN=gemini client\nvisit 2", 1, true), out)
      code, out = get("/", creds)
      assert.truthy(out:find("You are " .. fp, 1, true), out)
      code, out = get("/whoami")
      assert.equal(4, code, out)
      assert.truthy(out:find("60 Client certificate required", 1, true), out)
      code, out = get("/nothing")
      assert.equal(4, code, out)
      assert.truthy(out:find("51 Not found", 1, true), out)
    end)

    it("openssl s_client with a CA:FALSE self-signed certificate is known by its fingerprint", function()
      local rc, out, err = T.run(("openssl s_client -quiet -connect 127.0.0.1:%s -cert %s -key %s")
        :format(port, T.q(X.pem("tofu-ee")), T.q(X.key("tofu-ee"))), 15, url .. "/whoami\r\n")
      assert.equal(0, rc, err .. out)
      assert.truthy(out:find("20 text/gemini\r\n", 1, true), out)
      assert.truthy(out:find(X.fingerprint(X.pem("tofu-ee")) .. "\nsubject /CN=plain client\nvisit 1", 1, true), out)
      rc, out = T.run(("openssl s_client -quiet -connect 127.0.0.1:%s"):format(port), 15, "not a url\r\n")
      assert.truthy(out:find("59 Bad request", 1, true), out)
    end)

    it("agunua (a Gemini client from PyPI) with a client certificate", function()
      if os.execute("command -v agunua >/dev/null 2>&1") ~= true and os.execute("command -v agunua >/dev/null 2>&1") ~= 0 then
        pending("agunua is not installed (scripts/deps.sh installs it)")
        return
      end
      local rc, out, err = T.run(("agunua --insecure --no-tofu -c %s -k %s %s")
        :format(T.q(X.pem("tofu-ca")), T.q(X.key("tofu-ca")), T.q(url .. "/whoami")), 30)
      assert.equal(0, rc, err .. out)
      assert.truthy(out:find(X.fingerprint(X.pem("tofu-ca")), 1, true), out .. err)
    end)

    it("a changed server certificate is refused, and the known host kept", function()
      local before = T.slurp(dir .. "known")
      install(X.pem("pinned2"), "cert.pem")
      install(X.key("pinned2"), "key.pem")
      local code, out = get("/")
      assert.equal(3, code, out)
      assert.truthy(out:find("the certificate of 127.0.0.1:" .. port .. " changed (known "
        .. X.fingerprint(X.pem("pinned")) .. ", now " .. X.fingerprint(X.pem("pinned2")) .. "); refusing", 1, true), out)
      assert.falsy(out:find("20 text/gemini", 1, true), out)
      assert.equal(before, T.slurp(dir .. "known"))
    end)

    it("says how to use it", function()
      local code, out = run("gemini_get.lua", "", 10)
      assert.equal(2, code, out)
      assert.truthy(out:find("usage:", 1, true), out)
      code, out = run("gemini_server.lua", "", 10)
      assert.equal(2, code, out)
      assert.truthy(out:find("usage:", 1, true), out)
    end)
  end)

  describe("chat_server.lua", function()
    it("runs its demo: clients chat, one is kicked (cancelled), one quits", function()
      local code, out = run("chat_server.lua", "", 30)
      assert.equal(0, code, out)
      for _, line in ipairs {
        "alice got: * welcome alice", "bob got: <alice> hello, all", "carol got: <alice> hello, all",
        "bob got: * carol left (kicked by alice)", "carol was disconnected", "bob got: * bye",
        "alice got: * bob left (quit)", "chat demo done",
      } do
        assert.truthy(out:find(line, 1, true), line .. " missing in:\n" .. out)
      end
      -- alice never hears her own words.
      assert.falsy(out:find("alice got: <alice>", 1, true), out)
    end)
  end)

  describe("graceful_shutdown.lua", function()
    it("on SIGTERM stops accepting and lets the running requests finish", function()
      local code, out = run("graceful_shutdown.lua", "", 30)
      assert.equal(0, code, out)
      assert.truthy(out:find("SIGTERM: no new connections; 3 request(s) running", 1, true), out)
      assert.truthy(out:find("drained: 3 finished, 0 cancelled", 1, true), out)
      assert.truthy(out:find("new connection after shutdown: refused", 1, true), out)
      for i = 1, 3 do
        assert.truthy(out:find(("client %d got: done: request %d"):format(i, i), 1, true), out)
      end
    end)
  end)

  describe("udp_echo.lua", function()
    it("runs its server and clients in one program; every reply matches", function()
      local code, out = run("udp_echo.lua", "4", 30)
      assert.equal(0, code, out)
      assert.truthy(out:match("udp echo server on 127%.0%.0%.1:%d+"), out)
      for i = 1, 4 do
        for n = 1, 3 do
          local text = ("datagram %d from client %d"):format(n, i)
          assert.equal(1, count(out, ("client %d sent and got %q"):format(i, text)), out)
        end
      end
      assert.truthy(out:find("all replies matched", 1, true), out)
    end)

    it("exits 2 on a bad client count", function()
      local code, out = run("udp_echo.lua", "none", 30)
      assert.equal(2, code, out)
      assert.truthy(out:find("usage:", 1, true), out)
    end)
  end)
end)
