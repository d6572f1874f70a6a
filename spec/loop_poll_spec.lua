-- loop.poll(fd, events [, timeout]): descriptors other libraries own.
-- The peers are LuaSocket sockets and luv pipes on this machine.
local loop = require "tls.loop"
local helper = require "helper"
local socket = require "socket"

local function pack(...) return { n = select("#", ...), ... } end

--- A connected pair of LuaSocket TCP sockets on 127.0.0.1.
local function socket_pair()
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local a = assert(socket.connect("127.0.0.1", port))
  local b = assert(srv:accept())
  srv:close()
  return a, b
end

local function result(t)
  return helper.bounded(10, function() return pack(t:join()) end)
end

describe("loop.poll", function()
  after_each(function() helper.drain() end)

  it("reports a writable socket at once, from the main thread", function()
    local a, b = socket_pair()
    assert.equal("w", loop.poll(a, "w", 5))
    a:close() b:close()
  end)

  it("times out on a socket with nothing to read", function()
    local a, b = socket_pair()
    assert.same({ n = 3, nil, "loop.poll: timed out", "timeout" }, pack(loop.poll(b, "r", 0.01)))
    assert.same({ n = 3, nil, "loop.poll: timed out", "timeout" }, pack(loop.poll(b, "r", 0)))
    a:close() b:close()
  end)

  it("is level-triggered: data already there answers at once, every time", function()
    local a, b = socket_pair()
    a:send("ping\n")
    assert.equal("r", loop.poll(b, "r", 5))
    -- Not read yet: still readable, even with a timeout of 0.
    assert.equal("r", loop.poll(b, "r", 0))
    assert.equal("r", loop.poll(b:getfd(), "r", 0))
    assert.equal("rw", loop.poll(b, "rw", 5))
    assert.equal("ping", b:receive("*l"))
    assert.equal("timeout", select(3, loop.poll(b, "r", 0)))
    a:close() b:close()
  end)

  it("wakes a task when data arrives, and other tasks run meanwhile", function()
    local a, b = socket_pair()
    local t = loop.spawn(function() return loop.poll(b, "r", 10) end)
    local other = loop.spawn(function() loop.sleep(0.01) a:send("x") return "sent" end)
    assert.same({ true, "sent" }, { result(other)[1], result(other)[2] })
    local r = result(t)
    assert.same({ true, "r" }, { r[1], r[2] })
    a:close() b:close()
  end)

  it("lets several tasks poll one descriptor at once", function()
    local a, b = socket_pair()
    local readers = {}
    for i = 1, 3 do readers[i] = loop.spawn(function() return loop.poll(b, "r", 10) end) end
    local writer = loop.spawn(function() return loop.poll(b, "w", 10) end)
    loop.step(0)
    a:send("x")
    for i = 1, 3 do assert.equal("r", result(readers[i])[2]) end
    assert.equal("w", result(writer)[2])
    -- The shared registration is gone: a later poll still works.
    assert.equal("r", loop.poll(b, "r", 5))
    a:close() b:close()
  end)

  it("sees the end of a pipe and the read side of a luv pipe", function()
    local uv = require "luv"
    local p = uv.pipe()
    assert.equal("timeout", select(3, loop.poll(p.read, "r", 0.01)))
    assert.equal("w", loop.poll(p.write, "w", 5))
    local t = loop.spawn(function() return loop.poll(p.read, "r", 10) end)
    loop.step(0)
    local h = uv.new_pipe(false)
    h:open(p.write)
    h:write("data")
    uv.run("nowait")
    assert.equal("r", result(t)[2])
    h:close()
    uv.run("nowait")
    local rd = uv.new_pipe(false)
    rd:open(p.read)
    rd:close()
    uv.run("nowait")
  end)

  it("watches a luv loop's descriptor (loop.fd() of another event loop)", function()
    local uv = require "luv"
    local p = uv.pipe()
    local got
    local rd = uv.new_pipe(false)
    rd:open(p.read)
    rd:read_start(function(_, data) got = data end)
    uv.run("nowait") -- luv now watches the pipe in its own epoll set
    local fd = uv.backend_fd()
    assert.equal("timeout", select(3, loop.poll(fd, "r", 0.01)))
    uv.fs_write(p.write, "x")
    assert.equal("r", loop.poll(fd, "r", 5))
    uv.run("nowait")
    assert.equal("x", got)
    rd:close()
    uv.fs_close(p.write)
    uv.run("nowait")
  end)

  it("answers at once for a regular file, as poll(2) does", function()
    local uv = require "luv"
    local fd = assert(uv.fs_open("/dev/null", "r", 0))
    local f = os.tmpname()
    local rfd = assert(uv.fs_open(f, "r", 0))
    assert.equal("rw", loop.poll(rfd, "rw", 5))
    uv.fs_close(rfd)
    uv.fs_close(fd)
    os.remove(f)
  end)

  it("returns nil, msg, \"closed\" for a closed socket or a descriptor that is not open", function()
    local a, b = socket_pair()
    a:close()
    local r = pack(loop.poll(a, "r", 1)) -- LuaSocket's getfd() gives -1 once closed
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal("closed", r[3])
    assert.matches("not open", r[2], 1, true)
    local uv = require "luv"
    local p = uv.pipe()
    local rd = uv.new_pipe(false) rd:open(p.read) rd:close()
    local wr = uv.new_pipe(false) wr:open(p.write) wr:close()
    uv.run("nowait")
    assert.equal("closed", select(3, loop.poll(p.read, "r", 1)))
    b:close()
  end)

  it("is cancellable and leaves no registration behind", function()
    local a, b = socket_pair()
    local t = loop.spawn(function() return loop.poll(b, "r") end)
    loop.step(0)
    t:cancel()
    assert.same({ false, "cancelled" }, { result(t)[1], result(t)[2] })
    a:send("y")
    assert.equal("r", loop.poll(b, "r", 5))
    a:close() b:close()
  end)

  describe("on one of our own UDP sockets", function()
    local udp = require "tls.udp"

    local function pair()
      local a = assert(udp.bind("127.0.0.1", 0))
      local b = assert(udp.connect(a:getsockname()))
      return a, b
    end

    it("works once the socket has waited in a recv (object and number)", function()
      local a, b = pair()
      -- The recv waits, so the socket joins the loop first.
      assert.equal("timeout", select(3, a:recv(0.01)))
      assert(b:send("x"))
      assert.equal("r", loop.poll(a, "r", 5))
      assert.equal("r", loop.poll(a:getfd(), "r", 0))
      assert.equal("x", (a:recv(0)))
      assert.equal("timeout", select(3, loop.poll(a, "r", 0)))
      a:close() b:close()
    end)

    it("lets a recv wait while a poll watches the same socket", function()
      local a, b = pair()
      local poller = loop.spawn(function() return loop.poll(a, "r", 5) end)
      local reader = loop.spawn(function() return a:recv(5) end)
      loop.step(0)
      loop.spawn(function() loop.sleep(0.02) assert(b:send("both")) end)
      assert.same({ n = 2, true, "r" }, result(poller))
      local got = result(reader)
      assert.equal(true, got[1])
      assert.equal("both", got[2])
      a:close() b:close()
    end)

    it("answers nil, msg, \"closed\" once the socket is closed", function()
      local a, b = pair()
      assert.equal("timeout", select(3, a:recv(0.01)))
      a:close()
      assert.equal("closed", select(3, loop.poll(a, "r", 0)))
      b:close()
    end)
  end)

  it("raises on misuse", function()
    local cases = {
      { { "3", "r" }, "bad argument #1 to 'loop.poll'" },
      { { nil, "r" }, "bad argument #1 to 'loop.poll'" },
      { { 1.5, "r" }, "bad argument #1 to 'loop.poll'" },
      { { 0, "x" }, "bad argument #2 to 'loop.poll' (\"r\", \"w\" or \"rw\" expected, got \"x\")" },
      { { 0, nil }, "bad argument #2 to 'loop.poll'" },
      { { 0, "r", "soon" }, "bad argument #3 to 'loop.poll' (number expected, got string)" },
      { { 0, "r", -1 }, "bad argument #3 to 'loop.poll'" },
      { { {}, "r" }, "getfd" },
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(loop.poll, c[1][1], c[1][2], c[1][3])
      assert.is_false(ok)
      assert.matches(c[2], tostring(e), 1, true)
    end
  end)
end)
