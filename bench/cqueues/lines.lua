-- cqueues half of the buffered line-reading benchmark.
--
-- Mode "filled" (the default): a writer coroutine sends LINES short lines
-- ("line 123456\n") through a socket pair and shuts its side down. The
-- reader first pulls every byte into the socket object's own input buffer
-- with socket:fill(total), checks with socket:pending() that all of it is
-- buffered, and only then starts the clock: the timed loop is LINES calls of
-- read("*l"), none of which needs a system call.
--
-- Mode "streamed" does what bench/lines.lua does with our library, which
-- has no fill(): a server coroutine on a loopback TCP connection writes all
-- lines, the reader sleeps 0.5 s and then times the same loop. Most lines
-- still come from the buffer, but the loop also pays for the refills (and
-- for the writer, which runs whenever the reader waits). Comparing our
-- figure with this mode is like with like.
--
-- Either way a final read must give nil (end of stream).
--
-- usage: lua5.4 bench/cqueues/lines.lua [lines [filled|streamed]]
-- prints: cqueues lines_per_sec=N mode=M lines=L bytes=B seconds=S

local cqueues = require "cqueues"
local socket = require "cqueues.socket"

local LINES = math.tointeger(tonumber(arg[1] or "")) or 1000000
local MODE = arg[2] or "filled"
if MODE ~= "filled" and MODE ~= "streamed" then
  io.stderr:write("usage: lines.lua [lines [filled|streamed]]\n")
  os.exit(2)
end

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local line_text, slices, total = dofile(here .. "/../lines_payload.lua")(LINES)

local cq = cqueues.new()

local function write_all(con)
  con:setmode("b", "bf")
  for _, s in ipairs(slices) do
    assert(con:write(s))
  end
  assert(con:flush())
  con:shutdown("w")
end

-- The timed part, the same in both modes.
local function read_lines(con)
  local read = con.read
  local bad, count = 0, 0
  local t0 = cqueues.monotime()
  for i = 1, LINES do
    local l = read(con, "*l")
    -- the length of every line, the text of the first and the last
    if l == nil or #l ~= 11 or ((i == 1 or i == LINES) and l .. "\n" ~= line_text(i)) then
      bad = bad + 1
    end
    count = i
  end
  local elapsed = cqueues.monotime() - t0
  assert(con:read("*l") == nil, "expected end of stream after the last line")
  return elapsed, bad, count
end

local elapsed, bad, count

if MODE == "filled" then
  local a, b = assert(socket.pair())
  cq:wrap(function()
    write_all(a)
  end)
  cq:wrap(function()
    b:setmode("b", "bf")
    -- Pull everything into b's input buffer before timing.
    assert(b:fill(total))
    local pending = b:pending()
    assert(pending == total, ("only %d of %d bytes buffered"):format(pending, total))
    elapsed, bad, count = read_lines(b)
    b:close()
    a:close()
  end)
else
  local srv = assert(socket.listen { host = "127.0.0.1", port = 0, reuseaddr = true })
  assert(srv:listen())
  local _, host, port = srv:localname()
  cq:wrap(function()
    local con = assert(srv:accept())
    srv:close()
    write_all(con)
    con:close()
  end)
  cq:wrap(function()
    local con = assert(socket.connect { host = host, port = port })
    assert(con:connect())
    con:setmode("b", "bf")
    cqueues.sleep(0.5)
    elapsed, bad, count = read_lines(con)
    con:close()
  end)
end

assert(cq:loop())

if bad > 0 or count ~= LINES then
  io.stderr:write(("lines: %d bad lines, %d of %d read\n"):format(bad, count, LINES))
  os.exit(1)
end

print(string.format("cqueues lines_per_sec=%.0f mode=%s lines=%d bytes=%d seconds=%.3f",
  LINES / elapsed, MODE, LINES, total, elapsed))
