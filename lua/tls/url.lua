-- tls.url: parse, build, resolve and percent-encode URLs (RFC 3986).
--
-- url.parse(s)            absolute URL -> table, or nil, msg, "url"
-- url.split(s)            any URI reference -> raw components (no checks)
-- url.default_port(sch)   80, 443, ... or nil
-- url.decode(s [, comp])  percent-decoding; comp "query" also maps "+" to " "
-- url.encode(s [, comp])  percent-encoding for comp "component" (default),
--                         "path", "segment", "query", "userinfo"
-- url.resolve(base, ref)  RFC 3986 section 5.2 reference resolution -> string
-- url.target(t)           request target "path?query"
-- url.authority(t [, for_host_header])  "host:port", IPv6 in brackets
-- url.build(t)            the whole URL text
--
-- A parsed URL is a table with these fields (absent ones are nil):
--   scheme    lowercased ("https")
--   userinfo  as written ("user:p%40ss")
--   user, password  percent-decoded
--   host      lowercased; IPv6 literals without brackets, a zone id
--             decoded ("fe80::1%eth0")
--   port      number, nil when absent or empty ("http://h:/")
--   path      as written; "/" when empty for http, https, ws, wss
--   query     as written, without "?"; "" for "http://h/?"
--   fragment  as written, without "#"

local byte, char, find, format, gsub, lower, sub, match =
  string.byte, string.char, string.find, string.format, string.gsub,
  string.lower, string.sub, string.match
local concat = table.concat

local url = {}

local DEFAULT_PORTS = { http = 80, https = 443, ws = 80, wss = 443 }

-- Schemes whose URLs must name a host and whose empty path means "/".
local HIER = { http = true, https = true, ws = true, wss = true }

local function fail(msg)
  return nil, msg, "url"
end

function url.default_port(scheme)
  if type(scheme) ~= "string" then
    error("bad argument #1 to 'url.default_port' (string expected, got " .. type(scheme) .. ")", 2)
  end
  return DEFAULT_PORTS[lower(scheme)]
end

---------------------------------------------------------------------------
-- Percent-encoding

local function hexval(h)
  return char(tonumber(h, 16))
end

-- Decodes every valid %XX; a "%" not followed by two hex digits is kept as
-- it is. With comp == "query", "+" stands for a space (form encoding).
function url.decode(s, comp)
  if type(s) ~= "string" then
    error("bad argument #1 to 'url.decode' (string expected, got " .. type(s) .. ")", 2)
  end
  if comp == "query" then
    s = gsub(s, "+", " ")
  elseif comp ~= nil and comp ~= "path" and comp ~= "segment"
      and comp ~= "component" and comp ~= "userinfo" then
    error("bad argument #2 to 'url.decode' (unknown component '" .. tostring(comp) .. "')", 2)
  end
  return (gsub(s, "%%(%x%x)", hexval))
end

-- Characters left alone per component; everything else becomes %XX.
-- unreserved = ALPHA DIGIT - . _ ~ ; sub-delims = ! $ & ' ( ) * + , ; =
local KEEP = {
  -- a single value anywhere: only unreserved characters survive
  component = "[^%w%-%._~]",
  -- a whole path: "/" separates segments and stays; pchar = unreserved
  -- sub-delims ":" "@"
  path = "[^%w%-%._~!%$&'%(%)%*%+,;=:@/]",
  -- one path segment: as path, but "/" is data
  segment = "[^%w%-%._~!%$&'%(%)%*%+,;=:@]",
  -- a key or value inside a query: "&", "=", "+", ";" and "#" are data
  query = "[^%w%-%._~!%$'%(%)%*,:@/%?]",
  -- user or password: ":" and "@" are data
  userinfo = "[^%w%-%._~!%$&'%(%)%*%+,;=]",
}

local function pct(c)
  return format("%%%02X", byte(c))
end

function url.encode(s, comp)
  if type(s) == "number" then
    s = tostring(s)
  elseif type(s) ~= "string" then
    error("bad argument #1 to 'url.encode' (string expected, got " .. type(s) .. ")", 2)
  end
  local class = KEEP[comp or "component"]
  if not class then
    error("bad argument #2 to 'url.encode' (unknown component '" .. tostring(comp) .. "')", 2)
  end
  return (gsub(s, class, pct))
end

-- Percent-encodes the bytes that may not appear raw in a request target
-- (controls, space, non-ASCII, and " < > \ ^ ` { | }), leaving "%" and
-- everything else as written, so an already encoded target is unchanged.
local function clean_target(s)
  return (gsub(s, "[%z\1-\32\127-\255\"<>\\%^`{|}]", pct))
end

---------------------------------------------------------------------------
-- Splitting (RFC 3986 appendix B, without a regular expression engine)

-- Returns scheme, authority, path, query, fragment as written; scheme,
-- authority, query and fragment are nil when absent (an empty "?" or "#"
-- gives ""), path is always a string.
function url.split(s)
  local scheme, rest = match(s, "^([%a][%w%+%-%.]*):(.*)$")
  if not scheme then
    rest = s
  end
  local fragment
  local h = find(rest, "#", 1, true)
  if h then
    fragment = sub(rest, h + 1)
    rest = sub(rest, 1, h - 1)
  end
  local query
  local q = find(rest, "?", 1, true)
  if q then
    query = sub(rest, q + 1)
    rest = sub(rest, 1, q - 1)
  end
  local authority
  if sub(rest, 1, 2) == "//" then
    local slash = find(rest, "/", 3, true)
    if slash then
      authority = sub(rest, 3, slash - 1)
      rest = sub(rest, slash)
    else
      authority = sub(rest, 3)
      rest = ""
    end
  end
  return scheme, authority, rest, query, fragment
end

---------------------------------------------------------------------------
-- Hosts

local function valid_ipv4(s)
  local a, b, c, d = match(s, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then
    return false
  end
  for _, part in ipairs { a, b, c, d } do
    if #part > 3 or tonumber(part) > 255 or (#part > 1 and sub(part, 1, 1) == "0") then
      return false
    end
  end
  return true
end

-- Checks the text of an IPv6 address (RFC 4291 section 2.2 forms).
local function valid_ipv6(s)
  if find(s, "[^%x:%.]") then
    return false
  end
  local head, tail = s, nil
  local dc = find(s, "::", 1, true)
  if dc then
    head, tail = sub(s, 1, dc - 1), sub(s, dc + 2)
    if find(tail, "::", 1, true) then
      return false
    end
  end
  local groups = 0
  local function count(part, last)
    if part == "" then
      return true
    end
    local pieces = {}
    for piece in (part .. ":"):gmatch("([^:]*):") do
      pieces[#pieces + 1] = piece
    end
    for i, piece in ipairs(pieces) do
      if last and i == #pieces and find(piece, ".", 1, true) then
        if not valid_ipv4(piece) then
          return false
        end
        groups = groups + 2
      elseif match(piece, "^%x%x?%x?%x?$") then
        groups = groups + 1
      else
        return false
      end
    end
    return true
  end
  if dc then
    if not count(head, false) or not count(tail, true) then
      return false
    end
    return groups <= 7
  end
  return count(head, true) and groups == 8
end

-- Parses the inside of "[...]": an IPv6 address, maybe with a zone id
-- ("%25eth0" as RFC 6874 writes it, or a bare "%eth0" as people type it).
local function parse_ip_literal(inner)
  local addr, zone = inner, nil
  local p = find(inner, "%", 1, true)
  if p then
    addr = sub(inner, 1, p - 1)
    zone = sub(inner, p)
    -- "%25" is the encoded "%" of RFC 6874; it wins over reading "25" as
    -- a bare zone id, so "[fe80::1%25]" has an empty zone and is refused.
    if sub(zone, 1, 3) == "%25" then
      zone = url.decode(sub(zone, 4))
    else
      zone = sub(zone, 2)
    end
    if zone == "" or find(zone, "[%%%c%s%]%[/]") then
      return fail("invalid IPv6 zone id in '[" .. inner .. "]'")
    end
  end
  if sub(addr, 1, 1) == "v" or sub(addr, 1, 1) == "V" then
    return fail("IP literal format not supported: '[" .. inner .. "]'")
  end
  if not valid_ipv6(addr) then
    return fail("invalid IPv6 address '[" .. inner .. "]'")
  end
  addr = lower(addr)
  if zone then
    return addr .. "%" .. zone
  end
  return addr
end

-- reg-name = *( unreserved / pct-encoded / sub-delims )
local function parse_reg_name(host)
  if find(host, "[^%w%-%._~!%$&'%(%)%*%+,;=%%]") then
    return fail("invalid character in host '" .. host .. "'")
  end
  if find(host, "%%") and find(gsub(host, "%%%x%x", ""), "%%") then
    return fail("invalid percent-encoding in host '" .. host .. "'")
  end
  return lower(url.decode(host))
end

local function parse_port(p)
  if p == "" then
    return nil
  end
  if not match(p, "^%d+$") or #p > 5 then
    return fail("invalid port '" .. p .. "'")
  end
  local n = tonumber(p)
  if n > 65535 then
    return fail("port out of range '" .. p .. "'")
  end
  return n
end

-- authority = [ userinfo "@" ] host [ ":" port ]
local function parse_authority(t, auth)
  local at
  -- The last "@" ends the userinfo: an "@" is not allowed in a host, and
  -- people do write unencoded "@" in passwords.
  for i = #auth, 1, -1 do
    if byte(auth, i) == 64 then -- "@"
      at = i
      break
    end
  end
  local hostport = auth
  if at then
    local ui = sub(auth, 1, at - 1)
    hostport = sub(auth, at + 1)
    t.userinfo = ui
    local colon = find(ui, ":", 1, true)
    if colon then
      t.user = url.decode(sub(ui, 1, colon - 1))
      t.password = url.decode(sub(ui, colon + 1))
    else
      t.user = url.decode(ui)
    end
  end
  local host, portstr
  if sub(hostport, 1, 1) == "[" then
    local close = find(hostport, "]", 2, true)
    if not close then
      return fail("unclosed '[' in host '" .. hostport .. "'")
    end
    local after = sub(hostport, close + 1)
    if after ~= "" then
      portstr = match(after, "^:(.*)$")
      if not portstr then
        return fail("unexpected '" .. after .. "' after ']'")
      end
    end
    local msg
    host, msg = parse_ip_literal(sub(hostport, 2, close - 1))
    if not host then
      return fail(msg)
    end
  else
    local colon = find(hostport, ":", 1, true)
    if colon then
      host, portstr = sub(hostport, 1, colon - 1), sub(hostport, colon + 1)
      if find(portstr, ":", 1, true) then
        return fail("IPv6 address must be in brackets: '" .. hostport .. "'")
      end
    else
      host = hostport
    end
    if find(host, "]", 1, true) then
      return fail("unexpected ']' in host '" .. hostport .. "'")
    end
    local msg
    host, msg = parse_reg_name(host)
    if not host then
      return fail(msg)
    end
  end
  t.host = host
  if portstr then
    local port, msg = parse_port(portstr)
    if msg then
      return fail(msg)
    end
    t.port = port
  end
  return t
end

---------------------------------------------------------------------------
-- Parsing

function url.parse(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'url.parse' (string expected, got " .. type(s) .. ")", 2)
  end
  local bad = find(s, "[%z\1-\32\127]")
  if bad then
    local c = byte(s, bad)
    if c == 32 then
      return fail("space in URL at byte " .. bad)
    end
    return fail(format("control character 0x%02X in URL at byte %d", c, bad))
  end
  local scheme, authority, path, query, fragment = url.split(s)
  if not scheme then
    return fail("missing scheme in URL '" .. s .. "'")
  end
  scheme = lower(scheme)
  local t = { scheme = scheme, path = path, query = query, fragment = fragment }
  if authority then
    local ok, msg = parse_authority(t, authority)
    if not ok then
      return fail(msg)
    end
  end
  if HIER[scheme] then
    if not t.host or t.host == "" then
      return fail("missing host in URL '" .. s .. "'")
    end
    if t.path == "" then
      t.path = "/"
    end
  end
  return t
end

---------------------------------------------------------------------------
-- Building

local function host_text(host, for_host_header)
  if find(host, ":", 1, true) then
    local addr, zone = match(host, "^([^%%]*)%%(.*)$")
    if addr then
      if for_host_header then
        -- A zone id only means something on the sending machine.
        return "[" .. addr .. "]"
      end
      return "[" .. addr .. "%25" .. url.encode(zone) .. "]"
    end
    return "[" .. host .. "]"
  end
  return host
end

-- "host[:port]" with IPv6 literals in brackets; the port is left out when
-- it is the scheme's default. With for_host_header, a zone id is dropped.
function url.authority(t, for_host_header)
  if type(t) ~= "table" or type(t.host) ~= "string" then
    error("bad argument #1 to 'url.authority' (parsed URL with a host expected)", 2)
  end
  local s = host_text(t.host, for_host_header)
  local port = t.port
  if port and port ~= DEFAULT_PORTS[t.scheme and lower(t.scheme) or ""] then
    s = s .. ":" .. tostring(port)
  end
  return s
end

-- The request target of an HTTP request: "path?query", never empty.
function url.target(t)
  if type(t) ~= "table" then
    error("bad argument #1 to 'url.target' (table expected, got " .. type(t) .. ")", 2)
  end
  local path = t.path
  if path == nil or path == "" then
    path = "/"
  end
  local s = clean_target(path)
  if t.query then
    s = s .. "?" .. clean_target(t.query)
  end
  return s
end

-- The whole URL. The port is written only when it differs from the
-- scheme's default; userinfo is written as t.userinfo, else from t.user and
-- t.password (encoded).
function url.build(t)
  if type(t) ~= "table" then
    error("bad argument #1 to 'url.build' (table expected, got " .. type(t) .. ")", 2)
  end
  local out = {}
  if t.scheme then
    out[#out + 1] = lower(t.scheme) .. ":"
  end
  if t.host then
    out[#out + 1] = "//"
    local ui = t.userinfo
    if not ui and t.user then
      ui = url.encode(t.user, "userinfo")
      if t.password then
        ui = ui .. ":" .. url.encode(t.password, "userinfo")
      end
    end
    if ui then
      out[#out + 1] = ui .. "@"
    end
    out[#out + 1] = url.authority(t)
  end
  local path = t.path or ""
  if t.host and path ~= "" and sub(path, 1, 1) ~= "/" then
    path = "/" .. path
  end
  out[#out + 1] = path
  if t.query then
    out[#out + 1] = "?" .. t.query
  end
  if t.fragment then
    out[#out + 1] = "#" .. t.fragment
  end
  return concat(out)
end

---------------------------------------------------------------------------
-- Reference resolution (RFC 3986 section 5.2)

-- Section 5.2.4.
local function remove_dot_segments(input)
  local output = {}
  while input ~= "" do
    if sub(input, 1, 3) == "../" then
      input = sub(input, 4)
    elseif sub(input, 1, 2) == "./" then
      input = sub(input, 3)
    elseif sub(input, 1, 3) == "/./" then
      input = sub(input, 3)
    elseif input == "/." then
      input = "/"
    elseif sub(input, 1, 4) == "/../" then
      input = sub(input, 4)
      output[#output] = nil
    elseif input == "/.." then
      input = "/"
      output[#output] = nil
    elseif input == "." or input == ".." then
      input = ""
    else
      -- Move the first segment (with its leading "/", if any) to the output.
      local seg_end = find(input, "/", 2, true)
      if seg_end then
        output[#output + 1] = sub(input, 1, seg_end - 1)
        input = sub(input, seg_end)
      else
        output[#output + 1] = input
        input = ""
      end
    end
  end
  return concat(output)
end
url.remove_dot_segments = remove_dot_segments

-- Section 5.2.3.
local function merge(base_authority, base_path, ref_path)
  if base_authority and base_path == "" then
    return "/" .. ref_path
  end
  local last = match(base_path, "^(.*/)[^/]*$")
  if last then
    return last .. ref_path
  end
  return ref_path
end

-- Section 5.3.
local function recompose(scheme, authority, path, query, fragment)
  local out = {}
  if scheme then
    out[#out + 1] = scheme .. ":"
  end
  if authority then
    out[#out + 1] = "//" .. authority
  end
  out[#out + 1] = path
  if query then
    out[#out + 1] = "?" .. query
  end
  if fragment then
    out[#out + 1] = "#" .. fragment
  end
  return concat(out)
end

-- Resolves ref against the absolute URL base (strings), as a browser does
-- for a Location header. Returns the target URL text, or nil, msg, "url"
-- when base has no scheme.
function url.resolve(base, ref)
  if type(base) ~= "string" then
    error("bad argument #1 to 'url.resolve' (string expected, got " .. type(base) .. ")", 2)
  end
  if type(ref) ~= "string" then
    error("bad argument #2 to 'url.resolve' (string expected, got " .. type(ref) .. ")", 2)
  end
  local bs, ba, bp, bq = url.split(base)
  if not bs then
    return fail("base URL has no scheme: '" .. base .. "'")
  end
  local rs, ra, rp, rq, rf = url.split(ref)
  local ts, ta, tp, tq
  if rs then
    ts, ta, tp, tq = rs, ra, remove_dot_segments(rp), rq
  else
    if ra then
      ta, tp, tq = ra, remove_dot_segments(rp), rq
    else
      if rp == "" then
        tp = bp
        if rq then
          tq = rq
        else
          tq = bq
        end
      else
        if sub(rp, 1, 1) == "/" then
          tp = remove_dot_segments(rp)
        else
          tp = remove_dot_segments(merge(ba, bp, rp))
        end
        tq = rq
      end
      ta = ba
    end
    ts = bs
  end
  return recompose(ts, ta, tp, tq, rf)
end

return url
