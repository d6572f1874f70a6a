-- The documentation's code runs. Every ```lua block in README.md and docs/
-- is run as a program of its own (from the repository root, with a time
-- bound) and must exit 0; when a block has `-->` comments, what it prints,
-- line by line with whitespace squeezed, must be exactly those texts in
-- order (in an expected text, PORT matches any port number). A block after
-- `<!-- example: examples/NAME.lua -->` must instead be that file, byte for
-- byte. Blocks that require tls.dns are pending where the module is not
-- built in; a block after `<!-- Lua 5.4 only -->` uses Lua 5.4 syntax
-- (`<close>`) and is pending on the other interpreters; one after
-- `<!-- not Lua 5.1: WHY -->` does what Lua 5.1 cannot (a task waiting
-- inside a for iterator or a pcall) and is pending on Lua 5.1, saying why.
local helper = require "helper"

local ROOT = helper.root
local ENV = helper.env
local LUA = helper.interpreter
local DOCS = { "README.md", "docs/getting-started.md", "docs/reference.md", "docs/comparison.md" }

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- The fenced blocks of a Markdown text: { lang, code, line, example }.
local function blocks(text)
  local out, current, last_nonblank = {}, nil, nil
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if current then
      if line:match("^```%s*$") then
        current.code = table.concat(current.lines, "\n") .. "\n"
        out[#out + 1] = current
        current = nil
      else
        current.lines[#current.lines + 1] = line
      end
    else
      local lang = line:match("^```(%w*)%s*$")
      if lang then
        local example = last_nonblank and last_nonblank:match("^<!%-%- example: (%S+) %-%->$")
        local only54 = last_nonblank == "<!-- Lua 5.4 only -->"
        local not51 = last_nonblank and last_nonblank:match("^<!%-%- not Lua 5%.1: (.-) %-%->$")
        current = { lang = lang, lines = {}, line = n, example = example, only54 = only54, not51 = not51 }
      elseif line:match("%S") then
        last_nonblank = line
      end
    end
  end
  assert(not current, "unclosed code block at line " .. (current and current.line or 0))
  return out
end

local function squeeze(s)
  return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

--- The texts of the `-->` comments, in order.
local function expected_output(code)
  local out = {}
  for line in code:gmatch("[^\n]+") do
    local text = line:match("%-%->%s?(.*)$")
    if text then out[#out + 1] = squeeze(text) end
  end
  return out
end

--- `lines` with each line that matches its expected text, where the word
-- PORT stands for any port number, replaced by that expected text (so that
-- assert.same shows real differences only).
local function matched(want, lines)
  local out = {}
  for i, line in ipairs(lines) do
    local w = want[i]
    if w and w:find("PORT", 1, true) then
      local pattern = "^" .. w:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("PORT", "%%d+") .. "$"
      if line:match(pattern) then line = w end
    end
    out[i] = line
  end
  return out
end

--- Runs `code` with this interpreter from the repository root: exit code, stdout
-- lines (squeezed), stdout and stderr as text.
local function run(code)
  local file, errfile = os.tmpname(), os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  local cmd = ("cd %q && %s timeout -k 2 30 %s %s 2>%s; echo \"exit=$?\"")
    :format(ROOT, ENV, LUA, file, errfile)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  local err = slurp(errfile) or ""
  os.remove(file)
  os.remove(errfile)
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  out = out:gsub("exit=%d+%s*$", "")
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = squeeze(line) end
  return status, lines, out, err
end

local has_dns = helper.lua('require "tls.dns"', 10)

describe("documentation", function()
  setup(function()
    -- Examples that use spec/certs/ need the test certificates.
    assert(os.execute(("sh %q/scripts/gen-certs.sh %q/spec/certs >/dev/null"):format(ROOT, ROOT)))
  end)

  for _, doc in ipairs(DOCS) do
    local text = slurp(ROOT .. "/" .. doc)
    describe(doc, function()
      if not text then
        it("exists", function() error(doc .. " is missing") end)
        return
      end
      for _, b in ipairs(blocks(text)) do
        local name = ("%s:%d"):format(doc, b.line)
        if b.example then
          it(name .. " is " .. b.example, function()
            local file = slurp(ROOT .. "/" .. b.example)
            assert(file, b.example .. " is missing")
            assert.equal(file, b.code)
          end)
        elseif b.lang == "lua" then
          if b.code:find('require "tls.dns"', 1, true) and not has_dns then
            pending(name .. " (needs tls.dns)")
          elseif b.only54 and helper.version ~= "lua54" then
            pending(name .. " (Lua 5.4 syntax, after <!-- Lua 5.4 only -->)")
          elseif b.not51 and helper.version == "lua51" then
            pending(name .. " (not on Lua 5.1: " .. b.not51 .. ")")
          else
            it(name .. " runs", function()
              local status, lines, out, err = run(b.code)
              assert.equal(0, status, ("block at %s failed:\n%s\nstdout:\n%s\nstderr:\n%s")
                :format(name, b.code, out, err))
              local want = expected_output(b.code)
              if #want > 0 then
                assert.same(want, matched(want, lines), ("output of the block at %s"):format(name))
              end
            end)
          end
        end
      end
    end)
  end
end)
