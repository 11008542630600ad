// Shape from github.com/Adophilus/express-server, ecosystem.config.cjs: an app
// without a name, and a shell script under exec_interpreter.
module.exports = {
  apps: [
    {
      script: './build/main.js',
      node_args: "--experimental-specifier-resolution=node"
    },
    {
      name: "start apps",
      cwd: "./",
      script: "./bin/start-apps.sh",
      exec_interpreter: "bash"
    }
  ]
}
