#!/bin/sh
# install.sh DIR: installs the supervisors `make compare` measures thorp
# against into DIR, and nothing outside it:
#   DIR/pm2         PM2 and pm2-logrotate from npm (pinned below)
#   DIR/supervisor  Debian's supervisor package, unpacked with dpkg -x (not
#                   installed: no service is registered or started); run as
#                   python3 -m supervisor.supervisord with
#                   PYTHONPATH=DIR/supervisor/usr/lib/python3/dist-packages
# The package's own dependencies (python3, python3-pkg-resources) are taken
# from apt when missing and running as root; otherwise it says what to
# install.
set -eu

PM2_VERSION=7.0.4
PM2_LOGROTATE_VERSION=3.0.0
SUPERVISOR_VERSION=4.2.5-1

dir=${1:?usage: install.sh DIR}
mkdir -p "$dir/pm2" "$dir/supervisor"

echo "compare: npm install pm2@$PM2_VERSION pm2-logrotate@$PM2_LOGROTATE_VERSION into $dir/pm2"
npm install --prefix "$dir/pm2" --no-audit --no-fund --no-save --loglevel=error \
	"pm2@$PM2_VERSION" "pm2-logrotate@$PM2_LOGROTATE_VERSION" >/dev/null

if ! /usr/bin/python3 -c 'import pkg_resources' 2>/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pkg-resources >/dev/null
	else
		echo "compare: supervisord needs Debian's python3 and python3-pkg-resources (run as root to install them)" >&2
		exit 1
	fi
fi

echo "compare: apt-get download supervisor=$SUPERVISOR_VERSION, unpacked into $dir/supervisor"
(
	cd "$dir"
	# apt's download sandbox user cannot write into a private temp dir.
	apt-get download -o APT::Sandbox::User=root "supervisor=$SUPERVISOR_VERSION" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get download -o APT::Sandbox::User=root "supervisor=$SUPERVISOR_VERSION" >/dev/null; }
	dpkg -x supervisor_*.deb supervisor
	rm -f supervisor_*.deb
)
PYTHONPATH="$dir/supervisor/usr/lib/python3/dist-packages" /usr/bin/python3 -m supervisor.supervisord --version >/dev/null
