-- wrk script: cycles through pre-signed Plivo answer requests.
-- The file named by BENCH_REQUESTS holds one request a line:
--   nonce <TAB> signature <TAB> form body
-- Each body has its own CallUUID and a signature binds the body, so every
-- line is signed on its own. Thread n of N sends lines n, n+N, n+2N, …, so no
-- two threads send the same body. The path comes as the script argument.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local nthreads = tonumber(args[2])
  prepared = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if n % nthreads == id then
      local nonce, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      prepared[#prepared + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Plivo-Signature-V3"] = signature,
        ["X-Plivo-Signature-V3-Nonce"] = nonce,
        -- as a TLS-terminating proxy sends it: PUBLIC_BASE_URL is https
        ["X-Forwarded-Proto"] = "https",
      }, body)
    end
    n = n + 1
  end
  sent = 0
end

function request()
  sent = sent + 1
  return prepared[(sent - 1) % #prepared + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
