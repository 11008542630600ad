// An ecosystem file that never finishes.
let apps = [];
while (apps.length >= 0) {
  apps = apps.concat([]);
}
module.exports = { apps };
