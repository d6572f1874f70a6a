-- Starts a dnsmasq for the DNS benchmarks (bench/dns.lua and
-- bench/cqueues/dns.lua), in plain Lua so both can use it:
--
--   local dnsmasq = dofile("bench/dnsmasq.lua")
--   local server = dnsmasq.start()   -- { port = n, stop = function }
--
-- It listens on 127.0.0.1 (a random free port), answers every name under
-- bench.test with 127.0.0.1 (A; AAAA: no data), and nothing else
-- (NXDOMAIN). Logs go to a temporary directory, removed by stop().

local M = {}

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function readfile(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.start()
  local p = io.popen("mktemp -d /tmp/tls-bench-dns.XXXXXX")
  local dir = p:read("l")
  p:close()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  for _ = 1, 20 do
    local port = math.random(20000, 60000)
    local log = dir .. "/log"
    os.remove(log)
    local cmd = table.concat({
      "dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces",
      "--listen-address=127.0.0.1 --user=root --local=/#/",
      "--address=/bench.test/127.0.0.1",
      "--port=" .. port,
      "--pid-file=" .. dir .. "/pid",
      "--log-facility=" .. log,
    }, " ")
    sh(("(%s) >%s/out 2>&1 &"):format(cmd, dir))
    -- dnsmasq logs "started" once it listens; it exits if the port is taken.
    for _ = 1, 200 do
      local s = readfile(log) or ""
      if s:find("started", 1, true) then
        return {
          port = port,
          server = "127.0.0.1:" .. port,
          stop = function()
            local pid = tonumber(readfile(dir .. "/pid") or "")
            if pid then sh(("kill %d 2>/dev/null"):format(pid)) end
            sh(("rm -rf %q"):format(dir))
          end,
        }
      end
      if s:find("FAILED", 1, true) or s:find("failed", 1, true) then break end
      sh("sleep 0.02")
    end
    local pid = tonumber(readfile(dir .. "/pid") or "")
    if pid then sh(("kill %d 2>/dev/null"):format(pid)) end
  end
  sh(("rm -rf %q"):format(dir))
  error("could not start dnsmasq (is dnsmasq installed?)")
end

return M
