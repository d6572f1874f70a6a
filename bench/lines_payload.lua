-- The payload of the lines benchmark, shared by bench/lines.lua and
-- bench/cqueues/lines.lua so both read exactly the same bytes:
--   local line_text, slices, total = dofile(".../lines_payload.lua")(LINES)
-- Built once, in slices of 4096 lines, so the writer does not dominate.
return function(lines)
  local function line_text(i)
    return string.format("line %06d\n", i % 1000000)
  end
  local slices, total, buf = {}, 0, {}
  for i = 1, lines do
    local s = line_text(i)
    buf[#buf + 1] = s
    total = total + #s
    if #buf == 4096 then
      slices[#slices + 1] = table.concat(buf)
      buf = {}
    end
  end
  if #buf > 0 then
    slices[#slices + 1] = table.concat(buf)
  end
  return line_text, slices, total
end
