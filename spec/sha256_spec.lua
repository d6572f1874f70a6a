local sha256 = require "tls.sha256"

describe("tls.sha256", function()
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

  it("returns 32 raw bytes from digest and is idempotent", function()
    local h = sha256.new():update("abc")
    local d = h:digest()
    assert.equal(32, #d)
    assert.equal(d, h:digest())
    assert.equal(sha256.digest("abc"), d)
    assert.has_error(function() h:update("more") end)
  end)
end)
