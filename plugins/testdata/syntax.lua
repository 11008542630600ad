settings {
  http = "x",
  logs = = 1,
}
