-- Unix domain stream sockets through tls.tcp and tls: "unix:/path" and
-- "unix:@name" (Linux abstract namespace). Paths live in a fresh temp dir.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local tls = require "tls"
local helper = require "helper"
local T = require "tls_support"

local fails, raises, q = T.fails, T.raises, T.q

local dir
local function fresh_dir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -m 700 " .. q(d)))
  return d
end

local function exists(path)
  return os.execute("test -e " .. q(path)) == true or os.execute("test -e " .. q(path)) == 0
end

-- A server that answers each line with "echo: <line>". (A while loop, not
-- ios:lines(): Lua 5.1 cannot yield across a for iterator.)
local function line_echo(ios)
  while true do
    local line = ios:read("*l")
    if not line then break end
    ios:write("echo: ", line, "\n")
  end
  ios:close()
end

local function unique(tag)
  return ("lua-tls-spec-%s-%d-%d"):format(tag, os.time(), math.random(1, 1e9))
end

describe("unix domain sockets", function()
  before_each(function() dir = fresh_dir() end)
  after_each(function()
    helper.drain()
    os.execute("rm -rf " .. q(dir))
  end)

  describe("tcp", function()
    it("listens on unix:/path and connecta reaches it; names say unix:", function()
      local path = dir .. "/echo.sock"
      local seen = {}
      local srv = assert(tcp.listen("unix:" .. path, 0, function(ios)
        seen.peer = tostring(ios:getpeername())
        seen.name = tostring(ios:getsockname())
        seen.str = tostring(ios)
        line_echo(ios)
      end))
      assert.equals("unix:" .. path, tostring(srv:address()))
      assert.equals("unix", srv:address().family)
      assert.matches("unix:" .. path, tostring(srv), 1, true)
      local ios = assert(tcp.connecta("unix:" .. path))
      assert.equals("tls.ios (unix unix:" .. path .. ")", tostring(ios))
      local peer = ios:getpeername()
      assert.equals("unix", peer.family)
      assert.equals(path, peer.addr)
      assert.equals("unix:", tostring(ios:getsockname()))
      assert(ios:write("hi\n"))
      assert.equals("echo: hi", ios:read("*l"))
      ios:close()
      assert.equals("unix:", seen.peer)
      assert.equals("unix:" .. path, seen.name)
      assert.matches("unix:" .. path, seen.str, 1, true)
      -- an address object works as connecta's argument too
      ios = assert(tcp.connecta(srv:address()))
      ios:write("again\n")
      assert.equals("echo: again", ios:read("*l"))
      ios:close()
      srv:close()
    end)

    it("serves many tasks at once", function()
      local path = dir .. "/many.sock"
      local srv = assert(tcp.listen("unix:" .. path, 0, line_echo))
      local tasks = {}
      for i = 1, 30 do
        tasks[i] = loop.spawn(function()
          local ios = assert(tcp.connecta("unix:" .. path))
          for j = 1, 5 do
            ios:write(i, ":", j, "\n")
            assert.equals(("echo: %d:%d"):format(i, j), ios:read("*l"))
          end
          ios:close()
          return true
        end)
      end
      for i = 1, 30 do assert.same({ true, true }, { tasks[i]:join() }) end
      srv:close()
    end)

    it("uses the abstract namespace with unix:@name (no file)", function()
      local name = unique("abstract")
      local srv = assert(tcp.listen("unix:@" .. name, 0, line_echo))
      assert.equals("unix:@" .. name, tostring(srv:address()))
      local ios = assert(tcp.connecta("unix:@" .. name))
      assert.equals("@" .. name, ios:getpeername().addr)
      ios:write("x\n")
      assert.equals("echo: x", ios:read("*l"))
      ios:close()
      local again = tcp.listen("unix:@" .. name, 0, line_echo)
      assert.is_nil(again)
      srv:close()
      fails("refused", nil, tcp.connecta("unix:@" .. name))
    end)

    it("removes its socket file on close", function()
      local path = dir .. "/gone.sock"
      local srv = assert(tcp.listen("unix:" .. path, 0, line_echo))
      assert.is_true(exists(path))
      srv:close()
      assert.is_false(exists(path))
    end)

    it("replaces a stale socket file, refuses one that something listens on", function()
      local path = dir .. "/stale.sock"
      -- A socket file left by a process that is gone (Python binds and exits).
      assert(os.execute(("python3 -c %s"):format(q(
        "import socket; s = socket.socket(socket.AF_UNIX); s.bind('" .. path .. "')"))))
      assert.is_true(exists(path))
      fails("refused", { path }, tcp.connecta("unix:" .. path))
      local srv = assert(tcp.listen("unix:" .. path, 0, line_echo))
      local ios = assert(tcp.connecta("unix:" .. path))
      ios:write("alive\n")
      assert.equals("echo: alive", ios:read("*l"))
      ios:close()
      fails("addrinuse", { "another server listens there" },
        tcp.listen("unix:" .. path, 0, line_echo))
      -- the refused listen did not take the file away
      ios = assert(tcp.connecta("unix:" .. path))
      ios:close()
      srv:close()
    end)

    it("refuses to replace a file that is not a socket", function()
      local path = dir .. "/plain.txt"
      local f = assert(io.open(path, "w")); f:write("keep me"); f:close()
      fails("addrinuse", { path }, tcp.listen("unix:" .. path, 0, line_echo))
      f = assert(io.open(path)); assert.equals("keep me", f:read("*a")); f:close()
    end)

    it("reports a missing socket file and a missing directory", function()
      fails("notfound", { dir .. "/nothing.sock" }, tcp.connecta("unix:" .. dir .. "/nothing.sock"))
      fails("io", { "listen on unix:" .. dir .. "/no/such" },
        tcp.listen("unix:" .. dir .. "/no/such/dir.sock", 0, line_echo))
    end)

    it("reports permission errors (a socket whose directory the caller cannot enter)", function()
      local locked = dir .. "/locked"
      assert(os.execute("mkdir -m 700 " .. q(locked)))
      local path = locked .. "/s.sock"
      local srv = assert(tcp.listen("unix:" .. path, 0, line_echo))
      local code = ([[
        local tcp = require "tls.tcp"
        local _, msg, code = tcp.connecta("unix:%s")
        print(code, msg)
        local _, msg2, code2 = tcp.listen("unix:%s/other.sock", 0, function() end)
        print(code2, msg2)
      ]]):format(path, locked)
      local is_root = io.popen("id -u"):read("*l") == "0"
      local ok, _, out
      if is_root then
        -- root ignores permissions: run the client as nobody
        local file = os.tmpname()
        local f = assert(io.open(file, "w")); f:write(code); f:close()
        os.execute("chmod 644 " .. q(file))
        local cmd = ("cd %s && LUA_CPATH='target/lua/?.so;;' setpriv --reuid=nobody --regid=nogroup --clear-groups lua5.4 %s 2>&1")
          :format(q(helper.root), q(file))
        local p = io.popen(cmd); out = p:read("*a"); p:close()
        os.remove(file)
      else
        os.execute("chmod 000 " .. q(locked))
        ok, _, out = helper.lua(code)
        os.execute("chmod 700 " .. q(locked))
      end
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.matches("^permission\tconnect to unix:" .. path:gsub("%p", "%%%0") .. ": permission denied", lines[1] or out)
      assert.matches("^permission\tlisten on unix:", lines[2] or out)
      srv:close()
    end)

    it("raises for a path longer than 107 bytes, and for empty names", function()
      local long = "unix:/" .. ("x"):rep(120)
      raises("is 121 bytes long; the limit is 107", tcp.connecta, long)
      raises("is 121 bytes long; the limit is 107", tcp.listen, long, 0, line_echo)
      raises("unix: needs a path", tcp.connecta, "unix:")
      raises("unix: needs a path", tcp.listen, "unix:@", 0, line_echo)
      -- 107 bytes is fine (it just is not there)
      local ok107 = "/" .. ("y"):rep(106)
      fails("notfound", nil, tcp.connecta("unix:" .. ok107))
    end)

    it("talks to socat UNIX-CONNECT as a real client and UNIX-LISTEN as a real server", function()
      local path = dir .. "/socat.sock"
      local got
      local srv = assert(tcp.listen("unix:" .. path, 0, function(ios)
        got = ios:read("*a")
        ios:close()
      end))
      assert(os.execute(("printf 'through socat' | socat -u - UNIX-CONNECT:%s"):format(q(path))))
      assert.is_true(helper.wait_until(function() return got ~= nil end))
      assert.equals("through socat", got)
      srv:close()
      -- socat as the server
      local spath = dir .. "/socat-srv.sock"
      local p = helper.process(("exec socat UNIX-LISTEN:%s EXEC:cat"):format(q(spath)))
      local ios
      helper.wait_until(function()
        ios = tcp.connecta("unix:" .. spath)
        return ios
      end, 10)
      assert(ios, "socat did not listen: " .. p:output())
      ios:settimeout(5)
      ios:write("round trip\n")
      assert.equals("round trip", ios:read("*l"))
      ios:close()
      p:stop()
    end)
  end)

  describe("tls", function()
    setup(function() T.certs() end)

    it("connecta and listen work over unix:/path with full verification", function()
      local path = dir .. "/tls.sock"
      local srv = assert(tls.listen("unix:" .. path, 0, function(ios)
        assert.equals("unix", ios:getsockname().family)
        line_echo(ios)
      end, T.server_opts()))
      local ios = assert(tls.connecta("unix:" .. path, "localhost", T.trust()))
      assert.equals("tls.ios (tls unix:" .. path .. ")", tostring(ios))
      assert.equals("TLSv1.3", ios:info().version)
      ios:write("secret\n")
      assert.equals("echo: secret", ios:read("*l"))
      ios:close()
      -- the name is still checked
      fails("certificate", nil, tls.connecta("unix:" .. path, "wrong.example", T.trust()))
      srv:close()
    end)

    it("works over the abstract namespace", function()
      local name = unique("tls")
      local srv = assert(tls.listen("unix:@" .. name, 0, line_echo, T.server_opts()))
      local ios = assert(tls.connecta("unix:@" .. name, "localhost", T.trust()))
      ios:write("abstract tls\n")
      assert.equals("echo: abstract tls", ios:read("*l"))
      ios:close()
      srv:close()
    end)

    it("starttls upgrades a plain unix stream, both ends, with full verification", function()
      local path = dir .. "/starttls.sock"
      local seen = {}
      -- A plaintext greeting, a command, then TLS; the server's reply to
      -- the command and the client's ClientHello may share a read.
      local srv = assert(tcp.listen("unix:" .. path, 0, function(ios)
        ios:settimeout(10)
        ios:write("ready\n")
        assert.equals("STARTTLS", ios:read("*l"))
        ios:write("go\n")
        local ok, msg, code = ios:starttls(T.server_opts())
        seen.result = { rawequal(ok, ios), msg, code }
        if not ok then return end
        seen.str = tostring(ios)
        line_echo(ios)
      end))
      local function client(host)
        local ios = assert(tcp.connecta("unix:" .. path))
        ios:settimeout(10)
        assert.equals("ready", ios:read("*l"))
        ios:write("STARTTLS\n")
        assert.equals("go", ios:read("*l"))
        return ios, ios:starttls(host, T.trust())
      end
      local ios, same = client("localhost")
      assert.is_true(rawequal(ios, same))
      assert.equals("tls.ios (tls unix:" .. path .. ")", tostring(ios))
      assert.equals("TLSv1.3", ios:info().version)
      assert.matches("CN=localhost", ios:info().peer.subject)
      ios:write("over unix, under tls\n")
      assert.equals("echo: over unix, under tls", ios:read("*l"))
      ios:close()
      assert.is_true(seen.result[1])
      assert.matches("^tls.ios %(tls unix:", seen.str)
      -- the name is still checked after an upgrade over unix
      local bad, r1, r2, r3 = client("wrong.example")
      fails("certificate", nil, r1, r2, r3)
      bad:close()
      srv:close()
    end)
  end)
end)
