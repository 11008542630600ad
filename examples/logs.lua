-- A component writing 200 lines a second. Its log rotates every 1 MB and
-- daily, rotated files are gzipped and kept 7 days, as one JSON object per
-- line for log shippers. stderr goes to the same file, lines kept whole.
settings {
  http = "127.0.0.1:3014",
  logs = { dir = "logs", max_size = "1MB", rotate = "daily", retain_days = 7, compress = true },
}

component "chatty" {
  command = { thorp.self, "simulate", "chatty", "--lines", "0", "--rate", "200", "--stderr" },
  merge_logs = true,
  logs = { format = "json" },
}
