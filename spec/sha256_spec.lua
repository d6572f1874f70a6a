local sha256 = require "tls.sha256"

-- The error f(...) raises: a string (never mlua's userdata), whole.
local function raised(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  assert.equal("string", type(err))
  return err
end

-- The line of the caller, as a raised message starts: "spec/sha256_spec.lua:N: ".
local function here()
  local info = debug.getinfo(2, "Sl")
  return info.short_src .. ":" .. info.currentline .. ": "
end

describe("tls.sha256", function()
  it("is the table require 'tls' has as .sha256, hashed natively on every Lua", function()
    assert.equal(sha256, require("tls").sha256)
    assert.equal("native", sha256.arithmetic)
  end)

  it("matches the FIPS 180-4 / NIST example vectors", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", sha256.hex(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sha256.hex("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      sha256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
    assert.equal("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
      sha256.hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))
    assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
      sha256.hex(string.rep("a", 1000000)))
  end)

  it("hashes the million-'a' vector streamed in pieces of every awkward size", function()
    local want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    for _, step in ipairs { 1000, 4096, 65536, 99999, 1000000 } do
      local h, left = sha256.new(), 1000000
      while left > 0 do
        local n = math.min(step, left)
        h:update(string.rep("a", n))
        left = left - n
      end
      assert.equal(want, h:hexdigest(), "pieces of " .. step)
    end
  end)

  it("handles every length around the padding boundaries", function()
    -- digests of "aaa...a" of lengths 55, 56, 63, 64, 65 (from sha256sum)
    local want = {
      [55] = "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
      [56] = "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
      [63] = "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
      [64] = "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
      [65] = "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
    }
    for n, hex in pairs(want) do
      assert.equal(hex, sha256.hex(string.rep("a", n)), "length " .. n)
      local h = sha256.new()
      h:update(string.rep("a", n - 1)):update("a")
      assert.equal(hex, h:hexdigest(), "length " .. n .. " in two pieces")
    end
  end)

  it("gives the same digest whatever the update pieces", function()
    local data = {}
    for i = 0, 999 do
      data[#data + 1] = string.char(i % 256)
    end
    data = table.concat(data)
    local whole = sha256.hex(data)
    for _, step in ipairs { 1, 3, 63, 64, 65, 127, 500 } do
      local h = sha256.new()
      for i = 1, #data, step do
        h:update(data:sub(i, i + step - 1))
      end
      h:update("")
      assert.equal(whole, h:hexdigest(), "step " .. step)
    end
  end)

  it("agrees with sha256sum on binary data (zero bytes included)", function()
    local parts, x = {}, 12345
    for i = 1, 70000 do
      x = (x * 1103515245 + 12345) % 2147483648
      parts[i] = string.char(i % 7 == 0 and 0 or math.floor(x / 65536) % 256)
    end
    local data = table.concat(parts)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
    local p = assert(io.popen("sha256sum " .. path))
    local want = p:read("*a"):match("^(%x+)")
    p:close()
    os.remove(path)
    assert.equal(64, #want)
    assert.equal(want, sha256.hex(data))
    assert.equal(want, sha256.new():update(data:sub(1, 33333)):update(data:sub(33334)):hexdigest())
  end)

  it("returns 32 raw bytes from digest, and the same result on every later call", function()
    local h = sha256.new():update("abc")
    local d = h:digest()
    assert.equal(32, #d)
    assert.equal(d, h:digest())
    assert.equal(sha256.digest("abc"), d)
    assert.equal(sha256.hex("abc"), h:hexdigest())
    local hex = d:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    assert.equal(hex, h:hexdigest())
    -- hexdigest first finishes the hash the same way.
    local h2 = sha256.new():update("abc")
    assert.equal(sha256.hex("abc"), h2:hexdigest())
    assert.equal(d, h2:digest())
  end)

  it("raises when a hash is updated after its digest, and keeps the digest", function()
    local h = sha256.new():update("abc")
    local d = h:digest()
    -- pcall calls update directly: no Lua caller position then.
    assert.equal("attempt to update a sha256 hash after digest", raised(h.update, h, "more"))
    local where = here(); local err = raised(function() h:update("more") end)
    assert.equal(where .. "attempt to update a sha256 hash after digest", err)
    assert.equal(d, h:digest())
  end)

  it("raises Lua-style messages on bad arguments", function()
    local h = sha256.new()
    assert.equal("bad argument #1 to 'hash:update' (string expected, got no value)", raised(h.update, h))
    assert.equal("bad argument #1 to 'hash:update' (string expected, got number)", raised(h.update, h, 42))
    assert.equal("bad argument #1 to 'hash:update' (string expected, got table)", raised(h.update, h, {}))
    assert.equal("calling 'hash:update' on bad self (hash expected, got string)", raised(h.update, "abc"))
    assert.equal("calling 'hash:digest' on bad self (hash expected, got no value)", raised(h.digest))
    assert.equal("calling 'hash:hexdigest' on bad self (hash expected, got table)", raised(h.hexdigest, {}))
    assert.equal("bad argument #1 to 'sha256.hex' (string expected, got no value)", raised(sha256.hex))
    assert.equal("bad argument #1 to 'sha256.hex' (string expected, got number)", raised(sha256.hex, 1))
    assert.equal("bad argument #1 to 'sha256.digest' (string expected, got boolean)", raised(sha256.digest, true))
    -- From Lua code, the message starts with the caller's position.
    local where = here(); local err = raised(function() h:update(nil) end)
    assert.equal(where .. "bad argument #1 to 'hash:update' (string expected, got nil)", err)
    -- A failed call leaves the hash as it was.
    assert.equal(sha256.hex(""), h:hexdigest())
  end)

  it("names its objects", function()
    local h = sha256.new()
    assert.equal("tls.sha256 hash", tostring(h))
    h:digest()
    assert.equal("tls.sha256 hash (digested)", tostring(h))
  end)
end)
