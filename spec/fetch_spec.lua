-- examples/fetch.lua end to end: the demo, and real fetches against a
-- server process of the spec's own (loopback only).
local helper = require "helper"

local ROOT = helper.root
local ENV = helper.env
local LUA = helper.interpreter

local function run(args)
  local limit = 120
  local cmd = ("cd %q && %s timeout %d %s examples/fetch.lua %s 2>&1; echo \"exit=$?\"")
    :format(ROOT, ENV, limit, LUA, args)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), out
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

describe("examples/fetch.lua", function()
  it("runs the self-contained demo to a verified summary", function()
    local code, out = run("")
    assert.equal(0, code, out)
    assert.truthy(out:match("all %d+ fetches verified"), out)
    assert.truthy(out:find("TLSv1.3", 1, true), out)
  end)

  describe("against a local server", function()
    local server, ports, certs, outdir

    setup(function()
      certs = ROOT .. "/spec/certs"
      assert(os.execute(("sh %q/scripts/gen-certs.sh %q >/dev/null"):format(ROOT, certs)))
      local portfile = os.tmpname()
      os.remove(portfile)
      server = helper.process(("cd %q && %s %s spec/fixtures/http_server.lua %q %q")
        :format(ROOT, ENV, LUA, portfile, certs))
      for _ = 1, 200 do
        local text = slurp(portfile)
        if text then
          local a, b, c = text:match("(%d+) (%d+) (%d+)")
          ports = { http = a, https = b, expired = c }
          break
        end
        os.execute("sleep 0.05")
      end
      os.remove(portfile)
      assert(ports, "the fixture server did not start: " .. server:output())
      outdir = os.tmpname()
      os.remove(outdir)
    end)

    teardown(function()
      if server then server:stop() end
      if outdir then os.execute(("rm -rf %q"):format(outdir)) end
    end)

    it("fetches http and https, writes header/n and body/n, reports each failure and goes on", function()
      local dead = helper.free_port()
      local urls = {
        "http://127.0.0.1:" .. ports.http .. "/hello",
        "https://localhost:" .. ports.https .. "/chunked",
        "http://127.0.0.1:" .. ports.http .. "/moved",
        "https://localhost:" .. ports.expired .. "/hello",
        "http://127.0.0.1:" .. dead .. "/nothing",
        "http://127.0.0.1:" .. ports.http .. "/missing",
      }
      local code, out = run(("-c 3 -t 10 --cafile %q -o %q %s"):format(
        certs .. "/ca.pem", outdir, table.concat(urls, " ")))
      assert.equal(1, code, out)
      local body = ("fetch spec body\n"):rep(1000)
      assert.equal(body, slurp(outdir .. "/body/1"))
      assert.equal(body, slurp(outdir .. "/body/2"))
      assert.equal(body, slurp(outdir .. "/body/3"))
      assert.truthy(slurp(outdir .. "/header/1"):find("200 OK", 1, true))
      assert.truthy(out:find("certificate", 1, true), out)
      assert.truthy(out:find("refused", 1, true), out)
      assert.truthy(out:find("404", 1, true), out)
    end)

    it("exits 0 when every fetch succeeds", function()
      local code, out = run(("-t 10 --cafile %q -o %q https://localhost:%s/hello"):format(
        certs .. "/ca.pem", outdir, ports.https))
      assert.equal(0, code, out)
    end)

    it("rejects the test CA without --cafile (Mozilla roots) unless --insecure", function()
      local code, out = run(("-t 10 -o %q https://localhost:%s/hello"):format(outdir, ports.https))
      assert.equal(1, code, out)
      assert.truthy(out:find("certificate", 1, true), out)
      code, out = run(("--insecure -t 10 -o %q https://localhost:%s/hello"):format(outdir, ports.https))
      assert.equal(0, code, out)
      assert.truthy(out:lower():find("insecure", 1, true), out)
    end)

    it("exits 2 on a usage error", function()
      local code = run("--concurrency")
      assert.equal(2, code)
    end)
  end)
end)
