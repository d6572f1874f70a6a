-- busted spec for lua/tls/url.lua; run from the repository root:
--   busted spec/url_spec.lua      (the .busted file sets lpath)

local url = require "tls.url"
local helper = require "helper"

-- Only the fields that a parse may set, so an unexpected field fails.
local FIELDS = { "scheme", "userinfo", "user", "password", "host", "port",
  "path", "query", "fragment" }

local function fields(t)
  local out = {}
  for _, k in ipairs(FIELDS) do
    out[k] = t[k]
  end
  for k in pairs(t) do
    assert(out[k] ~= nil or t[k] == nil, "unexpected field " .. tostring(k))
  end
  return out
end

local function parses(s, expected)
  local t, msg = url.parse(s)
  assert(t, "parse failed for " .. s .. ": " .. tostring(msg))
  assert.same(expected, fields(t))
end

local function rejects(s, pattern)
  local t, msg, code = url.parse(s)
  assert.is_nil(t, "expected failure for " .. s)
  assert.equal("url", code)
  assert.is_string(msg)
  if pattern then
    assert.truthy(msg:find(pattern, 1, true), "message '" .. msg .. "' lacks '" .. pattern .. "'")
  end
end

describe("tls.url", function()
  describe("parse", function()
    it("splits a plain http URL", function()
      parses("http://example.com/a/b?x=1&y=2#top", {
        scheme = "http", host = "example.com", path = "/a/b",
        query = "x=1&y=2", fragment = "top",
      })
    end)

    it("lowercases scheme and host but not path, query or fragment", function()
      parses("HTTPS://WWW.Example.COM:8443/Some/Path?Q=V#Frag", {
        scheme = "https", host = "www.example.com", port = 8443,
        path = "/Some/Path", query = "Q=V", fragment = "Frag",
      })
    end)

    it("gives path / for http(s) without a path", function()
      parses("http://h", { scheme = "http", host = "h", path = "/" })
      parses("https://h:1", { scheme = "https", host = "h", port = 1, path = "/" })
    end)

    it("handles a query without a path", function()
      parses("http://h?q=1", { scheme = "http", host = "h", path = "/", query = "q=1" })
    end)

    it("handles a fragment without a query", function()
      parses("http://h/p#frag", { scheme = "http", host = "h", path = "/p", fragment = "frag" })
      parses("http://h#f", { scheme = "http", host = "h", path = "/", fragment = "f" })
    end)

    it("tells an empty query or fragment from an absent one", function()
      parses("http://h/?", { scheme = "http", host = "h", path = "/", query = "" })
      parses("http://h/#", { scheme = "http", host = "h", path = "/", fragment = "" })
      parses("http://h/?#", { scheme = "http", host = "h", path = "/", query = "", fragment = "" })
    end)

    it("keeps a ? inside the fragment and a / inside the query", function()
      parses("http://h/p?a=/b?c#d?e#f", {
        scheme = "http", host = "h", path = "/p", query = "a=/b?c", fragment = "d?e#f",
      })
    end)

    it("reads ports, with leading zeros and at the limits", function()
      parses("http://h:0/", { scheme = "http", host = "h", port = 0, path = "/" })
      parses("http://h:080/", { scheme = "http", host = "h", port = 80, path = "/" })
      parses("http://h:65535/", { scheme = "http", host = "h", port = 65535, path = "/" })
      assert.equal(helper.math_type(url.parse("http://h:8080/").port), "integer")
    end)

    it("treats an empty port as no port", function()
      parses("http://h:/x", { scheme = "http", host = "h", path = "/x" })
      parses("http://[::1]:/", { scheme = "http", host = "::1", path = "/" })
    end)

    it("rejects bad ports", function()
      rejects("http://h:65536/", "65536")
      rejects("http://h:99999999999999999999/", "invalid port")
      rejects("http://h:8o/", "invalid port '8o'")
      rejects("http://h:-1/", "invalid port")
      rejects("http://h:+80/", "invalid port")
      rejects("http://h:80:81/", "brackets")
    end)

    describe("IPv6 literals", function()
      it("strips the brackets", function()
        parses("http://[::1]/", { scheme = "http", host = "::1", path = "/" })
        parses("http://[::1]", { scheme = "http", host = "::1", path = "/" })
      end)

      it("reads a port after the brackets", function()
        parses("https://[::1]:8443/x?y", {
          scheme = "https", host = "::1", port = 8443, path = "/x", query = "y",
        })
      end)

      it("lowercases the address", function()
        parses("http://[2001:DB8::A]/", { scheme = "http", host = "2001:db8::a", path = "/" })
      end)

      it("accepts the full and the IPv4-suffixed forms", function()
        parses("http://[1:2:3:4:5:6:7:8]/", { scheme = "http", host = "1:2:3:4:5:6:7:8", path = "/" })
        parses("http://[::ffff:192.0.2.1]:80/", {
          scheme = "http", host = "::ffff:192.0.2.1", port = 80, path = "/",
        })
        parses("http://[::]/", { scheme = "http", host = "::", path = "/" })
      end)

      it("decodes an RFC 6874 zone id and keeps its case", function()
        parses("http://[fe80::1%25eth0]:8080/", {
          scheme = "http", host = "fe80::1%eth0", port = 8080, path = "/",
        })
        parses("http://[FE80::1%25En0]/", { scheme = "http", host = "fe80::1%En0", path = "/" })
      end)

      it("accepts a bare % before the zone id too", function()
        parses("http://[fe80::1%eth0]/", { scheme = "http", host = "fe80::1%eth0", path = "/" })
      end)

      it("rejects an unclosed bracket", function()
        rejects("http://[::1/", "unclosed '['")
        rejects("http://[::1", "unclosed '['")
        rejects("http://[::1:80/x", "unclosed '['")
      end)

      it("rejects junk after the bracket", function()
        rejects("http://[::1]x/", "after ']'")
        rejects("http://[::1]]:80/", "after ']'")
      end)

      it("rejects addresses that are not IPv6", function()
        rejects("http://[1:2:3:4:5:6:7:8:9]/", "invalid IPv6")
        rejects("http://[1::2::3]/", "invalid IPv6")
        rejects("http://[12345::]/", "invalid IPv6")
        rejects("http://[example.com]/", "invalid IPv6")
        rejects("http://[::1.2.3.256]/", "invalid IPv6")
        rejects("http://[]/", "invalid IPv6")
        rejects("http://[v1.fe]/", "not supported")
        rejects("http://[fe80::1%25]/", "zone")
      end)

      it("rejects IPv6 without brackets", function()
        rejects("http://::1/", "brackets")
        rejects("http://fe80::1:80/", "brackets")
      end)
    end)

    describe("userinfo", function()
      it("splits user and password and decodes them", function()
        parses("http://alice:s%40cr%3At@h/", {
          scheme = "http", userinfo = "alice:s%40cr%3At", user = "alice",
          password = "s@cr:t", host = "h", path = "/",
        })
      end)

      it("splits at the first ':' only", function()
        parses("http://u:p:q@h/", {
          scheme = "http", userinfo = "u:p:q", user = "u", password = "p:q",
          host = "h", path = "/",
        })
      end)

      it("takes the last '@' as the end of an unencoded userinfo", function()
        parses("http://u:p@ss@h:81/", {
          scheme = "http", userinfo = "u:p@ss", user = "u", password = "p@ss",
          host = "h", port = 81, path = "/",
        })
      end)

      it("has no password without ':' and an empty one with it", function()
        parses("http://u@h/", { scheme = "http", userinfo = "u", user = "u", host = "h", path = "/" })
        parses("http://u:@h/", {
          scheme = "http", userinfo = "u:", user = "u", password = "", host = "h", path = "/",
        })
        parses("http://@h/", { scheme = "http", userinfo = "", user = "", host = "h", path = "/" })
      end)

      it("works with an IPv6 host", function()
        parses("http://u:p@[::1]:8080/", {
          scheme = "http", userinfo = "u:p", user = "u", password = "p",
          host = "::1", port = 8080, path = "/",
        })
      end)

      it("does not take an '@' in the path or query as userinfo", function()
        parses("http://h/a@b?c@d", { scheme = "http", host = "h", path = "/a@b", query = "c@d" })
      end)
    end)

    it("keeps percent-encoded sequences in path and query as written", function()
      parses("http://h/a%20b/%zz?q=%2F%", {
        scheme = "http", host = "h", path = "/a%20b/%zz", query = "q=%2F%",
      })
    end)

    it("decodes a percent-encoded host", function()
      parses("http://%65xample.com/", { scheme = "http", host = "example.com", path = "/" })
      rejects("http://ex%zzample.com/", "percent")
    end)

    it("rejects spaces and control characters anywhere", function()
      rejects("http://a b/", "space")
      rejects("http://h/a b", "space")
      rejects(" http://h/", "space")
      rejects("http://h/\t", "0x09")
      rejects("http://h/\r\n", "0x0D")
      rejects("http://h/\0", "0x00")
    end)

    it("rejects a missing scheme", function()
      rejects("//h/x", "missing scheme")
      rejects("h/x", "missing scheme")
      rejects("", "missing scheme")
      rejects("1http://h/", "missing scheme")
      rejects("://h/", "missing scheme")
    end)

    it("rejects http(s) without a host", function()
      rejects("http:///x", "missing host")
      rejects("https://", "missing host")
      rejects("http://:80/", "missing host")
      rejects("http:/x", "missing host")
      rejects("http:x", "missing host")
      rejects("http://u@/", "missing host")
    end)

    it("rejects bad characters in a host", function()
      rejects("http://a<b/", "invalid character")
      rejects("http://a]b/", "']'")
    end)

    it("parses other schemes without inventing a host or path", function()
      parses("mailto:someone@example.com", { scheme = "mailto", path = "someone@example.com" })
      parses("file:///etc/hosts", { scheme = "file", host = "", path = "/etc/hosts" })
      parses("Foo+Bar.baz-1://h", { scheme = "foo+bar.baz-1", host = "h", path = "" })
    end)

    it("raises on a non-string argument", function()
      assert.has_error(function() url.parse(nil) end)
      assert.has_error(function() url.parse(42) end)
    end)
  end)

  describe("default_port", function()
    it("knows http, https, ws and wss, case-insensitively", function()
      assert.equal(80, url.default_port("http"))
      assert.equal(443, url.default_port("https"))
      assert.equal(443, url.default_port("HTTPS"))
      assert.equal(80, url.default_port("ws"))
      assert.equal(443, url.default_port("wss"))
      assert.is_nil(url.default_port("gopher"))
    end)
  end)

  describe("decode", function()
    it("decodes valid sequences in either case", function()
      assert.equal("a b", url.decode("a%20b"))
      assert.equal("AB/", url.decode("%41%42%2f"))
      assert.equal("\0\255", url.decode("%00%FF"))
      assert.equal("\226\130\172", url.decode("%e2%82%AC"))
    end)

    it("keeps invalid sequences as they are", function()
      assert.equal("%zz", url.decode("%zz"))
      assert.equal("%4", url.decode("%4"))
      assert.equal("100%", url.decode("100%"))
      assert.equal("%A", url.decode("%%41"))
      assert.equal("%g1A", url.decode("%g1%41"))
    end)

    it("decodes only once", function()
      assert.equal("%41", url.decode("%2541"))
    end)

    it("maps + to a space only for query values", function()
      assert.equal("a+b", url.decode("a+b"))
      assert.equal("a+b", url.decode("a+b", "path"))
      assert.equal("a b", url.decode("a+b", "query"))
      assert.equal("a+b c", url.decode("a%2Bb+c", "query"))
    end)

    it("raises on an unknown component", function()
      assert.has_error(function() url.decode("x", "bogus") end)
    end)
  end)

  describe("encode", function()
    it("encodes everything but unreserved characters by default", function()
      assert.equal("aZ09-._~", url.encode("aZ09-._~"))
      assert.equal("a%20b%26c%3Dd%2Fe%3F%23%25%2B", url.encode("a b&c=d/e?#%+"))
      assert.equal("%C3%A9%00%FF", url.encode("\195\169\0\255"))
      assert.equal("%21%27%28%29%2A", url.encode("!'()*"))
    end)

    it("keeps / : @ and sub-delims in a path", function()
      assert.equal("/a%20b/c:d@e!$&'()*+,;=/%3F%23%25", url.encode("/a b/c:d@e!$&'()*+,;=/?#%", "path"))
    end)

    it("encodes / in a single segment", function()
      assert.equal("a%2Fb:c", url.encode("a/b:c", "segment"))
    end)

    it("encodes the query separators in a query value", function()
      assert.equal("a%20b%26c%3Dd%2Be%3Bf%23g/h?i:j@k", url.encode("a b&c=d+e;f#g/h?i:j@k", "query"))
    end)

    it("encodes : and @ in userinfo", function()
      assert.equal("p%40ss%3Aw%2Fd!", url.encode("p@ss:w/d!", "userinfo"))
    end)

    it("accepts numbers", function()
      assert.equal("42", url.encode(42))
    end)

    it("round-trips every byte through decode for every component", function()
      local all = {}
      for i = 0, 255 do
        all[#all + 1] = string.char(i)
      end
      all = table.concat(all)
      for _, comp in ipairs { "component", "path", "segment", "query", "userinfo" } do
        assert.equal(all, url.decode(url.encode(all, comp), comp == "query" and "query" or nil))
      end
    end)

    it("raises on an unknown component or a bad argument", function()
      assert.has_error(function() url.encode("x", "bogus") end)
      assert.has_error(function() url.encode({}) end)
    end)
  end)

  describe("resolve", function()
    local base = "http://a/b/c/d;p?q"

    -- RFC 3986 section 5.4.1
    local normal = {
      { "g:h", "g:h" },
      { "g", "http://a/b/c/g" },
      { "./g", "http://a/b/c/g" },
      { "g/", "http://a/b/c/g/" },
      { "/g", "http://a/g" },
      { "//g", "http://g" },
      { "?y", "http://a/b/c/d;p?y" },
      { "g?y", "http://a/b/c/g?y" },
      { "#s", "http://a/b/c/d;p?q#s" },
      { "g#s", "http://a/b/c/g#s" },
      { "g?y#s", "http://a/b/c/g?y#s" },
      { ";x", "http://a/b/c/;x" },
      { "g;x", "http://a/b/c/g;x" },
      { "g;x?y#s", "http://a/b/c/g;x?y#s" },
      { "", "http://a/b/c/d;p?q" },
      { ".", "http://a/b/c/" },
      { "./", "http://a/b/c/" },
      { "..", "http://a/b/" },
      { "../", "http://a/b/" },
      { "../g", "http://a/b/g" },
      { "../..", "http://a/" },
      { "../../", "http://a/" },
      { "../../g", "http://a/g" },
    }

    -- RFC 3986 section 5.4.2
    local abnormal = {
      { "../../../g", "http://a/g" },
      { "../../../../g", "http://a/g" },
      { "/./g", "http://a/g" },
      { "/../g", "http://a/g" },
      { "g.", "http://a/b/c/g." },
      { ".g", "http://a/b/c/.g" },
      { "g..", "http://a/b/c/g.." },
      { "..g", "http://a/b/c/..g" },
      { "./../g", "http://a/b/g" },
      { "./g/.", "http://a/b/c/g/" },
      { "g/./h", "http://a/b/c/g/h" },
      { "g/../h", "http://a/b/c/h" },
      { "g;x=1/./y", "http://a/b/c/g;x=1/y" },
      { "g;x=1/../y", "http://a/b/c/y" },
      { "g?y/./x", "http://a/b/c/g?y/./x" },
      { "g?y/../x", "http://a/b/c/g?y/../x" },
      { "g#s/./x", "http://a/b/c/g#s/./x" },
      { "g#s/../x", "http://a/b/c/g#s/../x" },
      { "http:g", "http:g" }, -- strict parsers
    }

    for _, case in ipairs(normal) do
      it("5.4.1: " .. (case[1] == "" and '""' or case[1]), function()
        assert.equal(case[2], url.resolve(base, case[1]))
      end)
    end

    for _, case in ipairs(abnormal) do
      it("5.4.2: " .. case[1], function()
        assert.equal(case[2], url.resolve(base, case[1]))
      end)
    end

    it("resolves redirect targets as Location headers give them", function()
      assert.equal("https://other.example/x", url.resolve("http://h/a/b", "https://other.example/x"))
      assert.equal("http://[::1]:8080/c?d", url.resolve("http://[::1]:8080/a/b?q", "/c?d"))
      assert.equal("http://[::1]:8080/a/c", url.resolve("http://[::1]:8080/a/b?q", "c"))
      assert.equal("https://cdn/x", url.resolve("https://h:8443/a", "//cdn/x"))
      assert.equal("http://h/a/b?q#new", url.resolve("http://h/a/b?q#old", "#new"))
      assert.equal("http://h/", url.resolve("http://h", "."))
      assert.equal("http://h/x", url.resolve("http://h", "x"))
    end)

    it("removes dot segments from an absolute reference", function()
      assert.equal("http://h/c", url.resolve("http://x/", "http://h/a/../b/../c"))
    end)

    it("fails when the base has no scheme", function()
      local t, msg, code = url.resolve("/relative", "x")
      assert.is_nil(t)
      assert.equal("url", code)
      assert.truthy(msg:find("no scheme", 1, true))
    end)
  end)

  describe("remove_dot_segments", function()
    it("follows RFC 3986 section 5.2.4 examples", function()
      assert.equal("/a/g", url.remove_dot_segments("/a/b/c/./../../g"))
      assert.equal("mid/6", url.remove_dot_segments("mid/content=5/../6"))
    end)
  end)

  describe("target", function()
    it("joins path and query", function()
      assert.equal("/a/b?x=1", url.target(url.parse("http://h/a/b?x=1#f")))
      assert.equal("/?", url.target(url.parse("http://h?")))
      assert.equal("/", url.target { path = "" })
    end)

    it("encodes what may not appear raw and keeps existing escapes", function()
      assert.equal("/a%20b/%C3%A9%22?q=%7B%7D%25", url.target { path = "/a b/\195\169\"", query = "q={}%25" })
    end)
  end)

  describe("authority", function()
    it("brackets IPv6 and leaves out the default port", function()
      assert.equal("[::1]:8443", url.authority(url.parse("https://[::1]:8443/")))
      assert.equal("[::1]", url.authority(url.parse("https://[::1]:443/")))
      assert.equal("example.com", url.authority(url.parse("http://Example.com:80/")))
      assert.equal("example.com:443", url.authority(url.parse("http://example.com:443/")))
      assert.equal("h:0", url.authority(url.parse("http://h:0/")))
    end)

    it("re-encodes a zone id, or drops it for a Host header", function()
      local t = url.parse("http://[fe80::1%25eth0]:8080/")
      assert.equal("[fe80::1%25eth0]:8080", url.authority(t))
      assert.equal("[fe80::1]:8080", url.authority(t, true))
    end)

    it("never includes userinfo", function()
      assert.equal("h", url.authority(url.parse("http://u:p@h/")))
    end)
  end)

  describe("build", function()
    it("round-trips parsed URLs", function()
      for _, s in ipairs {
        "http://example.com/a/b?x=1#f",
        "https://[::1]:8443/x",
        "http://[fe80::1%25eth0]:8080/",
        "http://u:p%40ss@h:81/p?",
        "mailto:someone@example.com",
      } do
        assert.equal(s, url.build(assert(url.parse(s))))
      end
    end)

    it("normalizes case, default ports and empty paths", function()
      assert.equal("https://h/", url.build(url.parse("HTTPS://H:443")))
    end)

    it("encodes user and password when there is no userinfo text", function()
      assert.equal("http://a%40b:c%3Ad@h/", url.build { scheme = "http", host = "h", user = "a@b", password = "c:d", path = "/" })
    end)
  end)
end)
