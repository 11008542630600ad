component "api" {
  command = "x",
