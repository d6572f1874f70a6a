#!/usr/bin/env lua
-- luv_embed: our loop running inside luv's (libuv) event loop.
--
--   lua examples/luv_embed.lua
--
-- A program already built around another event loop does not call
-- loop.run(). It lets the other loop wait, and gives ours a turn whenever
-- ours has work:
--
--   * loop.fd() is a descriptor that becomes readable when our loop has
--     I/O to handle: a luv poll handle watches it;
--   * loop.timeout() says when our next timer is due (0 when tasks are
--     ready to run, nil when only I/O can wake us): a luv timer is set
--     for it after every turn;
--   * loop.step(0) is one turn that never waits.
--
-- The demo: a luv timer ticks every 50 ms while, on our loop, a TCP echo
-- server and a client task exchange three lines with pauses between them.
-- When the client is done, everything is closed and uv.run() returns.
-- Needs lua-luv (Debian: apt install lua-luv).

local uv = require "luv"
local loop = require "tls.loop"
local tcp = require "tls.tcp"

local poll = uv.new_poll(loop.fd())
local timer = uv.new_timer()
local ticker = uv.new_timer() -- stands for the rest of a luv program
local finished = false

--- One turn of our loop, then re-arm the timer for our next deadline.
local function turn()
  loop.step(0)
  timer:stop()
  if finished then
    -- luv's loop ends once no handle is left open.
    poll:close()
    timer:close()
    ticker:close()
    return
  end
  local seconds = loop.timeout()
  if seconds then
    timer:start(math.ceil(seconds * 1000), 0, turn)
  end
end
poll:start("r", turn)

local ticks = 0
ticker:start(50, 50, function() ticks = ticks + 1 end)

-- Our side: an upper-casing echo server and a client, as tasks.
local server = assert(tcp.listen("127.0.0.1", 0, function(ios)
  -- A while loop, not `for line in ios:lines()`: Lua 5.1 cannot yield
  -- inside a for iterator, and this runs on every Lua version.
  local line = ios:read("l")
  while line do
    ios:write(line:upper(), "\n")
    line = ios:read("l")
  end
end))

loop.spawn(function()
  local ios = assert(tcp.connecta(server:address()))
  for i = 1, 3 do
    ios:write("line " .. i, "\n")
    print("reply: " .. ios:read("l"))
    loop.sleep(0.1) -- our timer: luv wakes us through loop.timeout()
  end
  ios:close()
  server:close()
  finished = true -- turn() closes the luv handles after this step
end)

turn() -- the new task is ready: give it its first turn
uv.run()
print(("luv ticked %d times while our tasks ran"):format(ticks))
