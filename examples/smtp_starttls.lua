#!/usr/bin/env lua5.4
-- smtp_starttls: sends one mail over SMTP, upgrading the connection with
-- STARTTLS (RFC 3207) before anything private is said.
--
--   lua5.4 examples/smtp_starttls.lua                       (demo, offline)
--   lua5.4 examples/smtp_starttls.lua ADDR NAME [CAFILE]
--
-- Without arguments it starts its own small STARTTLS SMTP server on a free
-- port of 127.0.0.1 (certificate examples/certs/localhost.pem), sends it a
-- mail and prints what the server received. With ADDR ("127.0.0.1:2525")
-- it talks to that server instead, verifying its certificate for NAME
-- against CAFILE (default: the bundled Mozilla roots). Exit status 0 when
-- the mail was accepted over TLS.

local tls = require "tls"
local tcp = require "tls.tcp"
local loop = require "tls.loop"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

--- Reads one reply, all its lines ("250-..." continues, "250 ..." ends).
local function reply(ios)
  local text = {}
  while true do
    local line, err = ios:read("l")
    if not line then error("SMTP server went away: " .. tostring(err), 0) end
    line = line:gsub("\r$", "")
    text[#text + 1] = line
    if line:sub(4, 4) ~= "-" then return tonumber(line:sub(1, 3)), table.concat(text, "\n") end
  end
end

--- Sends `command` (unless nil) and checks the reply code.
local function say(ios, command, want)
  if command then assert(ios:write(command, "\r\n")) end
  local code, text = reply(ios)
  if code ~= want then error(("%s: expected %d, got %s"):format(command or "greeting", want, text), 0) end
  return text
end

--- Sends one mail to the server at `addr`, after STARTTLS verified as `name`.
local function send_mail(addr, name, tls_opts, from, to, body)
  local ios = assert(tcp.connecta(addr, { timeout = 10 }))
  ios:settimeout(10)
  say(ios, nil, 220)
  local features = say(ios, "EHLO client.example", 250)
  if not features:find("STARTTLS", 1, true) then error("the server does not offer STARTTLS", 0) end
  say(ios, "STARTTLS", 220)
  -- Same ios from here on, now TLS: certificate and name checked.
  assert(ios:starttls(name, tls_opts))
  local info = ios:info()
  print(("client: TLS up: %s, %s, server %s"):format(info.version, info.cipher, info.peer.subject))
  say(ios, "EHLO client.example", 250) -- RFC 3207: start over after TLS
  say(ios, ("MAIL FROM:<%s>"):format(from), 250)
  say(ios, ("RCPT TO:<%s>"):format(to), 250)
  say(ios, "DATA", 354)
  -- Dot-stuffing: a line that starts with "." gets another one.
  local data = body:gsub("\r?\n", "\r\n"):gsub("^%.", ".."):gsub("\n%.", "\n..")
  assert(ios:write(data, data:sub(-2) == "\r\n" and "" or "\r\n"))
  say(ios, ".", 250)
  say(ios, "QUIT", 221)
  ios:close()
end

--- The demo's server: just enough SMTP to take one mail over STARTTLS.
local function smtp_server(cert, key, received)
  return assert(tcp.listen("127.0.0.1", 0, function(ios)
    ios:settimeout(10)
    ios:write("220 localhost ESMTP demo\r\n")
    local secure, mail = false, {}
    while true do
      local line = ios:read("l")
      if not line then return end
      local verb = (line:match("^(%a+)") or ""):upper()
      if verb == "EHLO" then
        ios:write("250-localhost\r\n", secure and "" or "250-STARTTLS\r\n", "250 8BITMIME\r\n")
      elseif verb == "STARTTLS" and not secure then
        ios:write("220 go ahead\r\n")
        if not ios:starttls { cert = cert, key = key } then return end
        secure = true
      elseif not secure then
        ios:write("530 must issue STARTTLS first\r\n")
      elseif verb == "MAIL" or verb == "RCPT" then
        mail[#mail + 1] = line:gsub("\r$", "")
        ios:write("250 ok\r\n")
      elseif verb == "DATA" then
        ios:write("354 end with <CRLF>.<CRLF>\r\n")
        local lines = {}
        while true do -- (not ios:lines(): Lua 5.1 cannot wait inside a for iterator)
          local l = ios:read("l")
          if not l then return end
          l = l:gsub("\r$", "")
          if l == "." then break end
          lines[#lines + 1] = l:gsub("^%.", "")
        end
        mail[#mail + 1] = table.concat(lines, "\n")
        received[#received + 1] = table.concat(mail, "\n")
        ios:write("250 queued\r\n")
      elseif verb == "QUIT" then
        ios:write("221 bye\r\n")
        return
      else
        ios:write("502 unknown command\r\n")
      end
    end
  end))
end

local body = "Subject: hello over STARTTLS\n\nThis line was sent encrypted.\n.A line that starts with a dot.\n"
if arg[1] then
  local ok, err = pcall(send_mail, arg[1], arg[2] or "localhost",
    { cafile = arg[3] }, "demo@client.example", "postmaster@localhost", body)
  if not ok then
    print("client: failed: " .. tostring(err))
    os.exit(1)
  end
  print("client: mail accepted")
  os.exit(0)
end

local received = {}
local server = smtp_server(here .. "/certs/localhost.pem", here .. "/certs/localhost.key", received)
local addr = "127.0.0.1:" .. server:address().port
print("server: SMTP on " .. addr)
local task = loop.spawn(send_mail, addr, "localhost", { cafile = here .. "/certs/ca.pem" },
  "demo@client.example", "postmaster@localhost", body)
local ok, err = task:join()
server:close()
if not ok then
  print("client: failed: " .. tostring(err))
  os.exit(1)
end
print("client: mail accepted")
print("server received:\n" .. (received[1] or "(nothing)"))
os.exit(received[1] and 0 or 1)
