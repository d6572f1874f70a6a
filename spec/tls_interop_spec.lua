-- tls against real peers on 127.0.0.1: OpenSSL's s_server and s_client,
-- nginx, curl, and a Python `ssl` server (spec/fixtures/tls_server.py).
-- Each test starts what it needs on a free port and stops it after.
local tls = require "tls"
local loop = require "tls.loop"
local helper = require "helper"
local sha256 = require "tls.sha256"
local T = require "tls_support"

local bounded, fails, q = T.bounded, T.fails, T.q
local pem, key, trust, server_opts = T.pem, T.key, T.trust, T.server_opts

local function have(cmd)
  -- Lua 5.1 and LuaJIT's os.execute answer 0, later ones true.
  local r = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return r == true or r == 0
end

-- Stops a peer when the test ends, however it ends.
local function stopping(p)
  finally(function() p:stop() end)
  return p
end

-- openssl s_server on a free port with extra arguments; returns its port.
local function s_server(args, cert)
  cert = cert or "server"
  local port = helper.free_port()
  stopping(T.start(("openssl s_server -accept 127.0.0.1:%d -cert %s -key %s %s")
    :format(port, q(pem(cert)), q(key(cert)), args), port))
  return port, "127.0.0.1:" .. port
end

-- GET / from an `openssl s_server -www`: the status line and the page.
-- s_server ends the page with close_notify, so "a" reads to a clean end.
local function www(ios)
  assert(ios:write("GET / HTTP/1.0\r\n\r\n"))
  local page = assert(ios:read("a"))
  assert.matches("</HTML>", page, 1, true)
  return page:match("^[^\r\n]*"), page
end

describe("tls interop", function()
  setup(function()
    T.certs()
  end)

  after_each(function()
    T.cleanup()
  end)

  describe("our client against openssl s_server", function()
    for _, v in ipairs { { "-tls1_2", "TLSv1.2" }, { "-tls1_3", "TLSv1.3" } } do
      local flag, version = v[1], v[2]
      it(flag .. " -www: a page, the version, and a resumed second session", function()
        local _, addr = s_server(flag .. " -www")
        bounded(20, function()
          local cfg = tls.config(trust())
          local ios = assert(tls.connecta(addr, "localhost", cfg))
          local info = ios:info()
          assert.equal(version, info.version)
          assert.equal("localhost", info.peer.common_name)
          local status, page = www(ios)
          ios:close()
          assert.matches("^HTTP/1%.0 200 ok", status)
          assert.matches("New, " .. version, page, 1, true)
          -- The same config resumes with OpenSSL's session cache.
          ios = assert(tls.connecta(addr, "localhost", cfg))
          status, page = www(ios)
          assert.is_true(ios:info().resumed)
          ios:close()
          assert.matches("Reused, " .. version, page, 1, true)
        end)
      end)
    end

    it("-tls1_3 -rev -alpn: ALPN negotiated, lines come back reversed", function()
      local _, addr = s_server("-tls1_3 -rev -alpn x-rev,x-other")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust { alpn = { "x-rev" } }))
        assert.equal("x-rev", ios:info().alpn)
        assert.equal("TLSv1.3", ios:info().version)
        assert(ios:write("hello\n", "stressed\n"))
        assert.equal("olleh", ios:read("l"))
        assert.equal("desserts", ios:read("l"))
        ios:close()
      end)
    end)

    it("-alpn h2 and a client offering only http/1.1: 'handshake', no_application_protocol", function()
      local _, addr = s_server("-tls1_3 -rev -alpn h2")
      bounded(20, function()
        fails("handshake", { "no ALPN protocol in common", "no_application_protocol" },
          tls.connecta(addr, "localhost", trust { alpn = { "http/1.1" } }))
      end)
    end)

    it("protocol mismatch: our TLS 1.2 only against -tls1_3", function()
      local _, addr = s_server("-tls1_3 -rev")
      bounded(20, function()
        fails("handshake", { "peer does not support TLS 1.2", "protocol_version" },
          tls.connecta(addr, "localhost", trust { protocols = "tlsv1.2" }))
      end)
    end)

    for _, v in ipairs { { "-tls1_2", "at connecta" }, { "-tls1_3", "at the first read" } } do
      local flag, when = v[1], v[2]
      describe(flag .. " -Verify 1 -CAfile ca.pem (a client certificate is required)", function()
        local function server()
          return select(2, s_server(("%s -Verify 1 -verify_return_error -CAfile %s -www"):format(flag, q(pem("ca")))))
        end

        it("our client certificate is accepted", function()
          local addr = server()
          bounded(20, function()
            local ios = assert(tls.connecta(addr, "localhost",
              trust { cert = pem("client"), key = key("client") }))
            local status = www(ios)
            ios:close()
            assert.matches("^HTTP/1%.0 200 ok", status)
          end)
        end)

        -- TLS 1.2: OpenSSL judges the certificate inside the handshake.
        -- TLS 1.3: our handshake is over first; the alert ends the first read.
        local function refused(addr, opts, words)
          if flag == "-tls1_2" then
            return fails("certificate", words, tls.connecta(addr, "localhost", opts))
          end
          local ios = assert(tls.connecta(addr, "localhost", opts))
          ios:write("GET / HTTP/1.0\r\n\r\n")
          local msg = fails("certificate", words, ios:read("l"))
          ios:close()
          return msg
        end

        it("no client certificate: " .. (flag == "-tls1_2" and "code 'handshake' at connecta (bare handshake_failure)" or "code 'certificate' at the first read"), function()
          local addr = server()
          bounded(20, function()
            if flag == "-tls1_3" then
              refused(addr, trust(), { "client certificate required" })
            else
              -- OpenSSL's TLS 1.2 answer to a missing certificate is a bare
              -- handshake_failure alert: code 'handshake', and the message
              -- names a missing client certificate as one possible cause.
              fails("handshake", { "a client certificate is needed", "handshake_failure" },
                tls.connecta(addr, "localhost", trust()))
            end
          end)
        end)

        it("a client certificate from another CA: code 'certificate' " .. when, function()
          local addr = server()
          bounded(20, function()
            refused(addr, trust { cert = pem("foreign-client"), key = key("foreign-client") },
              { "client certificate rejected by the server", "unknown_ca" })
          end)
        end)
      end)
    end
  end)

  describe("our client against nginx", function()
    it("downloads 20 MiB over TLS 1.3 byte for byte", function()
      if not have("nginx") then return pending("nginx is not installed") end
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute(("mkdir -p %s/www %s/tmp"):format(q(dir), q(dir))))
      finally(function() os.execute("rm -rf " .. q(dir)) end)

      -- A deterministic file: a 4 KiB pseudo-random block, each copy
      -- stamped with its index so a reordered or repeated block shows.
      local seed, bytes = 12345, {}
      for i = 1, 4096 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        bytes[i] = string.char(math.floor(seed / 65536) % 256)
      end
      local block = table.concat(bytes)
      local parts = {}
      for i = 0, 5119 do
        parts[#parts + 1] = string.char(0, 0, math.floor(i / 256), i % 256) .. block:sub(5)
      end
      local expected = table.concat(parts)
      assert.equal(20 * 1024 * 1024, #expected)
      T.write(dir .. "/www/big.bin", expected)
      local p = io.popen("sha256sum " .. q(dir .. "/www/big.bin"))
      local want_hash = p:read("*a"):match("^(%x+)")
      p:close()

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
    ssl_protocols TLSv1.3;
    root %s/www;
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, port, pem("server"), key("server"), dir))
      stopping(T.start(("nginx -p %s -c %s -e %s"):format(q(dir), q(dir .. "/nginx.conf"),
        q(dir .. "/error.log")), port))

      bounded(120, function()
        local ios = assert(tls.connecta("127.0.0.1:" .. port, "localhost", trust()))
        assert.equal("TLSv1.3", ios:info().version)
        assert(ios:write("GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
        assert.equal("HTTP/1.1 200 OK\r", ios:read("l"))
        local length
        -- A while loop: Lua 5.1 cannot wait inside a for iterator.
        local line = ios:read("l")
        while line and line ~= "\r" do
          length = length or tonumber(line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)"))
          line = ios:read("l")
        end
        assert.equal(#expected, length)
        local h, got, n = sha256.new(), {}, 0
        while n < length do
          local chunk = assert(ios:read(math.min(65536, length - n)))
          h:update(chunk)
          got[#got + 1] = chunk
          n = n + #chunk
        end
        -- nginx ends with close_notify: a clean end, not a truncation.
        assert.equal("", ios:read("a"))
        ios:close()
        local body = table.concat(got)
        assert.equal(#expected, #body)
        assert.equal(want_hash, h:hexdigest())
        assert.is_true(body == expected)
      end)
    end)
  end)

  describe("our server driven by curl", function()
    -- A tiny HTTP/1.1 server: answers each request with what it saw.
    local function http_handler(ios)
      assert(ios:read("l")) -- request line
      local length = 0
      -- A while loop: Lua 5.1 cannot wait inside a for iterator.
      while true do
        local line = assert(ios:read("l")):gsub("\r$", "")
        if line == "" then break end
        length = tonumber(line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")) or length
      end
      local body = length > 0 and assert(ios:read(length)) or ""
      local i = ios:info()
      local text = ("version=%s alpn=%s sni=%s peer=%s got=%d sha256=%s\n"):format(
        i.version, tostring(i.alpn), tostring(i.servername),
        i.peer and i.peer.common_name or "none", #body, sha256.hex(body))
      ios:write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n",
        "Content-Length: ", #text, "\r\n\r\n", text)
    end

    local function curl(port, args)
      return T.run(("curl -sS --max-time 10 --cacert %s --resolve localhost:%d:127.0.0.1 %s https://localhost:%d/")
        :format(q(pem("ca")), port, args or "", port), 15)
    end

    it("--tlsv1.2 --tls-max 1.2, ALPN http/1.1", function()
      local _, _, port = T.serve(server_opts("server", { alpn = { "http/1.1" } }), http_handler)
      bounded(20, function()
        local rc, out, err = curl(port, "--tlsv1.2 --tls-max 1.2")
        assert.equal(0, rc, err)
        assert.matches("version=TLSv1.2 alpn=http/1.1 sni=localhost peer=none got=0", out, 1, true)
      end)
    end)

    it("--tlsv1.3 --http1.1, and a posted megabyte arrives intact", function()
      local _, _, port = T.serve(server_opts("server", { alpn = { "h2", "http/1.1" } }), http_handler)
      local file = os.tmpname()
      local body = ("lua-tls interop\n"):rep(65536)
      T.write(file, body)
      finally(function() os.remove(file) end)
      bounded(30, function()
        local rc, out, err = curl(port, "--tlsv1.3 --http1.1 --data-binary @" .. q(file))
        assert.equal(0, rc, err)
        assert.matches(("version=TLSv1.3 alpn=http/1.1 sni=localhost peer=none got=%d sha256=%s")
          :format(#body, sha256.hex(body)), out, 1, true)
      end)
    end)

    describe("verify_client = 'required'", function()
      local calls
      local function server()
        calls = 0
        local _, _, port = T.serve(server_opts("server",
          { verify_client = "required", cafile = pem("ca"), alpn = { "http/1.1" } }),
          function(ios) calls = calls + 1 return http_handler(ios) end)
        return port
      end

      it("--cert/--key from our CA: the handler sees the client", function()
        local port = server()
        bounded(20, function()
          local rc, out, err = curl(port, ("--cert %s --key %s"):format(q(pem("client")), q(key("client"))))
          assert.equal(0, rc, err)
          assert.matches("version=TLSv1.3 alpn=http/1.1 sni=localhost peer=lua-tls test client", out, 1, true)
        end)
      end)

      for _, proto in ipairs { "--tlsv1.3", "--tlsv1.2 --tls-max 1.2" } do
        it(proto .. ": no certificate, or one from another CA: curl fails, the handler never runs", function()
          local port = server()
          bounded(30, function()
            local rc, _, err = curl(port, proto)
            assert.is_true(rc ~= 0, "curl without a certificate succeeded")
            assert.matches("alert", err)
            rc, _, err = curl(port, ("%s --cert %s --key %s"):format(proto, q(pem("foreign-client")), q(key("foreign-client"))))
            assert.is_true(rc ~= 0, "curl with a foreign certificate succeeded")
            assert.matches("unknown ca", err)
            assert.equal(0, calls)
          end)
        end)
      end
    end)
  end)

  describe("our server driven by openssl s_client", function()
    -- Reads one line, answers with what it saw, closes (with close_notify).
    local calls
    local function reporter(ios)
      calls = calls + 1
      local line = ios:read("l")
      local i = ios:info()
      ios:write(("echo=%s version=%s alpn=%s peer=%s\n"):format(tostring(line), i.version,
        tostring(i.alpn), i.peer and i.peer.common_name or "none"))
    end

    local function server(extra)
      calls = 0
      local _, _, port = T.serve(server_opts("server", extra), reporter)
      return port
    end

    local function s_client(port, args)
      return T.run(("openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s -verify_return_error -ign_eof %s")
        :format(port, q(pem("ca")), args or ""), 15, "hello\n")
    end

    for _, v in ipairs { { "-tls1_2", "TLSv1.2" }, { "-tls1_3", "TLSv1.3" } } do
      local flag, version = v[1], v[2]
      it(flag .. " -alpn: echo, version and ALPN agree on both ends", function()
        local port = server { alpn = { "x-test" } }
        bounded(20, function()
          local rc, out, err = s_client(port, flag .. " -alpn x-other,x-test")
          assert.equal(0, rc, err .. out)
          assert.matches(("echo=hello version=%s alpn=x-test peer=none"):format(version), out, 1, true)
          assert.matches("ALPN protocol: x-test", out, 1, true)
          assert.matches("Verify return code: 0 (ok)", out, 1, true)
          assert.matches(version, out, 1, true)
        end)
      end)
    end

    describe("verify_client = 'required'", function()
      local opts = { verify_client = "required", cafile = pem("ca") }

      for _, flag in ipairs { "-tls1_2", "-tls1_3" } do
        it(flag .. " -cert/-key from our CA: accepted, the handler sees it", function()
          local port = server(opts)
          bounded(20, function()
            local rc, out, err = s_client(port, ("%s -cert %s -key %s"):format(flag, q(pem("client")), q(key("client"))))
            assert.equal(0, rc, err .. out)
            assert.matches("echo=hello version=TLSv1.%d alpn=nil peer=lua%-tls test client", out)
          end)
        end)

        it(flag .. " no certificate: refused with certificate_required, the handler never runs", function()
          local port = server(opts)
          bounded(20, function()
            local _, out, err = s_client(port, flag)
            assert.is_nil(out:find("echo=", 1, true))
            assert.matches("alert certificate required", err .. out, 1, true)
            assert.equal(0, calls)
          end)
        end)

        it(flag .. " a certificate from another CA: refused with unknown_ca", function()
          local port = server(opts)
          bounded(20, function()
            local _, out, err = s_client(port, ("%s -cert %s -key %s"):format(flag,
              q(pem("foreign-client")), q(key("foreign-client"))))
            assert.is_nil(out:find("echo=", 1, true))
            assert.matches("alert unknown ca", err .. out, 1, true)
            assert.equal(0, calls)
          end)
        end)
      end
    end)
  end)

  describe("our client against a Python ssl server", function()
    local LINES = 1000
    local function python(mode)
      local p = stopping(helper.process(("exec python3 %s %s %s %s %d"):format(
        q(T.root .. "/spec/fixtures/tls_server.py"), q(pem("server")), q(key("server")), mode, LINES)))
      local port = T.await_output(p, "listening (%d+)")
      return "127.0.0.1:" .. port, p
    end

    local function line(i) return ("%08d\n"):format(i) end
    local all = {}
    for i = 0, LINES - 1 do all[#all + 1] = line(i) end
    all = table.concat(all)

    it("closing TCP without close_notify: a count within the data reads, then 'a' is 'truncated'", function()
      local addr = python("truncate")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(line(0), ios:read(9))
        assert.equal(line(1) .. line(2), ios:read(18))
        fails("truncated", { "close_notify", "truncated" }, ios:read("a"))
        ios:close()
      end)
    end)

    it("closing TCP without close_notify: every line reads, the next read is 'truncated'", function()
      local addr = python("truncate")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        for i = 0, LINES - 1 do assert.equal(line(i), ios:read("L")) end
        fails("truncated", { "truncated" }, ios:read("l"))
        ios:close()
        -- A count that runs past the end is truncated too.
        ios = assert(tls.connecta(addr, "localhost", trust()))
        fails("truncated", { "truncated" }, ios:read(#all + 1))
        ios:close()
      end)
    end)

    -- Nothing a peer sent is dropped: a read cut short by the missing
    -- close_notify returns nil, msg, "truncated", partial (LuaSocket's
    -- convention) with every byte that arrived, and consumes them.
    it("truncated: read('a') hands over every byte that arrived as the 4th value", function()
      local addr = python("truncate")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(line(0), ios:read(9))
        local r = helper.pack(ios:read("a"))
        assert.equal(4, r.n)
        assert.is_nil(r[1])
        assert.equal("truncated", r[3])
        assert.equal(#all - 9, #r[4])
        assert.is_true(r[4] == all:sub(10))
        -- consumed: the next read has nothing left to hand over
        local again = helper.pack(ios:read("a"))
        assert.equal("truncated", again[3])
        assert.equal("", again[4])
        ios:close()
      end)
    end)

    it("truncated inside a line: 'l', 'L' and a count hand over the partial; 'n' keeps it", function()
      local addr = python("truncate_tail")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(all, ios:read(#all))
        -- "n" cannot tell whether more digits were coming: it fails and
        -- consumes nothing
        local n = helper.pack(ios:read("n"))
        assert.equal(3, n.n)
        assert.equal("truncated", n[3])
        -- several formats consume nothing either
        local two = helper.pack(ios:read("l", "l"))
        assert.equal(3, two.n)
        local r = helper.pack(ios:read("l"))
        assert.same({ n = 4, nil, r[2], "truncated", "12" }, r)
        ios:close()
        for _, f in ipairs({ "L", 100 }) do
          ios = assert(tls.connecta(addr, "localhost", trust()))
          assert.equal(all, ios:read(#all))
          r = helper.pack(ios:read(f))
          assert.same({ n = 4, nil, r[2], "truncated", "12" }, r, "format " .. tostring(f))
          ios:close()
        end
      end)
    end)

    -- From the main thread (blocking mode, bounded by the stream's
    -- timeout): Lua 5.1 cannot yield across the pcall a task would need.
    it("truncated: lines() yields every line, the cut-off one too, then raises", function()
      local addr = python("truncate_tail")
      local ios = assert(tls.connecta(addr, "localhost", trust({ timeout = 10 })))
      ios:settimeout(10)
      local got = {}
      local ok, err = pcall(function()
        for l in ios:lines("L") do got[#got + 1] = l end
      end)
      assert.is_false(ok)
      assert.matches("truncated", tostring(err), 1, true)
      assert.equal(LINES + 1, #got)
      assert.equal("12", got[#got])
      assert.is_true(table.concat(got) == all .. "12")
      ios:close()
    end)

    it("with close_notify: all the data, then a clean '' at the end", function()
      local addr = python("close_notify")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        local data = ios:read("a")
        assert.equal(#all, #data)
        assert.is_true(data == all)
        assert.equal("", ios:read("a"))
        assert.is_nil(ios:read("l"))
        ios:close()
      end)
    end)

    it("our close() sends close_notify: Python sees a clean end", function()
      local addr, p = python("expect_close")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(all, ios:read(#all))
        ios:close()
        T.await_output(p, "peer: (%S+)")
        assert.matches("peer: close_notify", p:output(), 1, true)
      end)
    end)

    it("our shutdown() sends close_notify too", function()
      local addr, p = python("expect_close")
      bounded(20, function()
        local ios = assert(tls.connecta(addr, "localhost", trust()))
        assert.equal(all, ios:read(#all))
        assert.is_true(ios:shutdown())
        T.await_output(p, "peer: (%S+)")
        assert.matches("peer: close_notify", p:output(), 1, true)
        ios:close()
      end)
    end)
  end)
end)
