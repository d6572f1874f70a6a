-- Every error the library raises is a string in Lua's own style, and a
-- task's error value reaches whoever drives the loop unchanged.
--
-- The first part walks every public function and method with wrong
-- arguments (table-driven) and pins the message shape:
--   [file:line: ]bad argument #N to 'module.function' (why)
--   [file:line: ]calling 'object:method' on bad self (object expected, got T)
-- The second part raises values of every type out of tasks and catches
-- them from each call that drives the loop.
local tls = require "tls"
local loop, tcp, dns = tls.loop, tls.tcp, tls.dns
local T = require "tls_support"
local helper = require "helper"

local unpack = table.unpack or unpack
local pack = function(...) return { n = select("#", ...), ... } end

-- Words that must never reach a user: mlua's and Rust's.
local FOREIGN = { "Ios%.", "Task%.", "Server%.", "_read", "error converting", "runtime error",
                  "LuaError", "userdata is not", "callback error", "stack traceback",
                  "Option<", "Other%(", "f64", "i64", "usize" }

local function clean(e)
  for _, w in ipairs(FOREIGN) do
    assert(not e:find(w), ("mlua or Rust wording (%s) in: %s"):format(w, e))
  end
end

-- The error of f(...), which must fail.
local function raised(f, ...)
  local r = pack(pcall(f, ...))
  assert(not r[1], "expected an error, got " .. tostring(r[2]))
  return r[2]
end

-- The message without the `file:line: ` a position adds.
local function strip(e) return (e:gsub("^[^\n]-:%d+: ", "", 1)) end

local function quote(s) return (s:gsub("%p", "%%%0")) end

local function bad_argument(e, n, fname, why)
  assert.equal("string", type(e), "error is a " .. type(e))
  clean(e)
  local m = strip(e)
  local pattern = "^bad argument #" .. n .. " to '" .. quote(fname) .. "' %((.+)%)$"
  local reason = m:match(pattern)
  assert(reason, ("expected bad argument #%d to '%s' (...), got: %s"):format(n, fname, e))
  if why then
    assert(reason:find(why, 1, true), ("expected (%s) in: %s"):format(why, e))
  end
end

local function bad_self(e, fname, object)
  assert.equal("string", type(e), "error is a " .. type(e))
  clean(e)
  local pattern = "^calling '" .. quote(fname) .. "' on bad self %(" .. object .. " expected, got [%a ]+%)$"
  assert(strip(e):match(pattern), ("expected calling '%s' on bad self, got: %s"):format(fname, e))
end

local function noop() end

describe("errors", function()
  local srv, addr, ios, tsrv, tios, task, cfg, cond, queue, signal

  setup(function()
    T.certs()
    srv = assert(tcp.listen("127.0.0.1", 0, function(s)
      s:write("line\n")
      s:read("a")
    end))
    addr = tostring(srv:address())
    ios = assert(tcp.connecta(addr))
    ios:settimeout(5)
    local taddr
    tsrv, taddr = T.serve(T.server_opts())
    tios = assert(tls.connecta(taddr, "localhost", T.trust()))
    task = loop.spawn(function() return 1 end)
    assert(task:join())
    cfg = tls.config(T.trust())
    cond, queue, signal = loop.cond(), loop.queue(), loop.signal("USR2")
  end)

  teardown(function()
    signal:close()
    queue:close()
    ios:close()
    tios:close()
    srv:close()
    T.cleanup()
    -- Bounded: after docs_spec.lua something here stays live and an
    -- unbounded loop.run() hung the whole suite.
    require("helper").drain(5)
  end)

  describe("bad arguments", function()
    -- { function name, argument number, call, [words of the reason] }
    local function cases()
      local opts = T.server_opts()
      return {
        { "tls.connecta", 1, function() return tls.connecta(42, "localhost") end, "address expected, got number" },
        { "tls.connecta", 1, function() return tls.connecta(nil, "localhost") end, "address expected, got nil" },
        { "tls.connecta", 1, function() return tls.connecta("no address", "localhost") end },
        { "tls.connecta", 2, function() return tls.connecta(addr, 42) end, "host name expected, got number" },
        { "tls.connecta", 2, function() return tls.connecta(addr) end, "host name expected, got nil" },
        { "tls.connecta", 3, function() return tls.connecta(addr, "localhost", 42) end, "got number" },
        { "tls.connecta", 3, function() return tls.connecta(addr, "localhost", { foo = 1 }) end, "unknown TLS option 'foo'" },
        { "tls.connecta", 3, function() return tls.connecta(addr, "localhost", { alpn = 5 }) end, "alpn" },
        { "tls.connecta", 3, function() return tls.connecta(addr, "localhost", { nodelay = 1 }) end, "option 'nodelay': boolean expected, got number" },
        { "tls.connecta", 3, function() return tls.connecta(addr, "localhost", { timeout = -1 }) end, "timeout" },
        { "tls.connect", 1, function() return tls.connect(nil, 443) end, "host name expected, got nil" },
        { "tls.connect", 2, function() return tls.connect("localhost", nil) end },
        { "tls.connect", 2, function() return tls.connect("localhost", {}) end },
        { "tls.connect", 2, function() return tls.connect("localhost", 70000) end },
        { "tls.connect", 3, function() return tls.connect("localhost", 443, 42) end },
        { "tls.connect", 3, function() return tls.connect("localhost", 443, { foo = 1 }) end, "unknown TLS option 'foo'" },
        { "tls.listen", 1, function() return tls.listen({}, 0, noop, opts) end, "string expected, got table" },
        { "tls.listen", 1, function() return tls.listen(nil, 0, noop, opts) end, "string expected, got nil" },
        { "tls.listen", 2, function() return tls.listen("127.0.0.1", {}, noop, opts) end },
        { "tls.listen", 3, function() return tls.listen("127.0.0.1", 0, 42, opts) end, "function expected, got number" },
        { "tls.listen", 4, function() return tls.listen("127.0.0.1", 0, noop) end },
        { "tls.listen", 4, function() return tls.listen("127.0.0.1", 0, noop, 42) end },
        { "tls.listen", 4, function() return tls.listen("127.0.0.1", 0, noop, T.trust()) end, "cert" },
        { "tls.listen", 4, function() return tls.listen("127.0.0.1", 0, noop, T.server_opts(nil, { foo = 1 })) end, "unknown TLS option 'foo'" },
        { "tls.config", 1, function() return tls.config(42) end, "table expected, got number" },
        { "tls.config", 1, function() return tls.config("cafile") end, "table expected, got string" },
        { "tls.config", 1, function() return tls.config({ foo = 1 }) end, "unknown TLS option 'foo'" },
        { "tls.config", 1, function() return tls.config({ protocols = "sslv3" }) end, "sslv3" },
        { "tls.config", 1, function() return tls.config({ [1] = true }) end },

        { "tcp.connecta", 1, function() return tcp.connecta(42) end, "address expected, got number" },
        { "tcp.connecta", 1, function() return tcp.connecta(nil) end, "address expected, got nil" },
        { "tcp.connecta", 1, function() return tcp.connecta("127.0.0.1") end },
        { "tcp.connecta", 1, function() return tcp.connecta({ addr = "x", port = 1 }) end },
        { "tcp.connecta", 2, function() return tcp.connecta(addr, 42) end, "table expected, got number" },
        { "tcp.connecta", 2, function() return tcp.connecta(addr, { foo = 1 }) end, "unknown option 'foo'" },
        { "tcp.connecta", 2, function() return tcp.connecta(addr, { timeout = "x" }) end, "option 'timeout'" },
        { "tcp.connecta", 2, function() return tcp.connecta(addr, { timeout = -1 }) end, "option 'timeout'" },
        { "tcp.connecta", 2, function() return tcp.connecta(addr, { [1] = 5 }) end, "option names are strings" },
        { "tcp.connect", 1, function() return tcp.connect(nil) end, "string expected, got nil" },
        { "tcp.connect", 1, function() return tcp.connect({}, 80) end, "string expected, got table" },
        { "tcp.connect", 2, function() return tcp.connect("localhost", nil) end },
        { "tcp.connect", 2, function() return tcp.connect("localhost", 1.5) end },
        { "tcp.connect", 2, function() return tcp.connect("localhost", -1) end },
        { "tcp.connect", 2, function() return tcp.connect("localhost", "no-such-service") end, "unknown service" },
        { "tcp.connect", 3, function() return tcp.connect("localhost", 80, true) end, "table expected, got boolean" },
        { "tcp.connect", 3, function() return tcp.connect("localhost", 80, { foo = 1 }) end, "unknown option 'foo'" },
        { "tcp.listen", 1, function() return tcp.listen() end, "string expected, got nil" },
        { "tcp.listen", 2, function() return tcp.listen("127.0.0.1") end },
        { "tcp.listen", 2, function() return tcp.listen("127.0.0.1", 70000, noop) end },
        { "tcp.listen", 3, function() return tcp.listen("127.0.0.1", 0) end, "function expected, got nil" },
        { "tcp.listen", 3, function() return tcp.listen("127.0.0.1", 0, "f") end, "function expected, got string" },
        { "tcp.listen", 4, function() return tcp.listen("127.0.0.1", 0, noop, 42) end, "table expected, got number" },
        { "tcp.listen", 4, function() return tcp.listen("127.0.0.1", 0, noop, { foo = 1 }) end, "unknown option 'foo'" },
        { "tcp.listen", 4, function() return tcp.listen("127.0.0.1", 0, noop, { backlog = -1 }) end, "option 'backlog'" },
        { "tcp.listen", 4, function() return tcp.listen("127.0.0.1", 0, noop, { maxline = 1.5 }) end, "option 'maxline'" },
        { "tcp.listen", 4, function() return tcp.listen("127.0.0.1", 0, noop, { reuseport = "yes" }) end, "option 'reuseport'" },

        { "loop.spawn", 1, function() return loop.spawn() end, "function expected, got nil" },
        { "loop.spawn", 1, function() return loop.spawn(42) end, "function expected, got number" },
        { "loop.spawn", 1, function() return loop.spawn({}) end, "function expected, got table" },
        { "loop.sleep", 1, function() return loop.sleep("a") end, "number expected, got string" },
        { "loop.sleep", 1, function() return loop.sleep({}) end, "number expected, got table" },
        { "loop.sleep", 1, function() return loop.sleep(-1) end, "non-negative" },
        { "loop.step", 1, function() return loop.step("x") end, "number expected, got string" },
        { "loop.step", 1, function() return loop.step(-1) end, "non-negative" },
        { "loop.step", 1, function() return loop.step(0 / 0) end, "non-negative" },
        { "loop.queue", 1, function() return loop.queue("x") end },
        { "loop.queue", 1, function() return loop.queue(-1) end },
        { "loop.queue", 1, function() return loop.queue(1.5) end },
        { "loop.poll", 1, function() return loop.poll() end, "got nil" },
        { "loop.poll", 1, function() return loop.poll({}) end },
        { "loop.poll", 2, function() return loop.poll(0, "x") end },
        { "loop.poll", 3, function() return loop.poll(0, "r", -1) end, "non-negative" },
        { "loop.signal", 1, function() return loop.signal() end, "got nil" },
        { "loop.signal", 1, function() return loop.signal("NOPE") end, "NOPE" },
        { "task:join", 1, function() return task:join("x") end, "number expected, got string" },
        { "cond:wait", 1, function() return cond:wait("x") end, "number expected, got string" },
        { "queue:put", 2, function() return queue:put(1, "x") end, "number expected, got string" },
        { "queue:get", 1, function() return queue:get("x") end, "number expected, got string" },
        { "signal:wait", 1, function() return signal:wait("x") end, "number expected, got string" },

        { "dns.address", 1, function() return dns.address() end, "string expected, got nil" },
        { "dns.address", 1, function() return dns.address(42) end, "string expected, got number" },
        { "dns.address", 1, function() return dns.address({}) end, "string expected, got table" },
        { "dns.address", 2, function() return dns.address("localhost", "ipx") end, "'ipx'" },
        { "dns.address", 2, function() return dns.address("localhost", 42) end },
        { "dns.address", 3, function() return dns.address("localhost", "ip", "sctp") end, "'sctp'" },
        { "dns.address", 4, function() return dns.address("localhost", "ip", "tcp", 70000) end },
        { "dns.address", 4, function() return dns.address("localhost", "ip", "tcp", {}) end },
        { "dns.address", 4, function() return dns.address("localhost", "ip", "tcp", "no-such-service") end },
        { "dns.config", 1, function() return dns.config(42) end, "table expected, got number" },
        { "dns.config", 1, function() return dns.config({ foo = 1 }) end, "unknown option 'foo'" },
        { "dns.config", 1, function() return dns.config({ [1] = 1 }) end, "option names are strings" },
        { "dns.config", 1, function() return dns.config({ timeout = "x" }) end, "option 'timeout': number expected, got string" },
        { "dns.config", 1, function() return dns.config({ timeout = -1 }) end, "option 'timeout'" },
        { "dns.config", 1, function() return dns.config({ attempts = 1.5 }) end, "option 'attempts'" },
        { "dns.config", 1, function() return dns.config({ attempts = 0 }) end, "option 'attempts'" },
        { "dns.config", 1, function() return dns.config({ nameservers = 42 }) end, "option 'nameservers'" },
        { "dns.config", 1, function() return dns.config({ nameservers = {} }) end, "option 'nameservers'" },
        { "dns.config", 1, function() return dns.config({ nameservers = { "not an address" } }) end, "option 'nameservers'" },
        { "dns.config", 1, function() return dns.config({ search = { 1 } }) end, "option 'search'" },
        { "dns.config", 1, function() return dns.config({ hosts = 42 }) end, "option 'hosts'" },
        { "dns.config", 1, function() return dns.config({ cache = "no" }) end, "option 'cache'" },
        { "dns.config", 1, function() return dns.config({ ndots = 99 }) end, "option 'ndots'" },

        { "ios:read", 1, function() return ios:read("x") end, "invalid format" },
        { "ios:read", 1, function() return ios:read({}) end, "invalid format" },
        { "ios:read", 1, function() return ios:read(-1) end, "invalid format" },
        { "ios:read", 2, function() return ios:read("l", "z") end, "invalid format" },
        { "ios:read", 1, function() return tios:read("x") end, "invalid format" },
        { "ios:write", 1, function() return ios:write({}) end, "string expected, got table" },
        { "ios:write", 2, function() return ios:write("", true) end, "string expected, got boolean" },
        { "ios:write", 3, function() return tios:write("", "", print) end, "string expected, got function" },
        { "ios:setvbuf", 1, function() return ios:setvbuf("sometimes") end, "invalid option 'sometimes'" },
        { "ios:setvbuf", 1, function() return ios:setvbuf({}) end, "string expected, got table" },
        { "ios:setvbuf", 1, function() return ios:setvbuf() end, "string expected, got nil" },
        { "ios:setvbuf", 2, function() return ios:setvbuf("full", "big") end, "number expected, got string" },
        { "ios:settimeout", 1, function() return ios:settimeout("a") end, "number expected, got string" },
        { "ios:settimeout", 1, function() return ios:settimeout({}) end, "number expected, got table" },
        { "ios:settimeout", 1, function() return ios:settimeout(-1) end, "non-negative" },
        { "ios:setmaxline", 1, function() return ios:setmaxline(1.5) end, "number has no integer representation" },
        { "ios:setmaxline", 1, function() return ios:setmaxline("x") end, "number expected, got string" },
        { "ios:setmaxline", 1, function() return ios:setmaxline() end, "number expected, got nil" },
        { "ios:setmaxline", 1, function() return ios:setmaxline(0) end, "positive integer expected" },
        { "ios:fill", 1, function() return ios:fill(-1) end },
        { "ios:fill", 1, function() return ios:fill("x") end },
        { "ios:peer_contains_name", 1, function() return tios:peer_contains_name(1) end, "string expected, got number" },
      }
    end

    it("every function names itself and the argument, in a string", function()
      for i, c in ipairs(cases()) do
        local ok, e = pcall(c[3])
        assert(not ok, ("case %d (%s #%d) did not raise"):format(i, c[1], c[2]))
        bad_argument(e, c[2], c[1], c[4])
      end
    end)

    it("carries the caller's position, as luaL_argerror does", function()
      local line
      local ok, e = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        loop.sleep("a")
      end)
      assert.is_false(ok)
      assert.equal("errors_spec.lua:" .. line .. ": bad argument #1 to 'loop.sleep' (number expected, got string)",
        e:match("errors_spec%.lua:.*$"))
      -- called straight from pcall (a C function), there is no position
      e = raised(loop.sleep, "a")
      assert.equal("bad argument #1 to 'loop.sleep' (number expected, got string)", e)
      -- methods too, waiting or not
      for _, f in ipairs({ function() ios:settimeout("a") end, function() ios:read("x") end,
                           function() ios:write({}) end }) do
        e = raised(f)
        assert.matches("^[^:]*errors_spec%.lua:%d+: bad argument #1 to 'ios:", e)
      end
      -- datagram methods (through their fast-path wrappers)
      local s = assert(require("tls.udp").bind("127.0.0.1", 0))
      for _, f in ipairs({ function() s:recv("a") end, function() s:send({}) end,
                           function() s:sendto("x", "nowhere") end }) do
        e = raised(f)
        assert.matches("^[^:]*errors_spec%.lua:%d+: bad argument #%d to 's:", e)
      end
      s:close()
    end)

    it("is an error Lua code can match, concatenate and compare", function()
      local e = raised(tcp.connecta, 42)
      assert.equal("bad argument #1 to 'tcp.connecta' (address expected, got number)", e)
      assert.equal("x: " .. e, "x: bad argument #1 to 'tcp.connecta' (address expected, got number)")
    end)

    it("nothing changed: a failed dns.config leaves the settings as they were", function()
      local before = dns.config()
      raised(dns.config, { timeout = 2, attempts = 0 })
      assert.same(before, dns.config())
    end)
  end)

  describe("bad self", function()
    it("raises strings without the debug library too (a sandbox), and the loop works", function()
      local ok, code, out = helper.lua([[
        debug = nil
        local tcp, loop, udp = require "tls.tcp", require "tls.loop", require "tls.udp"
        local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
          ios:write(ios:read("l"), "\n"); ios:close()
        end))
        local ios = assert(tcp.connecta(srv:address()))
        local s, q, c = assert(udp.bind("127.0.0.1", 0)), loop.queue(1), loop.cond()
        local other = io.stdout -- a userdata of another kind
        local cases = {
          { ios, { "read", "write", "flush", "setvbuf", "info", "close" } },
          { s, { "recv", "send", "sendto", "connect", "close" } },
          { q, { "put", "get", "close" } },
          { c, { "wait", "signal", "broadcast" } },
        }
        for _, case in ipairs(cases) do
          for _, m in ipairs(case[2]) do
            local okm, e = pcall(case[1][m], other, "x")
            assert(not okm and type(e) == "string" and e:find("on bad self", 1, true), m .. ": " .. tostring(e))
          end
        end
        local t = loop.spawn(function() error("boom") end)
        local jok, err = t:join()
        assert(jok == false and err:find("boom", 1, true))
        assert(select(2, loop.spawn(function() ios:write("hi\n"); return ios:read("l") end):join()) == "hi")
        q:put(1); assert(q:get() == 1)
        print("all strings")
      ]])
      assert.is_true(ok, out)
      assert.matches("all strings", out, 1, true)
    end)

    local ios_methods = { "read", "write", "lines", "flush", "setvbuf", "settimeout", "setmaxline",
                          "fill", "shutdown", "close", "getpeername", "getsockname", "info", "handshake",
                          "peer_contains_name" }

    it("every ios method says it was called on something else", function()
      for _, m in ipairs(ios_methods) do
        local f = ios[m]
        assert.equal("function", type(f), m)
        for _, other in ipairs({ 42, "text", {}, srv, task }) do
          bad_self(raised(f, other), "ios:" .. m, "ios")
        end
        bad_self(raised(f), "ios:" .. m, "ios")
        assert.equal(f, tios[m], m .. " is shared by TCP and TLS streams")
      end
      -- the line reads, which take their own path
      bad_self(raised(ios.read, nil), "ios:read", "ios")
      bad_self(raised(ios.read, 42, "l"), "ios:read", "ios")
      bad_self(raised(ios.read, srv, "L"), "ios:read", "ios")
    end)

    it("so does every server and task method", function()
      for _, m in ipairs({ "close", "address" }) do
        for _, other in ipairs({ 42, ios, task }) do
          bad_self(raised(srv[m], other), "server:" .. m, "server")
        end
        bad_self(raised(srv[m]), "server:" .. m, "server")
      end
      for _, m in ipairs({ "join", "done", "cancel" }) do
        for _, other in ipairs({ "x", ios, srv }) do
          bad_self(raised(task[m], other), "task:" .. m, "task")
        end
        bad_self(raised(task[m]), "task:" .. m, "task")
      end
      bad_self(raised(srv.stats, ios), "server:stats", "server")
    end)

    it("so does every method of the loop's primitives", function()
      local objects = {
        { "cond", cond, { "wait", "signal", "broadcast" } },
        { "queue", queue, { "put", "get", "close", "closed" } },
        { "signal", signal, { "wait", "pending", "close" } },
      }
      for _, o in ipairs(objects) do
        for _, m in ipairs(o[3]) do
          local f = o[2][m]
          assert.equal("function", type(f), o[1] .. ":" .. m)
          for _, other in ipairs({ 42, ios, task }) do
            bad_self(raised(f, other), o[1] .. ":" .. m, o[1])
          end
          bad_self(raised(f), o[1] .. ":" .. m, o[1])
        end
      end
    end)

    it("no object shows an internal method, and every method raises a string for a bad self", function()
      local udp, sha256 = require "tls.udp", require "tls.sha256"
      local s = assert(udp.bind("127.0.0.1", 0))
      local objects = {
        { "ios", ios }, { "ios", tios }, { "server", srv }, { "server", tsrv }, { "task", task },
        { "cond", cond }, { "queue", queue }, { "signal", signal }, { "udp", s },
        { "sha256", sha256.new() },
      }
      for _, o in ipairs(objects) do
        local methods = debug.getmetatable(o[2]).__index
        assert.equal("table", type(methods), o[1])
        local n = 0
        for name, f in pairs(methods) do
          assert(not tostring(name):find("^_"), o[1] .. " shows " .. tostring(name))
          if type(f) == "function" then
            n = n + 1
            for _, other in ipairs({ 42, {}, io.stdout }) do
              local e = raised(f, other)
              assert(type(e) == "string", o[1] .. ":" .. name .. " raised a " .. type(e))
              clean(e)
              assert(strip(e):find("^calling '[%w_.]+:" .. name .. "' on bad self"),
                o[1] .. ":" .. name .. ": " .. e)
            end
          end
        end
        assert(n > 0, o[1] .. " has methods")
      end
      s:close()
    end)

    it("objects print their kind", function()
      assert.matches("^tls%.config", tostring(cfg))
      assert.matches("^tls%.task", tostring(task))
      assert.matches("^tls%.server", tostring(srv))
      assert.matches("^tls%.ios", tostring(ios))
      assert.matches("^127%.0%.0%.1:%d+$", tostring(srv:address()))
    end)
  end)

  describe("misuse of where a call runs", function()
    it("loop.run and loop.step from inside a task raise a string", function()
      local t = loop.spawn(function()
        local ok1, e1 = pcall(loop.run)
        local ok2, e2 = pcall(loop.step, 0)
        return ok1, e1, ok2, e2
      end)
      local r = pack(t:join())
      assert.is_true(r[1])
      assert.is_false(r[2])
      assert.equal("string", type(r[3]))
      clean(r[3])
      assert.matches("loop.run: called from inside a task", r[3], 1, true)
      assert.is_false(r[4])
      assert.matches("loop.step: called from inside a task", r[5], 1, true)
    end)

    it("I/O from a coroutine the loop did not start raises a string", function()
      local t = loop.spawn(function()
        local co = coroutine.create(function() return loop.sleep(0) end)
        local ok, e = coroutine.resume(co)
        local co2 = coroutine.create(function() return ios:read("a") end)
        local ok2, e2 = coroutine.resume(co2)
        return ok, e, ok2, e2
      end)
      local r = pack(t:join())
      assert.is_true(r[1])
      assert.is_false(r[2])
      assert.equal("string", type(r[3]))
      clean(r[3])
      assert.matches("loop.sleep: called from a coroutine that the tls loop did not start", r[3], 1, true)
      assert.is_false(r[4])
      assert.equal("string", type(r[5]))
      assert.matches("ios:read: called from a coroutine that the tls loop did not start", r[5], 1, true)
    end)

    it("a second read while one waits raises a string", function()
      local quiet = assert(tcp.listen("127.0.0.1", 0, function(s) s:read("a") end))
      local c = assert(tcp.connecta(quiet:address()))
      local first = loop.spawn(function() return c:read("l") end)
      local second = loop.spawn(function()
        loop.sleep(0.05)
        return pcall(c.read, c, "l")
      end)
      local r = pack(second:join())
      assert.is_true(r[1])
      assert.is_false(r[2])
      assert.equal("string", type(r[3]))
      assert.matches("ios:read: another task is already reading from this stream", r[3], 1, true)
      c:close()
      assert.same({ true, nil, "tcp stream is closed", "closed" }, { first:join() })
      quiet:close()
    end)
  end)

  describe("error values", function()
    -- A task that fails with `value` once the loop turns. Lua 5.1, 5.2
    -- and LuaJIT's error() turn a number into a string with a position
    -- (a number counts as a string there), so numbers are raised at level 0.
    local function failing(value)
      return loop.spawn(function()
        loop.sleep(0)
        error(value, type(value) == "number" and 0 or 1)
      end)
    end

    local opened = {}
    local function each_driver(f)
      -- name, call that drives the loop until the failure shows
      local drivers = {
        { "loop.sleep", function() loop.sleep(5) end },
        { "loop.run", function() loop.run() end },
        { "loop.step", function() for _ = 1, 100 do loop.step(0.01) end end },
        { "task:join", function() loop.spawn(function() loop.sleep(0.2) end):join() end },
        { "blocking read", function()
            local s = assert(tcp.connecta(addr))
            opened[#opened + 1] = s
            s:read("l") -- the server's line
            s:read("l") -- waits: the server sends nothing more until we close
          end },
      }
      for _, d in ipairs(drivers) do
        f(d[1], d[2])
        for i = #opened, 1, -1 do table.remove(opened, i):close() end
      end
    end

    -- Lua 5.1, 5.2 and LuaJIT's error() turns a number into a message
    -- (with a position) before anyone sees it; 5.3 and later keep it.
    local numbers_stay = type(select(2, pcall(function() error(42) end))) == "number"

    it("a table is that very table, out of every call that drives the loop", function()
      each_driver(function(name, drive)
        local value = { code = 9 }
        failing(value)
        local ok, e = pcall(drive)
        assert.is_false(ok, name)
        assert.is_true(rawequal(value, e), name .. " raised " .. tostring(e))
      end)
    end)

    it("a number stays a number (where Lua keeps it one), a string stays the message with its traceback", function()
      each_driver(function(name, drive)
        failing(42)
        local ok, e = pcall(drive)
        assert.is_false(ok, name)
        -- failing() raises numbers at level 0, so every Lua keeps them numbers.
        assert.equal(42, e, name)
        failing("boom")
        ok, e = pcall(drive)
        assert.is_false(ok, name)
        assert.equal("string", type(e), name)
        assert.matches("errors_spec%.lua:%d+: boom", e)
        clean(e:match("^[^\n]*"))
      end)
    end)

    it("error() with no value raises nil", function()
      failing(nil)
      local r = pack(pcall(loop.run))
      assert.is_false(r[1])
      assert.equal(2, r.n)
      assert.is_nil(r[2])
    end)

    it("the loop goes on after it raised", function()
      failing({})
      assert.is_false(pcall(loop.sleep, 1))
      local t = loop.spawn(function() loop.sleep(0) return "after" end)
      assert.same({ true, "after" }, { t:join() })
    end)

    it("join hands back the task's own error value, on every Lua", function()
      local value = { code = 9 }
      local t = loop.spawn(function() loop.sleep(0) error(value) end)
      local ok, e = t:join()
      assert.is_false(ok)
      assert.is_true(rawequal(value, e))
      t = loop.spawn(function() error(42) end)
      ok, e = t:join()
      assert.is_false(ok)
      if numbers_stay then assert.equal(42, e) else assert.matches(": 42\n", e) end
      -- joined from a task as well
      local inner = loop.spawn(function() loop.sleep(0) error(value) end)
      local outer = loop.spawn(function() return inner:join() end)
      local r = pack(outer:join())
      assert.is_true(r[1])
      assert.is_false(r[2])
      assert.is_true(rawequal(value, r[3]))
    end)

    it("a message error from a task carries its traceback", function()
      local t = loop.spawn(function() error("deep") end)
      local ok, e = t:join()
      assert.is_false(ok)
      assert.matches("deep", e)
      assert.matches("stack traceback", e)
    end)

    it("misuse inside a task is a string there, and through join", function()
      local t = loop.spawn(function()
        local ok, e = pcall(loop.sleep, "a")
        assert(not ok)
        loop.sleep(0)
        return e
      end)
      local ok, e = t:join()
      assert.is_true(ok)
      assert.equal("bad argument #1 to 'loop.sleep' (number expected, got string)", e)
      t = loop.spawn(function() ios:settimeout("a") end)
      ok, e = t:join()
      assert.is_false(ok)
      assert.equal("string", type(e))
      assert.matches("^[^\n]*errors_spec%.lua:%d+: bad argument #1 to 'ios:settimeout' %(number expected, got string%)", e)
    end)
  end)
end)

-- Keep `unpack` used on every Lua (luacheck).
assert(unpack)
