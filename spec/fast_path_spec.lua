-- The raw fast path of read("l"), read("L"), lines() and a one-string
-- write (src/fast/stream.rs): the same answers as the general path in
-- every case it declines or takes, and no fault under garbage-collector
-- stress: streams dropped unclosed, finalizers that use a stream while a
-- read is copying a line, objects resurrected after their finalizers ran.
-- Real TCP and TLS peers on 127.0.0.1; every wait is bounded.
local loop = require "tls.loop"
local tcp = require "tls.tcp"
local tls = require "tls"
local helper = require "helper"
local S = require "tls_support"

local finalized, stress_gc = helper.finalized, helper.stress_gc

local servers = {}
local function serve(handler, opts)
  local srv, addr = helper.serve(handler, opts)
  servers[#servers + 1] = srv
  return addr
end

-- A server that sends `text` and closes.
local function sender(text)
  return serve(function(ios)
    ios:write(text)
    ios:close()
  end)
end

-- Numbered lines "1\n2\n...".
local function numbered(n)
  local t = {}
  for i = 1, n do t[i] = tostring(i) end
  return table.concat(t, "\n") .. "\n"
end

describe("fast path", function()
  after_each(function()
    for i = #servers, 1, -1 do
      servers[i]:close()
      servers[i] = nil
    end
    helper.drain(2)
  end)

  it("answers buffered lines as the general path does, l and L, CRLF kept", function()
    local addr = sender("one\ntwo\r\nthree\n\nlast")
    helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr))
      assert.equal(20, ios:fill(20)) -- everything buffered: the fast path answers
      assert.equal("one", ios:read("l"))
      assert.equal("two\r\n", ios:read("L"))
      assert.equal("three", ios:read("*l"))
      assert.equal("\n", ios:read("*L"))
      -- a last line without newline goes through the general path
      assert.equal("last", ios:read())
      local r = helper.pack(ios:read("l"))
      assert.equal(1, r.n)
      assert.is_nil(r[1])
      ios:close()
    end)
  end)

  it("reads every line of a stream that arrives in pieces, through lines()", function()
    local n = 20000
    local addr = serve(function(ios)
      local text = numbered(n)
      for i = 1, #text, 777 do
        ios:write(text:sub(i, i + 776))
        if i % 7 == 0 then loop.sleep(0) end
      end
      ios:close()
    end)
    helper.bounded(10, function()
      local ios = assert(tcp.connecta(addr))
      local i = 0
      local nxt = ios:lines()
      local line = nxt()
      while line do
        i = i + 1
        assert(line == tostring(i), line)
        line = nxt()
      end
      assert.equal(n, i)
      ios:close()
    end)
  end)

  it("leaves a too-long buffered line to the general path (toolong)", function()
    local addr = sender(("x"):rep(100) .. "\nshort\n")
    helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr, { maxline = 10 }))
      assert(ios:fill(107))
      local v, msg, code = ios:read("l")
      assert.is_nil(v)
      assert.equal("toolong", code)
      assert.matches("longer than 10 bytes", msg)
      ios:close()
    end)
  end)

  it("flushes buffered output before answering a read from the buffer", function()
    -- The reply is already buffered, but the request sits in our output
    -- buffer ("full" mode): the read must send it first.
    local got
    local addr = serve(function(ios)
      ios:write("early\nlate\n")
      got = ios:read("l")
      ios:close()
    end)
    helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr))
      ios:setvbuf("full")
      assert(ios:fill(11))
      assert.equal(ios, ios:write("request\n"))
      assert.equal("early", ios:read("l"))
      assert.equal("late", ios:read("l"))
      assert.is_nil(ios:read("l"))
      ios:close()
    end)
    assert.equal("request", got)
  end)

  it("writes one string in each buffering mode, chains, and reports a closed stream", function()
    local received = {}
    local addr = serve(function(ios)
      local line = ios:read("l")
      while line do
        received[#received + 1] = line
        line = ios:read("l")
      end
    end)
    helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr))
      assert.equal(ios, ios:write("no\n"))
      ios:setvbuf("line")
      assert.equal(ios, ios:write("li"):write("ne\n"))
      ios:setvbuf("full", 4)
      assert.equal(ios, ios:write("full\n"))
      ios:setvbuf("full")
      assert.equal(ios, ios:write("buffered\n"))
      assert(ios:flush())
      ios:close()
      local v, msg, code = ios:write("after close")
      assert.is_nil(v)
      assert.equal("closed", code)
      assert.is_string(msg)
    end)
    helper.wait_until(function() return #received == 4 end, 5)
    assert.same({ "no", "line", "full", "buffered" }, received)
  end)

  it("leaves other writes to the general path: numbers, several values, bad ones", function()
    local addr = serve(function(ios)
      ios:read("a")
    end)
    helper.bounded(5, function()
      local ios = assert(tcp.connecta(addr))
      assert.equal(ios, ios:write(12))
      assert.equal(ios, ios:write("a", "b"))
      assert.equal(ios, ios:write())
      local ok, err = pcall(ios.write, ios, "x", nil)
      assert.is_false(ok)
      assert.is_string(err)
      assert.matches("bad argument #2 to 'ios:write'", err)
      ok, err = pcall(ios.write, ios, {})
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'ios:write'", err)
      ok, err = pcall(ios.write, "not an ios", "x")
      assert.is_false(ok)
      assert.is_string(err)
      ios:close()
    end)
  end)

  it("waits in write when the socket is full, then delivers everything", function()
    local total = 0
    local addr = serve(function(ios)
      loop.sleep(0.3) -- let the client fill the socket first
      while true do
        local b = ios:read(65536)
        if not b then break end
        total = total + #b
      end
    end)
    local chunk = ("z"):rep(64 * 1024)
    helper.bounded(20, function()
      local ios = assert(tcp.connecta(addr))
      for _ = 1, 160 do assert.equal(ios, ios:write(chunk)) end
      ios:close()
    end)
    helper.wait_until(function() return total == 160 * #chunk end, 10)
    assert.equal(160 * #chunk, total)
  end)

  describe("a line read in a task that must wait (the fast path parks it)", function()
    -- A server that sends `parts` with a pause between them, then waits
    -- until `done()` before it closes.
    local function trickle(parts, pause, done)
      return serve(function(ios)
        for _, p in ipairs(parts) do
          ios:write(p)
          ios:flush()
          loop.sleep(pause)
        end
        helper.hold(done or function() return true end, 10)
        ios:close()
      end)
    end

    it("waits for lines that arrive in pieces: l, L and lines()", function()
      local addr = trickle({ "ab", "c\nd", "e\r\n", "f", "\n", "g\nh\n" }, 0.02)
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        assert.equal("abc", ios:read("l"))
        assert.equal("de\r\n", ios:read("L"))
        assert.equal("f", ios:read())
        -- (The iterator called directly: Lua 5.1 cannot yield out of a
        -- generic for's iterator call.)
        local got = {}
        local nxt = ios:lines()
        local l = nxt()
        while l do
          got[#got + 1] = l
          l = nxt()
        end
        assert.same({ "g", "h" }, got)
        ios:close()
      end)
    end)

    it("times out counted from the first wait, not from each wake-up", function()
      local release = false
      -- A byte every 50 ms, never a newline while the client waits.
      local parts = {}
      for i = 1, 30 do parts[i] = "x" end
      local addr = serve(function(ios)
        for _, p in ipairs(parts) do
          if release then break end
          ios:write(p)
          ios:flush()
          loop.sleep(0.05)
        end
        ios:write("\nnext\n")
        ios:flush()
        helper.hold(function() return release == "done" end, 10)
        ios:close()
      end)
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(0.3)
        local t0 = loop.now()
        local r = helper.pack(ios:read("l"))
        local waited = loop.now() - t0
        assert.is_nil(r[1])
        assert.equal("timeout", r[3])
        assert.matches("timed out", r[2])
        assert.is_true(waited >= 0.25 and waited < 1.2, "waited " .. waited)
        -- The bytes that came stay buffered; the line ends later.
        release = true
        ios:settimeout(5)
        local line = ios:read("l")
        assert.matches("^x+$", line)
        assert.equal("next", ios:read("l"))
        release = "done"
        ios:close()
      end)
    end)

    -- Lua 5.1 cannot yield across pcall (nor out of a for's iterator).
    local pit = helper.yields_across_pcall and it or pending
    pit("raises a timeout out of lines() and keeps the stream usable", function()
      local release = false
      local addr = trickle({ "one\n", "tw" }, 0.01, function() return release end)
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        ios:settimeout(0.2)
        local got = {}
        local ok, err = pcall(function()
          for l in ios:lines() do got[#got + 1] = l end
        end)
        assert.is_false(ok)
        assert.matches("timed out", tostring(err))
        assert.same({ "one" }, got)
        release = true
        local r = helper.pack(ios:read("l"))
        -- the peer closes: the cut-off last line comes with the end
        assert.equal("tw", r[1] or r[4])
        ios:close()
      end)
    end)

    it("tells a second task reading the same stream that it is busy", function()
      local release = false
      local addr = trickle({ "late\n" }, 0, function() return release end)
      local ios = assert(tcp.connecta(addr))
      assert.equal("late", ios:read("l"))
      local first = loop.spawn(function() return ios:read("l") end)
      loop.step(0.05)
      local second = loop.spawn(function() return ios:read("l") end)
      local ok, err = second:join(5)
      assert.is_false(ok)
      assert.matches("another task is already reading from this stream", tostring(err))
      release = true
      local ok1, v1 = first:join(5)
      assert.is_true(ok1)
      assert.is_nil(v1) -- the peer closed
      ios:close()
    end)

    it("raises in a coroutine the loop did not start, as the general path does", function()
      local release = false
      local addr = trickle({}, 0, function() return release end)
      helper.bounded(10, function()
        local ios = assert(tcp.connecta(addr))
        local co = coroutine.create(function() return ios:read("l") end)
        local ok, err = coroutine.resume(co)
        assert.is_false(ok)
        assert.matches("did not start", tostring(err))
        release = true
        assert.is_nil(ios:read("l"))
        ios:close()
      end)
    end)
  end)

  it("works the same over TLS", function()
    S.certs()
    local _, addr = S.serve(S.server_opts(), function(ios)
      helper.echo_lines(ios)
    end)
    helper.bounded(10, function()
      local ios = assert(tls.connecta(addr, "localhost", tls.config(S.trust())))
      for i = 1, 200 do assert.equal(ios, ios:write(i .. "\n")) end
      for i = 1, 200 do assert.equal(tostring(i), ios:read("l")) end
      ios:close()
    end)
    S.cleanup()
  end)

  describe("under garbage-collector stress", function()
    local restore
    before_each(function() restore = stress_gc() end)
    after_each(function() restore() end)

    it("closes unclosed, unreachable streams when they are collected", function()
      local ended = 0
      local addr = serve(function(ios)
        ios:write(numbered(50))
        ios:read("a") -- until the client's stream goes away
        ended = ended + 1
      end)
      helper.bounded(20, function()
        for _ = 1, 60 do
          local ios = assert(tcp.connecta(addr))
          for i = 1, 50 do assert(ios:read("l") == tostring(i)) end
          -- dropped without close
        end
      end)
      -- Lua 5.1 and LuaJIT need one more cycle (no ephemerons).
      for _ = 1, 4 do collectgarbage("collect") end
      helper.wait_until(function() return ended == 60 end, 10)
      assert.equal(60, ended)
    end)

    it("keeps every line in order when finalizers read and write the same stream", function()
      local n = 6000
      local echoed = 0
      local addr = serve(function(ios)
        ios:write(numbered(n))
        -- what the client's finalizers write comes back as lines
        local l = ios:read("l")
        while l do
          if l == "gc" then echoed = echoed + 1 end
          l = ios:read("l")
        end
      end)
      -- Numbers only: a finalizer may run in the middle of any statement
      -- that allocates, so a shared table would lose entries to the test,
      -- not to the library. Each side's lines must rise; together they
      -- must be 1..n exactly once (count, sum and sum of squares).
      local count, sum, squares, from_gc, written = 0, 0, 0, 0, 0
      local last_main, last_gc, disorder = 0, 0, 0
      local function take(v, from_finalizer)
        if from_finalizer then
          if v <= last_gc then disorder = disorder + 1 end
          last_gc = v
        else
          if v <= last_main then disorder = disorder + 1 end
          last_main = v
        end
        count, sum, squares = count + 1, sum + v, squares + v * v
      end
      helper.bounded(30, function()
        local ios = assert(tcp.connecta(addr))
        assert(ios:fill(#numbered(n)))
        -- Garbage whose finalizers use the stream: they run inside the
        -- collector steps that allocations (string pushes among them)
        -- trigger.
        local function litter()
          finalized(function()
            -- A finalizer cannot wait: it reads only while lines are
            -- surely buffered, and its writes fit the socket.
            if count < n - 500 then
              take(tonumber(ios:read("l")), true)
              from_gc = from_gc + 1
            end
            if ios:write("gc\n") then written = written + 1 end
          end)
        end
        local l = ios:read("l")
        while l do
          take(tonumber(l), false)
          litter()
          -- However far the collector has got (the suite's heap is large),
          -- some finalizers surely run here too, from a full cycle.
          if count % 1000 == 0 then collectgarbage("collect") end
          if count >= n then break end
          l = ios:read("l")
        end
        collectgarbage("collect")
        ios:shutdown()
        ios:close()
      end)
      assert(from_gc > 0 and written > 0, "no finalizer used the stream")
      assert.equal(0, disorder)
      assert.equal(n, count)
      assert.equal(n * (n + 1) / 2, sum)
      assert.equal(n * (n + 1) * (2 * n + 1) / 6, squares)
      helper.wait_until(function() return echoed >= written end, 5)
      assert.equal(written, echoed)
    end)

    it("declines a stream resurrected after its finalizers ran", function()
      local addr = sender(numbered(10))
      local saved
      helper.bounded(5, function()
        local ios = assert(tcp.connecta(addr))
        assert(ios:fill(21))
        assert.equal("1", ios:read("l"))
        -- made after ios, so finalized before it in the same cycle; it
        -- keeps ios reachable again after ios's own finalizer ran
        local kept = ios
        local keeper = finalized(function() saved = kept end)
        ios, keeper = nil, nil
      end)
      for _ = 1, 4 do collectgarbage("collect") end
      assert(saved ~= nil, "the stream was not resurrected")
      -- Finalized: each call fails or raises; none may crash or answer
      -- from freed memory.
      for _, call in ipairs {
        function() return saved:read("l") end,
        function() return saved:read("L") end,
        function() return saved:write("x") end,
      } do
        local ok, v = pcall(call)
        assert(not ok or v == nil or v == "2" or v == "2\n" or v == saved)
      end
      saved = nil
      collectgarbage("collect")
    end)
  end)
end)
