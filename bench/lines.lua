-- Our half of the buffered line-reading benchmark (see
-- bench/cqueues/lines.lua for the other half; bench/run.sh runs both).
--
-- A server task (tcp.listen on 127.0.0.1) writes LINES short lines
-- ("line 123456\n") to the one client that connects, then closes. The
-- client task connects and then, in mode "filled" (the default), pulls the
-- whole stream into its buffer with ios:fill(bytes) before the clock
-- starts, like cqueues' socket:fill(); in mode "streamed" it only sleeps
-- 0.5 s, so the timed loop also includes the refills from the socket and
-- the writer's turns. It then times LINES calls of ios:read("l"); a final
-- read must give nil. bench/run.sh compares each mode with cqueues' same
-- mode.
--
-- usage: lua5.4 bench/lines.lua [lines] [filled|streamed]
-- prints: ours lines_per_sec=N mode=M lines=L bytes=B seconds=S

local loop = require "tls.loop"
local tcp = require "tls.tcp"

local LINES = math.tointeger(tonumber(arg[1] or "")) or 1000000
local MODE = arg[2] or "filled"
assert(MODE == "filled" or MODE == "streamed", "mode must be filled or streamed")

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local line_text, slices, total = dofile(here .. "/lines_payload.lua")(LINES)

local srv = assert(tcp.listen("127.0.0.1", 0, function(ios)
  for _, s in ipairs(slices) do
    assert(ios:write(s))
  end
  assert(ios:flush())
  ios:close()
end))
local addr = srv:address()

local reader = loop.spawn(function()
  local ios = assert(tcp.connecta(addr))
  if MODE == "filled" then
    assert(ios:fill(total) == total, "fill did not buffer the whole stream")
  else
    loop.sleep(0.5)
  end
  local read = ios.read
  local bad, count = 0, 0
  local t0 = loop.now()
  for i = 1, LINES do
    local l = read(ios, "l")
    -- the length of every line, the text of the first and the last
    if l == nil or #l ~= 11 or ((i == 1 or i == LINES) and l .. "\n" ~= line_text(i)) then
      bad = bad + 1
    end
    count = i
  end
  local elapsed = loop.now() - t0
  local rest, msg = ios:read("l")
  assert(rest == nil and msg == nil, "expected a clean end of stream after the last line")
  ios:close()
  return elapsed, bad, count
end)

local ok, elapsed, bad, count = reader:join()
srv:close()
if not ok then
  io.stderr:write("lines: reader raised: ", tostring(elapsed), "\n")
  os.exit(1)
end
if bad > 0 or count ~= LINES then
  io.stderr:write(("lines: %d bad lines, %d of %d read\n"):format(bad, count, LINES))
  os.exit(1)
end

print(string.format("ours lines_per_sec=%.0f mode=%s lines=%d bytes=%d seconds=%.3f",
  LINES / elapsed, MODE, LINES, total, elapsed))
