-- A server out of file descriptors: each failed accept is counted in
-- server:stats().accept_errors, and stderr gets one line when the spell
-- starts (then a summary with the count at most every 10 s) instead of ten a second.
-- Runs in a child interpreter whose descriptor limit is lowered with
-- prlimit (util-linux), so the suite's own descriptors are untouched.
local helper = require "helper"

describe("server accept failures (EMFILE)", function()
  it("are counted in server:stats() and reported on stderr without flooding it", function()
    local ok, code, out = helper.lua([[
      local loop = require "tls.loop"
      local tcp = require "tls.tcp"
      local srv = assert(tcp.listen("127.0.0.1", 0, function(ios) ios:read("a") end))
      assert(srv:stats().accept_errors == 0)
      local addr = "127.0.0.1:" .. srv:address().port
      -- This interpreter's pid is the shell's parent.
      local p = io.popen("echo $PPID"); local pid = p:read("*l"); p:close()
      local clients = {}
      assert(os.execute("prlimit --nofile=48:48 --pid " .. pid))
      -- Each accepted connection costs two descriptors here (both ends):
      -- connect until we are out of them, with accepts failing meanwhile.
      for _ = 1, 100 do
        local c = tcp.connecta(addr)
        if not c then break end
        clients[#clients + 1] = c
      end
      loop.sleep(1.5) -- the accept loop retries every 100 ms meanwhile
      local during = srv:stats().accept_errors
      for i = 1, 6 do clients[i]:close() end
      loop.sleep(0.5)
      print("clients", #clients, "errors", during, "after", srv:stats().accept_errors)
      for _, c in ipairs(clients) do c:close() end
      srv:close()
      loop.run()
    ]], 30)
    assert(ok, "exit code " .. tostring(code) .. ": " .. out)
    local during = tonumber(out:match("errors%s+(%d+)"))
    assert(during and during >= 3, out)
    assert(tonumber(out:match("after%s+(%d+)")) >= during, out)
    local lines = 0
    for line in out:gmatch("[^\n]+") do
      if line:find("^tls: accept on") then lines = lines + 1 end
    end
    -- one line: the run lasts far less than the 10 s between summaries,
    -- however often the server ran out and recovered meanwhile
    assert.equal(1, lines, out)
    assert.matches("Too many open files", out, 1, true)
  end)
end)
