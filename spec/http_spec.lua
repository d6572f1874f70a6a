-- busted spec for lua/tls/http.lua. The stream is an in-memory fake with
-- the read formats the parser uses ("l", "L", a byte count, "a"), good
-- enough for the parser; end-to-end tests against real servers are
-- separate.

local http = require "tls.http"
local helper = require "helper"
local url = require "tls.url"

-- fake(data [, opts]): a stream over the string data.
--   opts.eof = { msg, code }  the end of data is a failure, not a clean end
--   opts.max = n              reads of a byte count return at most n bytes
--                             (a short read before the end, which a real
--                             ios never does, to prove the reader copes)
local function fake(data, opts)
  opts = opts or {}
  local pos = 1
  local self = { written = {} }
  local function at_end()
    if opts.eof then
      return nil, opts.eof[1], opts.eof[2]
    end
    return nil
  end
  function self:read(fmt)
    fmt = type(fmt) == "string" and fmt:gsub("^%*", "") or fmt
    if fmt == "l" or fmt == "L" then
      if pos > #data then
        return at_end()
      end
      local nl = data:find("\n", pos, true)
      local line
      if nl then
        line = data:sub(pos, fmt == "L" and nl or nl - 1)
        pos = nl + 1
      else
        line = data:sub(pos)
        pos = #data + 1
      end
      return line
    elseif fmt == "a" then
      if opts.eof and pos > #data then
        return at_end()
      end
      local s = data:sub(pos)
      pos = #data + 1
      return s
    elseif helper.math_type(fmt) == "integer" then
      if pos > #data then
        return at_end()
      end
      local n = fmt
      if opts.max and n > opts.max then
        n = opts.max
      end
      local s = data:sub(pos, pos + n - 1)
      pos = pos + #s
      return s
    end
    error("fake ios: unsupported read format " .. tostring(fmt))
  end
  function self:write(...)
    for i = 1, select("#", ...) do
      self.written[#self.written + 1] = tostring((select(i, ...)))
    end
    return self
  end
  function self:flush()
    return self
  end
  function self:rest()
    return data:sub(pos)
  end
  return self
end

local function response(text, opts)
  local ios = fake(text, opts)
  local resp, msg, code = http.read_response(ios)
  return resp, msg, code, ios
end

local function body_of(text, opts, method)
  local ios = fake(text, opts)
  local resp = assert(http.read_response(ios, method))
  local body, msg, code = http.read_body(ios, resp, method)
  return body, msg, code, resp, ios
end

local function fails_with(code, pattern, ok, msg, got_code)
  assert.is_nil(ok)
  assert.equal(code, got_code)
  if pattern then
    assert.truthy(tostring(msg):find(pattern, 1, true), "message '" .. tostring(msg) .. "' lacks '" .. pattern .. "'")
  end
end

describe("tls.http", function()
  describe("read_response", function()
    it("reads the status line and headers", function()
      local resp = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
      assert.equal(200, resp.status)
      assert.equal("OK", resp.reason)
      assert.equal("1.1", resp.version)
      assert.equal("text/plain", resp.headers["content-type"])
      assert.equal("5", resp.headers["Content-Length"])
      assert.equal("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", resp.raw)
      assert.same({ { "Content-Type", "text/plain" }, { "Content-Length", "5" } }, resp.headers.list)
    end)

    it("finds headers under any spelling", function()
      local resp = response("HTTP/1.1 200 OK\r\nX-MiXeD-CaSe: v\r\n\r\n")
      assert.equal("v", resp.headers["x-mixed-case"])
      assert.equal("v", resp.headers["X-MIXED-CASE"])
      assert.equal("v", resp.headers["X-Mixed-Case"])
      assert.is_nil(resp.headers["x-other"])
    end)

    it("folds repeated fields with ', ' and keeps each in the list", function()
      local resp = response("HTTP/1.1 200 OK\r\nVary: a\r\nSet-Cookie: x=1\r\nvary: b\r\nSet-Cookie: y=2\r\n\r\n")
      assert.equal("a, b", resp.headers.vary)
      assert.equal("x=1, y=2", resp.headers["set-cookie"])
      assert.same({ "x=1", "y=2" }, resp.headers:all("Set-Cookie"))
      assert.equal(4, #resp.headers.list)
    end)

    it("trims whitespace around values and accepts empty values", function()
      local resp = response("HTTP/1.1 200 OK\r\nA:  spaced \t\r\nB:\r\nC:x\r\n\r\n")
      assert.equal("spaced", resp.headers.a)
      assert.equal("", resp.headers.b)
      assert.equal("x", resp.headers.c)
    end)

    it("joins obsolete line folding with one space", function()
      local resp = response("HTTP/1.1 200 OK\r\nX-Long: first\r\n  second\r\n\tthird\r\nY: 1\r\n\r\n")
      assert.equal("first second third", resp.headers["x-long"])
      assert.equal("1", resp.headers.y)
      assert.same({ "X-Long", "first second third" }, resp.headers.list[1])
    end)

    it("accepts bare LF line endings", function()
      local resp = response("HTTP/1.1 404 Not Found\nA: b\n\n")
      assert.equal(404, resp.status)
      assert.equal("Not Found", resp.reason)
      assert.equal("b", resp.headers.a)
    end)

    it("accepts a missing or empty reason phrase and HTTP/1.0", function()
      assert.equal("", response("HTTP/1.1 204\r\n\r\n").reason)
      assert.equal("", response("HTTP/1.1 200 \r\n\r\n").reason)
      local resp = response("HTTP/1.0 200 Fine Thanks\r\n\r\n")
      assert.equal("1.0", resp.version)
      assert.equal("Fine Thanks", resp.reason)
    end)

    it("skips interim 1xx responses but keeps them in raw", function()
      local resp = response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        .. "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
      assert.equal(200, resp.status)
      assert.is_nil(resp.headers.link)
      assert.equal("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        .. "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", resp.raw)
    end)

    it("returns 101 Switching Protocols", function()
      assert.equal(101, response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").status)
    end)

    it("reports a connection closed before any response", function()
      fails_with("closed", "before a response", response(""))
    end)

    it("reports a head cut short", function()
      fails_with("truncated", "middle", response("HTTP/1.1 200 OK\r\nA: b\r\n"))
    end)

    it("passes on the stream's failure", function()
      fails_with("timeout", "timed out", response("", { eof = { "read timed out", "timeout" } }))
      fails_with("reset", "reset", response("HTTP/1.1 200 OK\r\n", { eof = { "connection reset", "reset" } }))
    end)

    it("rejects malformed status lines", function()
      fails_with("protocol", "malformed status line", response("HTTP/1.1 2000 OK\r\n\r\n"))
      fails_with("protocol", "malformed status line", response("HTTP/1.1 20 OK\r\n\r\n"))
      fails_with("protocol", "malformed status line", response("HTTP/1.1 200OK\r\n\r\n"))
      fails_with("protocol", "malformed status line", response("ICY 200 OK\r\n\r\n"))
      fails_with("protocol", "malformed status line", response("<html>\r\n"))
      fails_with("protocol", "version 2.0", response("HTTP/2.0 200 OK\r\n\r\n"))
    end)

    it("rejects malformed header lines", function()
      fails_with("protocol", "malformed header line", response("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"))
      fails_with("protocol", "invalid field name", response("HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n"))
      fails_with("protocol", "invalid field name", response("HTTP/1.1 200 OK\r\nName : v\r\n\r\n"))
      fails_with("protocol", "invalid field name", response("HTTP/1.1 200 OK\r\n: v\r\n\r\n"))
      fails_with("protocol", "continuation", response("HTTP/1.1 200 OK\r\n folded: first\r\n\r\n"))
    end)

    it("limits the number of header lines", function()
      local lines = { "HTTP/1.1 200 OK" }
      for i = 1, http.MAX_HEAD_LINES + 1 do
        lines[#lines + 1] = "X-" .. i .. ": v"
      end
      fails_with("protocol", "more than", response(table.concat(lines, "\r\n") .. "\r\n\r\n"))
    end)

    it("leaves the body unread", function()
      local _, _, _, ios = response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef")
      assert.equal("abcdef", ios:rest())
    end)
  end)

  describe("body_kind", function()
    local function kind(head, method)
      return http.body_kind(assert(response(head .. "\r\n")), method)
    end

    it("follows RFC 9112 section 6.3", function()
      assert.equal("none", kind("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "HEAD"))
      assert.equal("none", kind("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n"))
      assert.equal("none", kind("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n"))
      assert.equal("none", kind("HTTP/1.1 200 OK\r\n", "CONNECT"))
      assert.equal("chunked", kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"))
      assert.equal("chunked", kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n"))
      assert.equal("chunked", kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"))
      assert.equal("close", kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"))
      assert.equal("close", kind("HTTP/1.1 200 OK\r\n"))
      local k, n = kind("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n")
      assert.equal("length", k)
      assert.equal(42, n)
      assert.equal("integer", helper.math_type(n))
    end)

    it("accepts repeated equal Content-Length values", function()
      local k, n = kind("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n")
      assert.equal("length", k)
      assert.equal(7, n)
      k, n = kind("HTTP/1.1 200 OK\r\nContent-Length: 7 , 7\r\n")
      assert.equal(7, n)
    end)

    it("rejects conflicting or invalid Content-Length", function()
      fails_with("protocol", "conflicting", kind("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n"))
      fails_with("protocol", "invalid", kind("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n"))
      fails_with("protocol", "invalid", kind("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n"))
      fails_with("protocol", "invalid", kind("HTTP/1.1 200 OK\r\nContent-Length: \r\n"))
      fails_with("protocol", "invalid", kind("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n"))
    end)
  end)

  describe("bodies", function()
    it("reads exactly Content-Length bytes", function()
      local body, _, _, _, ios = body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
      assert.equal("hello", body)
      assert.equal("EXTRA", ios:rest())
    end)

    it("reads an empty Content-Length body", function()
      assert.equal("", body_of("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    end)

    it("reads a large body in pieces of at most http.CHUNK", function()
      local data = string.rep("0123456789", 20000)
      local ios = fake("HTTP/1.1 200 OK\r\nContent-Length: " .. #data .. "\r\n\r\n" .. data)
      local resp = assert(http.read_response(ios))
      local next_chunk = http.body_reader(ios, resp)
      local parts = {}
      while true do
        local s, msg = next_chunk()
        assert.is_nil(msg)
        if not s then
          break
        end
        assert.truthy(#s > 0 and #s <= http.CHUNK)
        parts[#parts + 1] = s
      end
      assert.equal(data, table.concat(parts))
      assert.equal(4, #parts)
      assert.is_nil(next_chunk())
    end)

    it("copes with short reads before the end", function()
      local data = string.rep("x", 1000)
      assert.equal(data, body_of("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" .. data, { max = 7 }))
    end)

    it("reports a Content-Length body cut short", function()
      fails_with("truncated", "after 3 of 5 bytes", body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"))
    end)

    it("passes on a stream failure inside a Content-Length body", function()
      fails_with("truncated", "close_notify",
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", { eof = { "no close_notify", "truncated" } }))
    end)

    it("fails again when called after a failure", function()
      local ios = fake("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
      local next_chunk = http.body_reader(ios, assert(http.read_response(ios)))
      assert.equal("hel", next_chunk())
      fails_with("truncated", nil, next_chunk())
      fails_with("truncated", nil, next_chunk())
    end)

    it("reads to the end of the stream without framing", function()
      assert.equal("all of it\nand more", body_of("HTTP/1.1 200 OK\r\n\r\nall of it\nand more"))
      assert.equal("", body_of("HTTP/1.1 200 OK\r\n\r\n"))
      assert.equal("gz", body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\ngz"))
    end)

    it("reports a read-to-close body whose TLS stream was truncated", function()
      fails_with("truncated", "close_notify",
        body_of("HTTP/1.1 200 OK\r\n\r\npartial", { eof = { "no close_notify", "truncated" } }))
    end)

    it("reads nothing for HEAD, 204 and 304", function()
      local body, _, _, _, ios = body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", nil, "HEAD")
      assert.equal("", body)
      assert.equal("hello", ios:rest())
      assert.equal("", body_of("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"))
    end)

    it("refuses a body with an invalid Content-Length", function()
      fails_with("protocol", "conflicting",
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab"))
    end)

    describe("chunked", function()
      local function chunked(encoded, opts)
        return body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .. encoded, opts)
      end

      it("joins the chunks", function()
        local body, _, _, _, ios = chunked("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nNEXT")
        assert.equal("hello, world", body)
        assert.equal("NEXT", ios:rest())
      end)

      it("reads hex sizes in either case, with leading zeros", function()
        local data = string.rep("z", 26)
        assert.equal(data .. "!", chunked("1A\r\n" .. data .. "\r\n0001\r\n!\r\n000\r\n\r\n"))
        assert.equal(data, chunked("1a\r\n" .. data .. "\r\n0\r\n\r\n"))
      end)

      it("ignores chunk extensions and whitespace before them", function()
        assert.equal("abc", chunked("3;name=value\r\nabc\r\n0 ; last\r\n\r\n"))
      end)

      it("collects trailers", function()
        local body, _, _, resp = chunked("3\r\nabc\r\n0\r\nX-Sum: 123\r\nx-other: a\r\nX-Sum: 456\r\n\r\n")
        assert.equal("abc", body)
        assert.equal("123, 456", resp.trailers["x-sum"])
        assert.equal("a", resp.trailers["X-Other"])
        assert.same({ "X-Sum: 123", "x-other: a", "X-Sum: 456" }, resp.raw_trailers)
      end)

      it("gives an empty trailer table when there are none", function()
        local _, _, _, resp = chunked("0\r\n\r\n")
        assert.same({}, resp.trailers.list)
        assert.same({}, resp.raw_trailers)
      end)

      it("accepts bare LF line endings", function()
        assert.equal("abc", chunked("3\nabc\n0\n\n"))
      end)

      it("splits a chunk larger than http.CHUNK", function()
        local data = string.rep("y", http.CHUNK * 2 + 3)
        assert.equal(data, chunked(string.format("%x\r\n%s\r\n0\r\n\r\n", #data, data)))
      end)

      it("copes with short reads", function()
        assert.equal("hello, world", chunked("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", { max = 2 }))
      end)

      it("rejects a malformed size line", function()
        fails_with("protocol", "malformed chunk size", chunked("zz\r\nabc\r\n0\r\n\r\n"))
        fails_with("protocol", "malformed chunk size", chunked("3x\r\nabc\r\n0\r\n\r\n"))
        fails_with("protocol", "malformed chunk size", chunked("-3\r\nabc\r\n0\r\n\r\n"))
        fails_with("protocol", "malformed chunk size", chunked("\r\nabc\r\n0\r\n\r\n"))
      end)

      it("rejects a chunk size that does not fit", function()
        fails_with("protocol", "too large", chunked("10000000000000000\r\n"))
      end)

      it("rejects data longer than the chunk size", function()
        fails_with("protocol", "longer than its size", chunked("3\r\nabcd\r\n0\r\n\r\n"))
      end)

      it("reports a body cut inside a chunk, or before the last chunk", function()
        fails_with("truncated", "inside a chunk", chunked("5\r\nhel"))
        fails_with("truncated", "chunk", chunked("5\r\nhello\r\n"))
        fails_with("truncated", "trailer", chunked("5\r\nhello\r\n0\r\n"))
      end)

      it("passes on a stream failure", function()
        fails_with("timeout", "slow", chunked("5\r\nhel", { eof = { "too slow", "timeout" } }))
      end)

      it("round-trips http.chunk and http.last_chunk", function()
        local encoded = http.chunk("hello") .. http.chunk("") .. http.chunk(", world")
          .. http.last_chunk { { "X-Sum", "1" } }
        local body, _, _, resp = chunked(encoded)
        assert.equal("hello, world", body)
        assert.equal("1", resp.trailers["x-sum"])
      end)
    end)
  end)

  describe("request_head", function()
    it("writes the request line, Host first, then the fields in order", function()
      local u = url.parse("http://Example.com:8080/a%20b/c?x=1#frag")
      assert.equal("GET /a%20b/c?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
        .. "User-Agent: t\r\nConnection: close\r\n\r\n",
        http.request_head("GET", u, { { "User-Agent", "t" }, { "Connection", "close" } }))
    end)

    it("brackets IPv6 hosts, drops the default port and a zone id", function()
      assert.equal("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        http.request_head("GET", url.parse("https://[::1]:443")))
      assert.equal("GET /x HTTP/1.1\r\nHost: [fe80::1]:81\r\n\r\n",
        http.request_head("GET", url.parse("http://[fe80::1%25eth0]:81/x")))
    end)

    it("sorts a map of fields and keeps a given Host", function()
      assert.equal("HEAD / HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: other\r\n\r\n",
        http.request_head("HEAD", url.parse("http://h/"), { B = 2, A = 1, Host = "other" }))
    end)

    it("refuses header injection and bad names", function()
      local u = url.parse("http://h/")
      assert.has_error(function() http.request_head("GET", u, { { "X", "a\r\nEvil: 1" } }) end)
      assert.has_error(function() http.request_head("GET", u, { { "Bad Name", "v" } }) end)
      assert.has_error(function() http.request_head("G T", u) end)
      assert.has_error(function() http.request_head("GET", {}) end)
    end)

    it("write_request writes and flushes", function()
      local ios = fake("")
      assert.equal(ios, http.write_request(ios, "GET", url.parse("http://h/p"), { { "A", "b" } }))
      assert.equal("GET /p HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n", table.concat(ios.written))
    end)

    it("write_request passes on a write failure", function()
      local ios = { write = function() return nil, "broken pipe", "closed" end }
      fails_with("closed", "broken pipe", http.write_request(ios, "GET", url.parse("http://h/")))
    end)
  end)

  describe("server side", function()
    it("reads a request head", function()
      local ios = fake("GET /files/1k?x HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n")
      local req = assert(http.read_request(ios))
      assert.equal("GET", req.method)
      assert.equal("/files/1k?x", req.target)
      assert.equal("1.1", req.version)
      assert.equal("h", req.headers.host)
    end)

    it("refuses malformed requests and bodies", function()
      fails_with("protocol", "malformed request line", http.read_request(fake("GET /\r\n\r\n")))
      fails_with("protocol", "bodies", http.read_request(fake("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")))
      fails_with("closed", nil, http.read_request(fake("")))
    end)

    it("writes a response head that read_response reads back", function()
      local head = http.response_head(302, { { "Location", "/x" }, { "Content-Length", 0 } })
      assert.equal("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", head)
      local resp = response(head)
      assert.equal(302, resp.status)
      assert.equal("/x", resp.headers.location)
      assert.equal("HTTP/1.1 599 Custom\r\n\r\n", http.response_head(599, nil, "Custom"))
    end)
  end)
end)
