-- ios:starttls: a plain stream turned into TLS in place, client and server
-- side, against our own peers, openssl s_client -starttls (smtp, imap),
-- aiosmtpd (Python, from PyPI) and a Python server that truncates.
local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"
local helper = require "helper"
local T = require "tls_support"

local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local q = T.q

local function pem(name) return T.pem(name) end
local function key(name) return T.key(name) end
local function trust(extra) return T.trust(extra) end
local function server_opts(name, extra) return T.server_opts(name, extra) end

--- Asserts `nil, msg, code` with this code and these words in msg.
local function fails(code, words, ...)
  local r = pack(...)
  assert(r[1] == nil, ("expected a failure (%s), got %s %s"):format(code, tostring(r[1]), tostring(r[2])))
  assert.equal(code, r[3], "message was: " .. tostring(r[2]))
  for _, w in ipairs(words or {}) do
    assert(tostring(r[2]):find(w, 1, true), ("message %q lacks %q"):format(tostring(r[2]), w))
  end
  return r[2]
end

--- Asserts that f(...) raises an error whose text contains `text`.
local function raises(text, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error mentioning " .. text)
  assert(tostring(err):find(text, 1, true), ("error %q lacks %q"):format(tostring(err), text))
end

-- Runs f as a task, bounded (on Lua 5.1, which cannot yield across
-- xpcall, as the task itself).
local bounded = T.bounded

local servers = {}
local function serve(handler)
  local srv, addr = helper.serve(handler)
  servers[#servers + 1] = srv
  return srv, addr, srv:address().port
end

local processes = {}
local function stopping(p)
  processes[#processes + 1] = p
  return p
end

--- Reads one SMTP reply (all its lines); returns the code and the lines.
local function reply(ios)
  local lines = {}
  while true do
    local line, msg, code = ios:read("l")
    if not line then return nil, msg, code end
    line = line:gsub("\r$", "")
    lines[#lines + 1] = line
    if line:sub(4, 4) ~= "-" then return tonumber(line:sub(1, 3)), lines end
  end
end

local function expect(ios, want)
  local code, lines = reply(ios)
  assert.equal(want, code, table.concat(type(lines) == "table" and lines or { tostring(lines) }, "\n"))
  return table.concat(lines, "\n")
end

--- Our small STARTTLS SMTP server's session. `seen` collects what the
-- handler saw: the TLS info after the upgrade, and the commands.
local function smtp_session(opts, seen)
  return function(ios)
    ios:settimeout(10)
    ios:write("220 localhost ESMTP lua-tls test\r\n")
    local secure = false
    while true do
      local line = ios:read("l")
      if not line then return end
      line = line:gsub("\r$", "")
      local verb = line:match("^(%a+)"):upper()
      seen.commands[#seen.commands + 1] = line
      if verb == "EHLO" or verb == "HELO" then
        ios:write("250-localhost\r\n", secure and "" or "250-STARTTLS\r\n", "250 8BITMIME\r\n")
      elseif verb == "STARTTLS" and not secure then
        ios:write("220 go ahead\r\n")
        local ok, msg, code = ios:starttls(opts)
        if not ok then seen.failure = { msg, code } return end
        seen.info = ios:info()
        secure = true
      elseif verb == "NOOP" then
        ios:write("250 ok", secure and " (tls)" or "", "\r\n")
      elseif verb == "QUIT" then
        ios:write("221 bye\r\n")
        return
      else
        ios:write("502 unknown command\r\n")
      end
    end
  end
end

--- An IMAP-ish server: enough of RFC 3501 for openssl s_client -starttls imap.
local function imap_session(opts, seen)
  return function(ios)
    ios:settimeout(10)
    ios:write("* OK [CAPABILITY IMAP4rev1 STARTTLS] lua-tls test ready\r\n")
    local secure = false
    while true do
      local line = ios:read("l")
      if not line then return end
      local tag, cmd = line:gsub("\r$", ""):match("^(%S+)%s+(%a+)")
      cmd = (cmd or ""):upper()
      if cmd == "CAPABILITY" then
        ios:write("* CAPABILITY IMAP4rev1", secure and "" or " STARTTLS LOGINDISABLED", "\r\n",
                  tag, " OK CAPABILITY completed\r\n")
      elseif cmd == "STARTTLS" and not secure then
        -- One write: s_client reads this reply with a single read().
        ios:write(tag .. " OK Begin TLS negotiation now\r\n")
        local ok, msg, code = ios:starttls(opts)
        if not ok then seen.failure = { msg, code } return end
        seen.info = ios:info()
        secure = true
      elseif cmd == "NOOP" then
        ios:write(tag, " OK NOOP completed", secure and " over tls" or "", "\r\n")
      elseif cmd == "LOGOUT" then
        ios:write("* BYE logging out\r\n", tag, " OK LOGOUT completed\r\n")
        return
      else
        ios:write(tag or "*", " BAD unknown command\r\n")
      end
    end
  end
end

describe("ios:starttls", function()
  setup(function() T.certs() end)

  after_each(function()
    for i = #servers, 1, -1 do servers[i]:close(); servers[i] = nil end
    for i = #processes, 1, -1 do processes[i]:stop(); processes[i] = nil end
    helper.drain(2)
  end)

  describe("our client against our server", function()
    it("upgrades both ends in place: same objects, verified, info() on both sides", function()
      local seen = { commands = {} }
      local _, addr = serve(smtp_session(server_opts("server"), seen))
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        expect(ios, 220)
        ios:write("EHLO client\r\n")
        assert.truthy(expect(ios, 250):find("STARTTLS", 1, true))
        assert.matches("^tls.ios %(tcp ", tostring(ios))
        assert.is_nil(ios:info())
        ios:write("STARTTLS\r\n")
        expect(ios, 220)
        local same = ios:starttls("localhost", trust())
        assert.is_true(rawequal(ios, same))
        assert.matches("^tls.ios %(tls ", tostring(ios))
        local info = ios:info()
        assert.equal("localhost", info.servername)
        assert.matches("^TLSv1%.[23]$", info.version)
        assert.matches("CN=localhost", info.peer.subject)
        ios:write("EHLO client\r\n")
        assert.is_nil(expect(ios, 250):find("STARTTLS", 1, true))
        ios:write("NOOP\r\n")
        assert.equal("250 ok (tls)", expect(ios, 250))
        ios:write("QUIT\r\n")
        expect(ios, 221)
        -- The server closes with close_notify: a clean end.
        assert.equal("", ios:read("a"))
        ios:close()
      end)
      assert.equal("localhost", seen.info.servername)
      assert.same({ "EHLO client", "STARTTLS", "EHLO client", "NOOP", "QUIT" }, seen.commands)
    end)

    it("works in blocking mode from the main thread too", function()
      local seen = { commands = {} }
      local _, addr = serve(smtp_session(tls.config(server_opts("server")), seen))
      local ios = assert(tcp.connecta(addr))
      ios:settimeout(10)
      expect(ios, 220)
      ios:write("STARTTLS\r\n")
      expect(ios, 220)
      assert.equal(ios, ios:starttls("127.0.0.1", tls.config(trust())))
      assert.equal(0, #ios:info().peer.chain_pem > 0 and 0 or 1)
      ios:write("QUIT\r\n")
      expect(ios, 221)
      ios:close()
    end)

    it("a server certificate for another name: nil, msg, 'certificate', and the stream is closed", function()
      local seen = { commands = {} }
      local _, addr = serve(smtp_session(server_opts("wrongname"), seen))
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        expect(ios, 220)
        ios:write("STARTTLS\r\n")
        expect(ios, 220)
        fails("certificate", { "localhost" }, ios:starttls("localhost", trust()))
        fails("closed", nil, ios:read("l"))
        assert.matches("%(closed%)$", tostring(ios))
      end)
    end)

    it("an unknown CA: 'certificate'; the server's starttls fails too", function()
      local seen = { commands = {} }
      local _, addr = serve(smtp_session(server_opts("unknownca"), seen))
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        expect(ios, 220)
        ios:write("STARTTLS\r\n")
        expect(ios, 220)
        fails("certificate", nil, ios:starttls("localhost", trust()))
        assert(helper.hold(function() return seen.failure end, 10))
      end)
      assert.is_string(seen.failure[1])
    end)
  end)

  describe("bytes already buffered when TLS starts", function()
    it("server: a ClientHello pipelined right behind 'STARTTLS' (and the client's unflushed write) goes to TLS", function()
      local got = {}
      local _, addr = serve(function(ios)
        ios:settimeout(10)
        -- Wait until more than the command line has arrived, so the
        -- ClientHello is surely in our buffer when we read the line.
        assert(ios:fill(#"STARTTLS\r\n" + 1))
        got.line = ios:read("l")
        got.ok = pack(ios:starttls(server_opts("server")))
        got.data = ios:read("l")
        ios:write("secret reply\n")
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        ios:setvbuf("full")
        ios:write("STARTTLS\r\n") -- stays in our buffer: starttls flushes it first
        assert.equal(ios, ios:starttls("localhost", trust()))
        ios:write("over tls\n")
        ios:flush()
        assert.equal("secret reply", ios:read("l"))
        ios:close()
      end)
      assert.equal("STARTTLS\r", got.line)
      assert.is_userdata(got.ok[1])
      assert.equal("over tls", got.data)
    end)

    it("client: bytes behind the server's '220 go ahead' are fed to the handshake, not dropped", function()
      local _, addr = serve(function(ios)
        ios:settimeout(10)
        ios:read("l")
        -- Not TLS: if the client dropped it, it would wait for a
        -- ServerHello until its timeout instead of failing at once.
        ios:write("220 go ahead\r\nthis is not a TLS record\r\n")
        ios:read("a")
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        ios:write("STARTTLS\r\n")
        assert.equal("220 go ahead\r", ios:read("l"))
        fails("handshake", nil, ios:starttls("localhost", trust { timeout = 8 }))
      end)
    end)

    it("server: plaintext garbage behind the command fails the handshake at once", function()
      local got = {}
      local _, addr = serve(function(ios)
        ios:settimeout(10)
        assert(ios:fill(#"STARTTLS\r\n" + 1))
        ios:read("l")
        got.r = pack(ios:starttls(server_opts("server")))
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:write("STARTTLS\r\nHELO not tls\r\n")
        helper.hold(function() return got.r end, 10)
        ios:close()
      end)
      assert.is_nil(got.r[1])
      assert.equal("handshake", got.r[3])
    end)
  end)

  describe("timeouts", function()
    it("opts.timeout bounds the upgraded handshake: nil, msg, 'timeout'", function()
      local _, addr = serve(function(ios)
        ios:settimeout(10)
        ios:read("l")
        ios:write("220 go ahead\r\n")
        ios:read("a") -- never answers the ClientHello
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:write("STARTTLS\r\n")
        ios:read("l")
        fails("timeout", { "timed out" }, ios:starttls("localhost", trust { timeout = 0.3 }))
        fails("closed", nil, ios:write("x"))
      end)
    end)

    it("without opts.timeout the stream's settimeout applies", function()
      local _, addr = serve(function(ios)
        ios:read("l")
        ios:read("a") -- never answers the ClientHello
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:write("STARTTLS\r\n")
        ios:settimeout(0.3)
        fails("timeout", { "timed out" }, ios:starttls("localhost", trust()))
      end)
    end)

    it("server side: a client that never sends its ClientHello times out", function()
      local got = {}
      local _, addr = serve(function(ios)
        ios:settimeout(0.3)
        ios:read("l")
        got.r = pack(ios:starttls(server_opts("server")))
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        ios:write("STARTTLS\r\n")
        assert(helper.hold(function() return got.r end, 10))
        ios:close()
      end)
      assert.is_nil(got.r[1])
      assert.equal("timeout", got.r[3])
    end)
  end)

  describe("misuse and closed streams", function()
    it("raises on bad arguments, a TLS stream and bad self; a closed stream is nil, msg, 'closed'", function()
      local _, addr = serve(function(ios) ios:read("a") end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        raises("bad argument #1 to 'ios:starttls' (host name or server options expected, got number)", ios.starttls, ios, 42)
        raises("bad argument #1 to 'ios:starttls' (host name or server options expected, got nil)", ios.starttls, ios)
        raises("bad argument #2 to 'ios:starttls' (table or tls.config expected, got boolean)", ios.starttls, ios, "localhost", true)
        raises("server options need 'cert' and 'key'", ios.starttls, ios, { cafile = pem("ca") })
        raises("bad argument #2 to 'ios:starttls' (no value expected after server options", ios.starttls, ios, server_opts("server"), "localhost")
        raises("unknown TLS option 'bogus'", ios.starttls, ios, "localhost", { bogus = 1 })
        raises("calling 'ios:starttls' on bad self (ios expected, got string)", ios.starttls, "x", "localhost")
        -- None of that touched the stream: it is still plain and open.
        assert.matches("^tls.ios %(tcp ", tostring(ios))
        ios:close()
        fails("closed", { "closed" }, ios:starttls("localhost", trust()))
      end)
      local tls_srv = assert(tls.listen("127.0.0.1", 0, function(ios) ios:read("a") end, server_opts("server")))
      servers[#servers + 1] = tls_srv
      bounded(20, function()
        local ios = assert(tls.connecta("127.0.0.1:" .. tls_srv:address().port, "localhost", trust()))
        raises("calling 'ios:starttls' on bad self (the stream is TLS already)", ios.starttls, ios, "localhost", trust())
        ios:close()
      end)
    end)

    it("a cafile that cannot be read: nil, msg, code, and the plain stream goes on", function()
      local _, addr = serve(function(ios)
        ios:write("still plain\n")
        ios:read("a")
      end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        local r = pack(ios:starttls("localhost", { cafile = "/nonexistent/ca.pem" }))
        assert.is_nil(r[1])
        assert.is_string(r[3])
        assert.equal("still plain", ios:read("l"))
        ios:close()
      end)
    end)

    it("another task reading the stream: starttls raises instead of stealing its bytes", function()
      local _, addr = serve(function(ios) ios:read("a") end)
      bounded(20, function()
        local ios = assert(tcp.connecta(addr))
        local reader = loop.spawn(function() return ios:read("l") end)
        loop.sleep(0.05)
        raises("another task is already reading", ios.starttls, ios, "localhost", trust())
        ios:close()
        reader:join()
      end)
    end)
  end)

  describe("against openssl s_client", function()
    local function s_client(proto, port, input)
      return T.run(("openssl s_client -starttls %s -connect 127.0.0.1:%d -servername localhost -CAfile %s -verify_return_error -quiet -crlf")
        :format(proto, port, q(pem("ca"))), 20, input)
    end

    it("-starttls smtp upgrades on our SMTP server and talks TLS after", function()
      local seen = { commands = {} }
      local _, _, port = serve(smtp_session(server_opts("server"), seen))
      bounded(30, function()
        local rc, out, err = s_client("smtp", port, "NOOP\nQUIT\n")
        assert.equal(0, rc, out .. err)
        assert.truthy(out:find("250 ok (tls)", 1, true), out .. err)
        assert.truthy(out:find("221 bye", 1, true), out .. err)
      end)
      assert.equal("localhost", seen.info.servername)
      assert.matches("^EHLO ", seen.commands[1])
      assert.equal("STARTTLS", seen.commands[2])
      assert.equal("NOOP", seen.commands[3])
    end)

    it("-starttls imap upgrades on our IMAP-ish server", function()
      local seen = {}
      local _, _, port = serve(imap_session(server_opts("server"), seen))
      bounded(30, function()
        local rc, out, err = s_client("imap", port, "a1 NOOP\na2 LOGOUT\n")
        assert.equal(0, rc, out .. err)
        assert.truthy(out:find("a1 OK NOOP completed over tls", 1, true), out .. err)
        assert.truthy(out:find("a2 OK LOGOUT completed", 1, true), out .. err)
      end)
      assert.equal("localhost", seen.info.servername)
      assert.matches("^TLSv1%.[23]$", seen.info.version)
    end)

    it("s_client refuses our server's self-signed certificate after STARTTLS", function()
      local seen = { commands = {} }
      local _, _, port = serve(smtp_session(server_opts("selfsigned"), seen))
      bounded(30, function()
        local rc, out, err = s_client("smtp", port, "NOOP\nQUIT\n")
        assert.are_not.equal(0, rc)
        assert.is_nil(out:find("250 ok (tls)", 1, true))
        assert.truthy((out .. err):find("verify", 1, true), out .. err)
      end)
    end)
  end)

  describe("our client against aiosmtpd", function()
    local function aiosmtpd(cert)
      local port = helper.free_port()
      local p = stopping(helper.process(("exec python3 %s smtp %s %s %d"):format(
        q(T.root .. "/spec/fixtures/starttls_peer.py"), q(pem(cert)), q(key(cert)), port)))
      T.await_output(p, "listening (%d+)", 20)
      return "127.0.0.1:" .. port, p
    end

    it("sends a mail over STARTTLS; the server saw it under TLS", function()
      local addr, p = aiosmtpd("server")
      bounded(30, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        expect(ios, 220)
        ios:write("EHLO client.test\r\n")
        assert.truthy(expect(ios, 250):find("STARTTLS", 1, true))
        ios:write("MAIL FROM:<a@client.test>\r\n")
        expect(ios, 530) -- aiosmtpd refuses mail before STARTTLS
        ios:write("STARTTLS\r\n")
        expect(ios, 220)
        assert.equal(ios, ios:starttls("localhost", trust()))
        ios:write("EHLO client.test\r\n")
        expect(ios, 250)
        ios:write("MAIL FROM:<a@client.test>\r\n")
        expect(ios, 250)
        ios:write("RCPT TO:<b@server.test>\r\n")
        expect(ios, 250)
        ios:write("DATA\r\n")
        expect(ios, 354)
        ios:write("Subject: hello\r\n\r\nover STARTTLS\r\n.\r\n")
        expect(ios, 250)
        ios:write("QUIT\r\n")
        expect(ios, 221)
        ios:close()
        T.await_output(p, "(message tls=True from=a@client.test to=b@server.test)")
        T.await_output(p, "data=('[^\n]*over STARTTLS)")
      end)
    end)

    it("a server certificate that has expired: 'certificate', says expired", function()
      local addr = aiosmtpd("expired")
      bounded(30, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(10)
        expect(ios, 220)
        ios:write("STARTTLS\r\n")
        expect(ios, 220)
        fails("certificate", { "expired" }, ios:starttls("localhost", trust()))
      end)
    end)
  end)

  describe("truncation after the upgrade", function()
    it("a Python server that closes TCP without close_notify: 'a' is nil, msg, 'truncated'", function()
      local p = stopping(helper.process(("exec python3 %s truncate %s %s"):format(
        q(T.root .. "/spec/fixtures/starttls_peer.py"), q(pem("server")), q(key("server")))))
      local port = T.await_output(p, "listening (%d+)")
      bounded(30, function()
        local ios = assert(tcp.connecta("127.0.0.1:" .. port))
        ios:settimeout(10)
        ios:write("STARTTLS\r\n")
        assert.equal("220 go ahead\r", ios:read("l"))
        assert.equal(ios, ios:starttls("localhost", trust()))
        assert.equal("00000000", ios:read("l"))
        fails("truncated", { "close_notify" }, ios:read("a"))
        ios:close()
      end)
    end)
  end)
end)
