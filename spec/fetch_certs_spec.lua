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
    -- An empty environment; Lua 5.1's load takes no string (loadstring
    -- and setfenv there).
    local code, env = block .. "\nreturn DEMO_PEM", {}
    local f = setfenv and setfenv(assert(loadstring(code, "=demo-certs")), env)
      or assert(load(code, "=demo-certs", "t", env))
    local pem = f()
    assert.equal(slurp("examples/certs/ca.pem"), pem.ca)
    assert.equal(slurp("examples/certs/localhost.pem"), pem.cert)
    assert.equal(slurp("examples/certs/localhost.key"), pem.key)
  end)

  it("never embeds the CA's private key", function()
    assert.is_nil(block:find(slurp("examples/certs/ca.key"), 1, true))
  end)
end)
