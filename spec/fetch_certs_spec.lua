-- examples/fetch.lua carries a copy of the demo certificates for when it
-- runs without examples/certs; examples/certs/make.sh writes both. This
-- checks that they have not drifted apart.

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("examples/fetch.lua demo certificates", function()
  local src = slurp("examples/fetch.lua")
  local block = src:match("\n(%-%- BEGIN DEMO CERTS.-\n%-%- END DEMO CERTS)\n")

  it("has the embedded block", function()
    assert.is_string(block)
  end)

  it("embeds exactly the files in examples/certs", function()
    local pem = assert(load(block .. "\nreturn DEMO_PEM", "=demo-certs", "t", {}))()
    assert.equal(slurp("examples/certs/ca.pem"), pem.ca)
    assert.equal(slurp("examples/certs/localhost.pem"), pem.cert)
    assert.equal(slurp("examples/certs/localhost.key"), pem.key)
  end)

  it("never embeds the CA's private key", function()
    assert.is_nil(block:find(slurp("examples/certs/ca.key"), 1, true))
  end)
end)
