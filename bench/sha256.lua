-- tls.sha256 throughput: MiB/s hashing 256 MiB, streamed in pieces of
-- 64 KiB (as examples/fetch.lua hashes a body) and one-shot on a 16 MiB
-- string; best of three. Any Lua version:
--   LUA_CPATH='target/lua/?.so;;' lua5.4 bench/sha256.lua
local sha256 = require "tls.sha256"
local loop = require "tls.loop"

local piece = string.rep("0123456789abcdef", 4096) -- 64 KiB
local big = string.rep(piece, 256) -- 16 MiB
local TOTAL = 256 * 1024 * 1024

local function best(f)
  local b
  for _ = 1, 3 do
    local t0 = loop.now()
    f()
    local dt = loop.now() - t0
    b = (not b or dt < b) and dt or b
  end
  return TOTAL / (1024 * 1024) / b
end

local streamed = best(function()
  local h = sha256.new()
  for _ = 1, TOTAL / #piece do
    h:update(piece)
  end
  h:digest()
end)
local oneshot = best(function()
  for _ = 1, TOTAL / #big do
    sha256.digest(big)
  end
end)
print(("%s, arithmetic %s: streamed 64 KiB pieces %.0f MiB/s, one-shot 16 MiB %.0f MiB/s")
  :format(rawget(_G, "jit") and "LuaJIT" or _VERSION, sha256.arithmetic, streamed, oneshot))
