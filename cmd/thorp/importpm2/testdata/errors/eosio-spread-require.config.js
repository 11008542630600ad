// Shape from github.com/pinknetworkx/eosio-contract-api,
// config/pm2/pm2-dev-process.config.js: spreads a config it requires from a
// file next to it, which thorp's sandbox does not read.
module.exports = {
    apps: [
        {
            // we load the common config
            ...require('./pm2.config'),
            // we set environment variables
            env: {
                "PORT": 3000,
                "NODE_ENV": "development"
            }
        }
    ]
};
