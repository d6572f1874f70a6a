-- What the three Lua TLS clients of bench/tls.sh share: the two requests,
-- failing loudly, and the process's resident memory.
--   local common = dofile(BENCH_DIR .. "/tls_common.lua")("tls_ours")
return function(name)
  local common = {
    REQ_BIG = "GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    REQ_HELLO = "GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
  }

  function common.die(...)
    io.stderr:write(name, ": ", table.concat({ ... }), "\n")
    os.exit(1)
  end

  -- VmRSS in KiB, from /proc/self/status.
  function common.rss_kib()
    local f = assert(io.open("/proc/self/status"))
    local s = f:read("a")
    f:close()
    return tonumber(s:match("VmRSS:%s*(%d+)")) or common.die("no VmRSS in /proc/self/status")
  end

  return common
end
