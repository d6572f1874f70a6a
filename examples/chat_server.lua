#!/usr/bin/env lua
-- chat_server: a TCP line chat. Each client has a queue of lines to send
-- (loop.queue) and its own writer task, so one slow client never holds up
-- the others; a client is dropped with task:cancel.
--
--   lua examples/chat_server.lua            runs a scripted demo and exits
--   lua examples/chat_server.lua serve [PORT]   serves until killed
--
-- The protocol: the first line is "NICK name"; every other line is said to
-- everyone; "/kick name" drops another client, "/quit" leaves. A client
-- whose queue overflows (it reads too slowly) is dropped too.

local loop = require "tls.loop"
local tcp = require "tls.tcp"

local QUEUE = 64 -- lines waiting for one client before it counts as stuck

local clients = {} -- nick -> client

local function broadcast(line, except)
  for nick, c in pairs(clients) do
    if nick ~= except then
      -- put(v, 0) never waits: a full queue means the client is stuck.
      if not c.queue:put(line, 0) then c:drop("too slow", true) end
    end
  end
end

--- A client's session: `reader` (this handler's own loop) and `writer`
-- tasks, and the queue between the rest of the chat and the writer.
local function session(ios)
  local first = ios:read("l")
  local nick = first and first:match("^NICK (%w+)$")
  if not nick or clients[nick] then
    ios:write("* bad or taken nick\n")
    return
  end
  local c = { nick = nick, queue = loop.queue(QUEUE) }
  c.writer = loop.spawn(function()
    while true do
      local line = c.queue:get() -- nil once the queue is closed and empty
      if not line then return end
      if not ios:write(line, "\n") then return end
    end
  end)
  --- Takes the client out of the chat. `now`: also stop sending what is
  -- still queued for it (otherwise the writer sends it, then ends).
  function c:drop(why, now)
    if clients[self.nick] ~= self then return end
    clients[self.nick] = nil
    self.queue:close()
    -- A cancelled task ends at its current wait: whatever it was doing (a
    -- read, a write) raises "cancelled: <why>" inside it.
    if now then self.writer:cancel(why) end
    self.reader:cancel(why)
    broadcast(("* %s left (%s)"):format(self.nick, why))
  end
  c.reader = loop.spawn(function()
    while true do
      local line = ios:read("l")
      if not line then return c:drop("disconnected") end
      local target = line:match("^/kick (%w+)$")
      if line == "/quit" then
        c.queue:put("* bye", 0)
        return c:drop("quit")
      elseif target then
        if clients[target] then clients[target]:drop("kicked by " .. nick, true) end
      else
        broadcast(("<%s> %s"):format(nick, line), nick)
      end
    end
  end)
  clients[nick] = c
  c.queue:put("* welcome " .. nick)
  broadcast("* " .. nick .. " joined", nick)
  -- The handler waits for the reader; a cancelled reader ends it too.
  c.reader:join()
  -- Let the writer send what is queued ("* bye"), then close.
  c.writer:join(5)
  ios:close()
end

local function serve(port)
  return tcp.listen("127.0.0.1", port, session)
end

if arg[1] == "serve" then
  local srv = assert(serve(tonumber(arg[2]) or 0))
  print("chat on port " .. srv:address().port)
  loop.run()
  return
end

-- The demo: three scripted clients talk to a server in this process.
local srv = assert(serve(0))
local addr = "127.0.0.1:" .. srv:address().port
print("chat server on " .. addr)

--- A scripted client: its received lines go to `inbox`.
local function client(nick)
  local ios = assert(tcp.connecta(addr))
  local inbox = loop.queue()
  ios:write("NICK ", nick, "\n")
  local reader = loop.spawn(function()
    -- A while loop, not `for line in ios:lines()`: Lua 5.1 cannot wait
    -- inside a for iterator.
    while true do
      local line = ios:read("l")
      if not line then break end
      inbox:put(line)
    end
    inbox:close()
  end)
  local c = { ios = ios, inbox = inbox, reader = reader }
  function c:say(line) assert(self.ios:write(line, "\n")) end
  --- Waits for a line matching `pattern` (plain); fails after 5 s.
  function c:expect(text)
    while true do
      local line, err = self.inbox:get(5)
      if not line then error(nick .. " did not get " .. text .. ": " .. err) end
      print(("%s got: %s"):format(nick, line))
      if line == text then return end
    end
  end
  return c
end

local ok, err = pcall(function()
  local alice, bob, carol = client("alice"), client("bob"), client("carol")
  alice:expect("* welcome alice")
  bob:expect("* welcome bob")
  carol:expect("* welcome carol")
  alice:expect("* carol joined")
  alice:say("hello, all")
  bob:expect("<alice> hello, all")
  carol:expect("<alice> hello, all")
  alice:say("/kick carol")
  bob:expect("* carol left (kicked by alice)")
  -- The server cancelled carol's tasks and closed her connection.
  assert(carol.inbox:get(5) == nil, "carol should have been disconnected")
  print("carol was disconnected")
  bob:say("/quit")
  bob:expect("* bye")
  alice:expect("* bob left (quit)")
  alice.ios:close()
end)
srv:close()
if not ok then
  print("demo failed: " .. tostring(err))
  os.exit(1)
end
print("chat demo done")
