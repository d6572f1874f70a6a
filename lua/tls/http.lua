-- tls.http: HTTP/1.1 message framing over any stream with io-style read
-- and write (a tls or tcp `ios`, or a test double).
--
-- Client side:
--   http.request_head(method, u, headers)      -> request text
--   http.write_request(ios, method, u, headers) -> ios | nil, msg, code
--   http.read_response(ios [, method])         -> resp | nil, msg, code
--   http.body_reader(ios, resp [, method])     -> next_chunk function
--   http.read_body(ios, resp [, method])       -> body | nil, msg, code
-- Server side (small, for tests and the fetch demo):
--   http.read_request(ios)                     -> req | nil, msg, code
--   http.response_head(status, headers [, reason]) -> response head text
--   http.chunk(data), http.last_chunk([trailers])  -> chunked framing
-- Helpers:
--   http.headers()          an empty case-insensitive header table
--   http.body_kind(resp [, method]) -> "none" | "length", n | "chunked" | "close"
--   http.reason(status)     standard reason phrase
--
-- The stream must offer read(fmt) for "l" (a line without "\n") and a byte
-- count (up to that many bytes; fewer only at end of stream), returning nil
-- at a clean end and nil, msg, code on failure, as tls.tcp and tls streams
-- do. Writing needs write(...) and flush().
--
-- Failures are returned as nil, msg, code. Codes from the stream pass
-- through unchanged ("timeout", "reset", "truncated"...); this module adds
-- "protocol" (the peer broke HTTP/1.1 framing), "closed" (the connection
-- ended before a response began) and "truncated" (the body ended early).

local find, format, lower, match, sub, gsub = string.find, string.format, string.lower,
  string.match, string.sub, string.gsub
local concat = table.concat

local url = require "tls.url"

local http = {}

-- Limits against a peer that never stops sending a head.
http.MAX_HEAD_LINES = 256
http.MAX_LINE = 65536
-- Size of the reads that deliver a body.
http.CHUNK = 65536

local REASONS = {
  [100] = "Continue", [101] = "Switching Protocols",
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [206] = "Partial Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [304] = "Not Modified", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [413] = "Content Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

function http.reason(status)
  return REASONS[status] or ""
end

local function protocol(msg)
  return nil, msg, "protocol"
end

---------------------------------------------------------------------------
-- Headers

-- A header table maps lowercased names to values; any spelling of a name
-- finds it (h["Content-Length"] == h["content-length"]). Repeated fields
-- are folded into one value joined by ", " (RFC 9110 section 5.3); the
-- fields as received, in order, are in the array h.list of {name, value}
-- (use it for Set-Cookie, which must not be folded).
local Headers = {}

function Headers.__index(t, k)
  if type(k) == "string" then
    local v = rawget(t, lower(k))
    if v ~= nil then
      return v
    end
  end
  return Headers[k]
end

-- Adds a field, folding it into an earlier one of the same name.
function Headers:add(name, value)
  local key = lower(name)
  local old = rawget(self, key)
  if old == nil then
    rawset(self, key, value)
  else
    rawset(self, key, old .. ", " .. value)
  end
  local list = rawget(self, "list")
  list[#list + 1] = { name, value }
end

-- All values of a field, unfolded, in order of arrival.
function Headers:all(name)
  local key, out = lower(name), {}
  for _, f in ipairs(rawget(self, "list")) do
    if lower(f[1]) == key then
      out[#out + 1] = f[2]
    end
  end
  return out
end

function http.headers()
  return setmetatable({ list = {} }, Headers)
end

-- A token (RFC 9110 section 5.6.2).
local TOKEN = "^[%w!#%$%%&'%*%+%-%.%^_`|~]+$"

local function strip_cr(line)
  if sub(line, -1) == "\r" then
    return sub(line, 1, -2)
  end
  return line
end

-- Reads one line without its "\r\n" (or bare "\n").
local function read_line(ios, what)
  local line, msg, code = ios:read("l")
  if line == nil then
    if msg then
      return nil, msg, code
    end
    return nil, "connection closed in the middle of the " .. what, "truncated"
  end
  if #line > http.MAX_LINE then
    return protocol(format("%s line longer than %d bytes", what, http.MAX_LINE))
  end
  return strip_cr(line)
end

-- Reads header fields up to and including the empty line. Returns the
-- header table and the raw lines (each without "\r\n").
local function read_fields(ios, what, raw)
  local h = http.headers()
  local last_name, last_value
  local count = 0
  while true do
    local line, msg, code = read_line(ios, what)
    if not line then
      return nil, msg, code
    end
    raw[#raw + 1] = line
    if line == "" then
      break
    end
    count = count + 1
    if count > http.MAX_HEAD_LINES then
      return protocol(format("more than %d %s lines", http.MAX_HEAD_LINES, what))
    end
    local first = sub(line, 1, 1)
    if first == " " or first == "\t" then
      -- obs-fold (RFC 9112 section 5.2): a continuation of the last field.
      if not last_name then
        return protocol(what .. " starts with a continuation line")
      end
      last_value = last_value .. " " .. match(line, "^[ \t]*(.-)[ \t]*$")
      local list = h.list
      list[#list][2] = last_value
      rawset(h, lower(last_name), concat(h:all(last_name), ", "))
    else
      local name, value = match(line, "^([^:]*):[ \t]*(.-)[ \t]*$")
      if not name then
        return protocol(format("malformed %s line %q", what, line))
      end
      if not find(name, TOKEN) then
        return protocol(format("invalid field name %q in %s", name, what))
      end
      h:add(name, value)
      last_name, last_value = name, value
    end
  end
  return h
end

---------------------------------------------------------------------------
-- Requests (client side)

local function check_field(name, value)
  if type(name) ~= "string" or not find(name, TOKEN) then
    error("invalid header name " .. format("%q", tostring(name)), 3)
  end
  value = tostring(value)
  if find(value, "[\r\n%z]") then
    error("header " .. name .. " contains CR, LF or NUL", 3)
  end
  return value
end

-- Header fields as an array of {name, value}: an array is taken in its
-- order, a map sorted by name (so the output is deterministic).
local function field_list(headers)
  local fields = {}
  if not headers then
    return fields
  end
  if headers[1] ~= nil or next(headers) == nil then
    for _, f in ipairs(headers) do
      fields[#fields + 1] = { f[1], f[2] }
    end
    return fields
  end
  local names = {}
  for k in pairs(headers) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    fields[#fields + 1] = { k, headers[k] }
  end
  return fields
end

-- The request head for method and the parsed URL u. headers is an array
-- of {name, value} (sent in that order) or a map (sent sorted by name);
-- Host is added first unless headers has one.
function http.request_head(method, u, headers)
  if type(method) ~= "string" or not find(method, TOKEN) then
    error("bad argument #1 to 'http.request_head' (method token expected)", 2)
  end
  if type(u) ~= "table" or type(u.host) ~= "string" then
    error("bad argument #2 to 'http.request_head' (parsed URL expected)", 2)
  end
  local fields = field_list(headers)
  local has_host = false
  for _, f in ipairs(fields) do
    if type(f[1]) == "string" and lower(f[1]) == "host" then
      has_host = true
    end
  end
  local out = { method .. " " .. url.target(u) .. " HTTP/1.1\r\n" }
  if not has_host then
    out[#out + 1] = "Host: " .. url.authority(u, true) .. "\r\n"
  end
  for _, f in ipairs(fields) do
    local value = check_field(f[1], f[2])
    out[#out + 1] = f[1] .. ": " .. value .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  return concat(out)
end

function http.write_request(ios, method, u, headers)
  local head = http.request_head(method, u, headers)
  local ok, msg, code = ios:write(head)
  if not ok then
    return nil, msg, code
  end
  ok, msg, code = ios:flush()
  if not ok then
    return nil, msg, code
  end
  return ios
end

---------------------------------------------------------------------------
-- Responses (client side)

-- Reads a response head, skipping interim 1xx responses (but not 101).
-- resp = { version = "1.1", status = 200, reason = "OK", headers = h,
--          raw = "HTTP/1.1 200 OK\r\n...\r\n\r\n" (every head read, 1xx too) }
function http.read_response(ios, method)
  local raw = {}
  while true do
    local line, msg, code = ios:read("l")
    if line == nil then
      if msg then
        return nil, msg, code
      end
      if #raw == 0 then
        return nil, "connection closed before a response", "closed"
      end
      return nil, "connection closed in the middle of the response head", "truncated"
    end
    line = strip_cr(line)
    if #line > http.MAX_LINE then
      return protocol("status line too long")
    end
    local major, minor, status, rest = match(line, "^HTTP/(%d)%.(%d) (%d%d%d)(.*)$")
    if not major then
      return protocol(format("malformed status line %q", sub(line, 1, 200)))
    end
    if rest ~= "" and sub(rest, 1, 1) ~= " " then
      return protocol(format("malformed status line %q", sub(line, 1, 200)))
    end
    if major ~= "1" then
      return protocol("unsupported HTTP version " .. major .. "." .. minor)
    end
    raw[#raw + 1] = line
    local headers, hmsg, hcode = read_fields(ios, "header", raw)
    if not headers then
      return nil, hmsg, hcode
    end
    status = tonumber(status)
    if status >= 200 or status == 101 or status < 100 then
      local resp = {
        version = major .. "." .. minor,
        status = status,
        reason = sub(rest, 2),
        headers = headers,
        raw = concat(raw, "\r\n") .. "\r\n",
        method = method,
      }
      return resp
    end
    -- 1xx interim response: its head is kept in raw, then the next one.
  end
end

-- How the body of resp is delimited (RFC 9112 section 6.3).
function http.body_kind(resp, method)
  local status = resp.status
  method = method or resp.method
  if method == "HEAD" or (status >= 100 and status < 200) or status == 204 or status == 304 then
    return "none"
  end
  if method == "CONNECT" and status >= 200 and status < 300 then
    return "none"
  end
  local te = resp.headers["transfer-encoding"]
  if te then
    local last = lower(match(te, "([^,]*)$") or "")
    last = match(last, "^[ \t]*(.-)[ \t]*$")
    if last == "chunked" then
      return "chunked"
    end
    return "close"
  end
  local cl = resp.headers["content-length"]
  if cl then
    local n
    for v in (cl .. ","):gmatch("[ \t]*([^,]-)[ \t]*,") do
      if not find(v, "^%d+$") or #v > 15 then
        return protocol(format("invalid Content-Length %q", cl))
      end
      local this = tonumber(v)
      if n and n ~= this then
        return protocol(format("conflicting Content-Length %q", cl))
      end
      n = this
    end
    if not n then
      return protocol(format("invalid Content-Length %q", cl))
    end
    return "length", n
  end
  return "close"
end

-- Returns a function that gives the body piece by piece: a non-empty
-- string, then nil at the end, or nil, msg, code on failure (after which
-- it keeps failing). Chunked trailers end up in resp.trailers, and the
-- trailer lines in resp.raw_trailers.
function http.body_reader(ios, resp, method)
  local kind, arg, code0 = http.body_kind(resp, method)
  local failed
  local function fail(msg, code)
    failed = { msg, code }
    return nil, msg, code
  end
  local done = false
  local CHUNK = http.CHUNK

  if kind == nil then
    local msg = arg
    return function()
      return nil, msg, code0
    end
  end

  if kind == "none" then
    return function()
      return nil
    end
  end

  local got = 0

  if kind == "length" then
    local total = arg
    return function()
      if failed then
        return nil, failed[1], failed[2]
      end
      if got >= total then
        return nil
      end
      local want = total - got
      if want > CHUNK then
        want = CHUNK
      end
      local s, msg, code = ios:read(want)
      if s == nil or #s == 0 then
        if msg then
          return fail(msg, code)
        end
        return fail(format("body truncated after %d of %d bytes", got, total), "truncated")
      end
      -- A short read happens only at the end of the stream; the next call
      -- then reports the truncation.
      got = got + #s
      return s
    end
  end

  if kind == "close" then
    return function()
      if failed then
        return nil, failed[1], failed[2]
      end
      if done then
        return nil
      end
      local s, msg, code = ios:read(CHUNK)
      if s == nil or #s == 0 then
        if msg then
          return fail(msg, code)
        end
        done = true
        return nil
      end
      got = got + #s
      return s
    end
  end

  -- chunked (RFC 9112 section 7.1)
  local left = 0 -- bytes left in the current chunk
  return function()
    if failed then
      return nil, failed[1], failed[2]
    end
    while not done do
      if left > 0 then
        local want = left > CHUNK and CHUNK or left
        local s, msg, code = ios:read(want)
        if s == nil or #s == 0 then
          if msg then
            return fail(msg, code)
          end
          return fail(format("chunked body truncated inside a chunk after %d bytes", got), "truncated")
        end
        left = left - #s
        got = got + #s
        if left == 0 then
          local crlf, lmsg, lcode = read_line(ios, "chunk")
          if not crlf then
            return fail(lmsg, lcode)
          end
          if crlf ~= "" then
            return fail("chunk data longer than its size", "protocol")
          end
        end
        return s
      end
      local line, msg, code = read_line(ios, "chunk")
      if not line then
        return fail(msg, code)
      end
      -- chunk-size [ chunk-ext ]; extensions are ignored.
      local hex, ext = match(line, "^(%x+)(.*)$")
      if not hex or not (find(ext, "^[ \t]*$") or find(ext, "^[ \t]*;")) then
        return fail(format("malformed chunk size line %q", sub(line, 1, 100)), "protocol")
      end
      hex = gsub(hex, "^0+(.)", "%1")
      if #hex > 15 then
        return fail("chunk size too large", "protocol")
      end
      left = tonumber(hex, 16)
      if left == 0 then
        local raw = {}
        local trailers, tmsg, tcode = read_fields(ios, "trailer", raw)
        if not trailers then
          return fail(tmsg, tcode)
        end
        resp.trailers = trailers
        raw[#raw] = nil -- the empty line
        resp.raw_trailers = raw
        done = true
      end
    end
    return nil
  end
end

-- The whole body as one string.
function http.read_body(ios, resp, method)
  local next_chunk = http.body_reader(ios, resp, method)
  local parts = {}
  while true do
    local s, msg, code = next_chunk()
    if s == nil then
      if msg then
        return nil, msg, code
      end
      return concat(parts)
    end
    parts[#parts + 1] = s
  end
end

---------------------------------------------------------------------------
-- Server side

-- Reads a request head: req = { method, target, version, headers, raw }.
-- Bodies are not supported (a request with one is refused).
function http.read_request(ios)
  local line, msg, code = ios:read("l")
  if line == nil then
    if msg then
      return nil, msg, code
    end
    return nil, "connection closed before a request", "closed"
  end
  line = strip_cr(line)
  if #line > http.MAX_LINE then
    return protocol("request line too long")
  end
  local method, target, major, minor = match(line, "^(%S+) (%S+) HTTP/(%d)%.(%d)$")
  if not method or not find(method, TOKEN) then
    return protocol(format("malformed request line %q", sub(line, 1, 200)))
  end
  local raw = { line }
  local headers, hmsg, hcode = read_fields(ios, "header", raw)
  if not headers then
    return nil, hmsg, hcode
  end
  if headers["transfer-encoding"] or (headers["content-length"] and headers["content-length"] ~= "0") then
    return protocol("request bodies are not supported")
  end
  return {
    method = method,
    target = target,
    version = major .. "." .. minor,
    headers = headers,
    raw = concat(raw, "\r\n") .. "\r\n",
  }
end

-- "HTTP/1.1 <status> <reason>\r\n<fields>\r\n"; headers as for
-- request_head.
function http.response_head(status, headers, reason)
  local out = { format("HTTP/1.1 %d %s\r\n", status, reason or http.reason(status)) }
  for _, f in ipairs(field_list(headers)) do
    out[#out + 1] = f[1] .. ": " .. check_field(f[1], f[2]) .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  return concat(out)
end

-- One chunk of a chunked body (empty data gives "", not the last chunk).
function http.chunk(data)
  if #data == 0 then
    return ""
  end
  return format("%x\r\n", #data) .. data .. "\r\n"
end

-- The last chunk, with optional trailers (an array of {name, value}).
function http.last_chunk(trailers)
  local out = { "0\r\n" }
  for _, f in ipairs(trailers or {}) do
    out[#out + 1] = f[1] .. ": " .. check_field(f[1], f[2]) .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  return concat(out)
end

return http
