-- tls.sha256: SHA-256 (FIPS 180-4) in plain Lua, for Lua 5.1 to 5.4 and LuaJIT.
--
--   local sha256 = require "tls.sha256"
--   sha256.hex("abc")                  --> "ba7816bf..."
--   local h = sha256.new()
--   h:update(chunk1); h:update(chunk2)
--   h:hexdigest()  -- or h:digest() for the 32 raw bytes
--
-- Meant for checking downloads, not for anything secret: it is not
-- constant-time. After digest()/hexdigest() the object cannot be updated.
--
-- The 32-bit arithmetic comes from what the interpreter has: 64-bit
-- integers and bitwise operators on Lua 5.3 and 5.4, the `bit` library on
-- LuaJIT, `bit32` on Lua 5.2, and on Lua 5.1 byte-wise lookup tables.

local rep, format, byte, char, floor = string.rep, string.format, string.byte, string.char, math.floor
local concat = table.concat
-- Generated code is compiled with the interpreter's own loader; it reaches
-- nothing global (everything comes in as arguments).
local compile = rawget(_G, "loadstring") or load

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local M = 0xffffffff

-- The compression function is generated once, fully unrolled, so that the
-- message schedule lives in locals (w1..w64), the round constants are
-- literals and the working variables never move: nearly twice as fast as
-- the table-and-loop form (about 8.5 MB/s with Lua 5.4 on a 2020s x86 core).
--
-- Words live in 64-bit integers "doubled": the 32-bit value in both halves
-- (x * 0x100000001). Then a right rotation by n < 32 is a plain x >> n (its
-- low 32 bits are the rotated word), and bitwise and/xor/not keep the form.
-- Sums carry into the high half and break it, so every sum that is shifted
-- later is masked and doubled again; the low 32 bits of a sum are always
-- right, whatever sits above them.
local function generate_native()
  local src = {}
  local function emit(line)
    src[#src + 1] = line
  end
  local D = "0x100000001"
  emit("local unpack, M = ...")
  emit("return function(H, s, i, j)")
  emit("  local h0, h1, h2, h3, h4, h5, h6, h7 = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]")
  emit("  for pos = i, j, 64 do")
  local names = {}
  for t = 1, 16 do
    names[t] = "w" .. t
  end
  emit("    local " .. table.concat(names, ", ") .. " = unpack('>" .. ("I4"):rep(16) .. "', s, pos)")
  for t = 1, 16 do
    emit(("    w%d = w%d * %s"):format(t, t, D))
  end
  for t = 17, 64 do
    local x, y = "w" .. (t - 15), "w" .. (t - 2)
    emit(("    local w%d = ((w%d + ((%s >> 7) ~ (%s >> 18) ~ ((%s & M) >> 3)) + w%d"
      .. " + ((%s >> 17) ~ (%s >> 19) ~ ((%s & M) >> 10))) & M) * %s"):format(
      t, t - 16, x, x, x, t - 7, y, y, y, D))
  end
  emit(("    local a, b, c, d = h0 * %s, h1 * %s, h2 * %s, h3 * %s"):format(D, D, D, D))
  emit(("    local e, f, g, h = h4 * %s, h5 * %s, h6 * %s, h7 * %s"):format(D, D, D, D))
  emit("    local t1, t2")
  -- Instead of shifting eight variables each round, the roles rotate over
  -- the names: the new "a" goes into the variable that held "h", the new
  -- "e" into the one that held "d". After 64 rounds the roles are back.
  local r = { "a", "b", "c", "d", "e", "f", "g", "h" }
  for t = 1, 64 do
    local a, b, c, d, e, f, g, h = r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
    emit(("    t1 = %s + ((%s >> 6) ~ (%s >> 11) ~ (%s >> 25)) + ((%s & %s) ~ (~%s & %s)) + %d + w%d"):format(
      h, e, e, e, e, f, e, g, K[t], t))
    emit(("    t2 = ((%s >> 2) ~ (%s >> 13) ~ (%s >> 22)) + ((%s & %s) ~ (%s & %s) ~ (%s & %s))"):format(
      a, a, a, a, b, a, c, b, c))
    emit(("    %s = ((%s + t1) & M) * %s"):format(d, d, D))
    emit(("    %s = ((t1 + t2) & M) * %s"):format(h, D))
    r = { h, a, b, c, d, e, f, g }
  end
  emit("    h0, h1, h2, h3 = (h0 + a) & M, (h1 + b) & M, (h2 + c) & M, (h3 + d) & M")
  emit("    h4, h5, h6, h7 = (h4 + e) & M, (h5 + f) & M, (h6 + g) & M, (h7 + h) & M")
  emit("  end")
  emit("  H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] = h0, h1, h2, h3, h4, h5, h6, h7")
  emit("end")
  return assert(compile(concat(src, "\n"), "=sha256-blocks"))(string.unpack, M)
end

-- Lua 5.1 and 5.2: words are numbers in [0, 2^32) (doubles, exact), sums
-- are reduced with % 2^32, and the bitwise functions come in as arguments:
-- bxor of three words, band of two, rotate and shift right (bit32 has
-- them; the Lua 5.1 tables below provide the same). Calls are what costs
-- there, so Ch and Maj take two each, using sums of disjoint bits for or:
-- Ch = (e & f) + (~e & g), Maj = (a & b) + (c & (a ^ b)), with
-- a ^ b = a + b - 2 (a & b). Also fully unrolled, with the same rotating
-- roles as above.
local function generate_portable()
  local src = {}
  local function emit(line)
    src[#src + 1] = line
  end
  emit("local byte, bxor, band, ror, shr = ...")
  emit("local M = 4294967296")
  emit("return function(H, s, i, j)")
  emit("  local h0, h1, h2, h3, h4, h5, h6, h7 = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]")
  emit("  local b1, b2, b3, b4")
  emit("  for pos = i, j, 64 do")
  for t = 1, 16 do
    emit(("    b1, b2, b3, b4 = byte(s, pos + %d, pos + %d)"):format(4 * t - 4, 4 * t - 1))
    emit(("    local w%d = b1 * 16777216 + b2 * 65536 + b3 * 256 + b4"):format(t))
  end
  for t = 17, 64 do
    local x, y = "w" .. (t - 15), "w" .. (t - 2)
    emit(("    local w%d = (w%d + bxor(ror(%s, 7), ror(%s, 18), shr(%s, 3)) + w%d"
      .. " + bxor(ror(%s, 17), ror(%s, 19), shr(%s, 10))) %% M"):format(
      t, t - 16, x, x, x, t - 7, y, y, y))
  end
  emit("    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7")
  emit("    local t1, t2, ab")
  local r = { "a", "b", "c", "d", "e", "f", "g", "h" }
  for t = 1, 64 do
    local a, b, c, d, e, f, g, h = r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
    emit(("    t1 = %s + bxor(ror(%s, 6), ror(%s, 11), ror(%s, 25)) + band(%s, %s) + band(4294967295 - %s, %s) + %d + w%d"):format(
      h, e, e, e, e, f, e, g, K[t], t))
    emit(("    ab = band(%s, %s)"):format(a, b))
    emit(("    t2 = bxor(ror(%s, 2), ror(%s, 13), ror(%s, 22)) + ab + band(%s, %s + %s - 2 * ab)"):format(
      a, a, a, c, a, b))
    emit(("    %s = (%s + t1) %% M"):format(d, d))
    emit(("    %s = (t1 + t2) %% M"):format(h))
    r = { h, a, b, c, d, e, f, g }
  end
  emit("    h0, h1, h2, h3 = (h0 + a) % M, (h1 + b) % M, (h2 + c) % M, (h3 + d) % M")
  emit("    h4, h5, h6, h7 = (h4 + e) % M, (h5 + f) % M, (h6 + g) % M, (h7 + h) % M")
  emit("  end")
  emit("  H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] = h0, h1, h2, h3, h4, h5, h6, h7")
  emit("end")
  return assert(compile(concat(src, "\n"), "=sha256-blocks"))
end

-- Lua 5.1: xor and and a byte at a time through 256 x 256 tables (built
-- once, 64 K entries each); rotations and shifts are exact double
-- arithmetic. Arguments are words in [0, 2^32).
local function lua51_bits()
  local XOR, AND = {}, {}
  for x = 0, 255 do
    for y = 0, 255 do
      local rx, ry, b, vx, va = x, y, 1, 0, 0
      for _ = 1, 8 do
        local px, py = rx % 2, ry % 2
        if px ~= py then vx = vx + b end
        if px == 1 and py == 1 then va = va + b end
        rx, ry, b = (rx - px) / 2, (ry - py) / 2, b * 2
      end
      XOR[x * 256 + y] = vx
      AND[x * 256 + y] = va
    end
  end
  local function bxor(x, y, z)
    local x1, y1, z1 = x % 256, y % 256, z % 256
    x, y, z = (x - x1) / 256, (y - y1) / 256, (z - z1) / 256
    local x2, y2, z2 = x % 256, y % 256, z % 256
    x, y, z = (x - x2) / 256, (y - y2) / 256, (z - z2) / 256
    local x3, y3, z3 = x % 256, y % 256, z % 256
    x, y, z = (x - x3) / 256, (y - y3) / 256, (z - z3) / 256
    return XOR[XOR[x1 * 256 + y1] * 256 + z1] + XOR[XOR[x2 * 256 + y2] * 256 + z2] * 256
      + XOR[XOR[x3 * 256 + y3] * 256 + z3] * 65536 + XOR[XOR[x * 256 + y] * 256 + z] * 16777216
  end
  local function band(x, y)
    local x1, y1 = x % 256, y % 256
    x, y = (x - x1) / 256, (y - y1) / 256
    local x2, y2 = x % 256, y % 256
    x, y = (x - x2) / 256, (y - y2) / 256
    local x3, y3 = x % 256, y % 256
    x, y = (x - x3) / 256, (y - y3) / 256
    return AND[x1 * 256 + y1] + AND[x2 * 256 + y2] * 256 + AND[x3 * 256 + y3] * 65536 + AND[x * 256 + y] * 16777216
  end
  local P = {}
  for n = 0, 32 do P[n] = 2 ^ n end
  local function ror(x, n)
    local low = x % P[n]
    return (x - low) / P[n] + low * P[32 - n]
  end
  local function shr(x, n)
    return floor(x / P[n])
  end
  return bxor, band, ror, shr
end

-- LuaJIT: its trace compiler wants loops, not a 2000-line function, so
-- here the schedule is a table and the rounds a loop. `bit` works on
-- signed 32-bit values; tobit() reduces a sum to one.
local function luajit_blocks(bit)
  local bxor, band, bor, ror, rshift, lshift, tobit =
    bit.bxor, bit.band, bit.bor, bit.ror, bit.rshift, bit.lshift, bit.tobit
  local W = {}
  return function(H, s, i, j)
    local h0, h1, h2, h3, h4, h5, h6, h7 = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for pos = i, j, 64 do
      for t = 1, 16 do
        local b1, b2, b3, b4 = byte(s, pos + 4 * t - 4, pos + 4 * t - 1)
        W[t] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
      end
      for t = 17, 64 do
        local x, y = W[t - 15], W[t - 2]
        W[t] = tobit(W[t - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + W[t - 7]
          + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
      end
      local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
      for t = 1, 64 do
        local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g))) + K[t] + W[t]
        local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bor(band(a, b), band(c, bor(a, b)))
        h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
      end
      h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
      h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
    end
    H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] = h0, h1, h2, h3, h4, h5, h6, h7
  end
end

-- Which arithmetic this interpreter gets (sha256.arithmetic).
local arithmetic, blocks
if compile("return 1 >> 1") then
  arithmetic, blocks = "integer", generate_native()
elseif rawget(_G, "jit") then
  arithmetic, blocks = "bit", luajit_blocks(require("bit"))
elseif rawget(_G, "bit32") then
  local bit32 = rawget(_G, "bit32")
  arithmetic = "bit32"
  blocks = generate_portable()(byte, bit32.bxor, bit32.band, bit32.rrotate, bit32.rshift)
else
  arithmetic, blocks = "tables", generate_portable()(byte, lua51_bits())
end


-- blocks(H, s, i, j), chosen above, compresses the 64-byte blocks of s
-- from byte i to byte j (inclusive, j - i + 1 a multiple of 64) into the
-- state H.

local Hash = {}
Hash.__index = Hash

local sha256 = {}

-- How 32-bit words are computed here: "integer" (Lua 5.3+), "bit"
-- (LuaJIT), "bit32" (Lua 5.2) or "tables" (Lua 5.1, the slowest).
sha256.arithmetic = arithmetic

function sha256.new()
  return setmetatable({
    H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 },
    pending = "", -- fewer than 64 bytes not yet compressed
    length = 0,   -- bytes hashed so far
  }, Hash)
end

function Hash:update(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'hash:update' (string expected, got " .. type(s) .. ")", 2)
  end
  if not self.H then
    error("attempt to update a sha256 hash after digest", 2)
  end
  local n = #s
  if n == 0 then
    return self
  end
  self.length = self.length + n
  local i = 1
  local p = self.pending
  if #p > 0 then
    local need = 64 - #p
    if n < need then
      self.pending = p .. s
      return self
    end
    blocks(self.H, p .. s:sub(1, need), 1, 64)
    i = need + 1
  end
  local full = n - i + 1 - (n - i + 1) % 64
  if full > 0 then
    blocks(self.H, s, i, i + full - 64)
    i = i + full
  end
  self.pending = s:sub(i)
  return self
end

-- The n-byte big-endian form of a whole number v >= 0 (below 2^53).
local function bytes(v, n)
  local out = {}
  for k = n, 1, -1 do
    local b = v % 256
    out[k] = char(b)
    v = (v - b) / 256
  end
  return concat(out)
end

function Hash:digest()
  local H = self.H
  if not H then
    return self.result
  end
  local p = self.pending
  local zeros = (55 - #p) % 64
  local tail = p .. "\128" .. rep("\0", zeros) .. bytes(self.length * 8, 8)
  blocks(H, tail, 1, #tail - 63)
  local out = {}
  for k = 1, 8 do out[k] = bytes(H[k] % 4294967296, 4) end -- LuaJIT's are signed
  self.result = concat(out)
  self.H, self.pending = nil, nil
  return self.result
end

local function tohex(s)
  return (s:gsub(".", function(c) return format("%02x", byte(c)) end))
end

function Hash:hexdigest()
  return tohex(self:digest())
end

-- One-shot helpers.
function sha256.digest(s)
  return sha256.new():update(s):digest()
end

function sha256.hex(s)
  return tohex(sha256.digest(s))
end

return sha256
