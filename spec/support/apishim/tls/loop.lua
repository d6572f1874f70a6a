-- TEST-ONLY: see tls/_core.lua.
local core = require "tls._core"
local cqueues = require "cqueues"

local loop = {}
loop.spawn = core.spawn
loop.sleep = core.sleep
loop.now = core.now

function loop.run()
  local ok, err = core.cq:loop()
  if not ok then
    error(err, 0)
  end
  return true
end

function loop.step(timeout)
  local ok, err = core.cq:step(timeout or 0)
  if not ok then
    error(err, 0)
  end
  return core.cq:count()
end

function loop.timeout()
  return core.cq:timeout()
end

function loop.fd()
  return core.cq:pollfd()
end

return loop
